"""What the two backends of the executor (:mod:`wnrl.harness.run.pool`) start: the local pool's
worker processes (a fork server that imported torch and SB3 once, each worker's environment,
thread limit, GPU and stop handling) and the connection to Ray."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from wnrl.harness.run.task import install_stop_handler

__all__ = ["WORKER_PRELOAD", "connect_ray", "init_worker", "terminate_pool", "worker_args", "worker_context"]

#: What every worker imports before its first run (torch, SB3, wnrl's training code): imported
#: once, in the fork server, so that each worker starts in milliseconds instead of the ~2 s of a
#: fresh interpreter importing torch.
WORKER_PRELOAD = ["torch", "stable_baselines3", "wnrl.train", "wnrl.harness.run.task"]


def worker_context(cuda: bool = False) -> Any:
    """The multiprocessing context of the local workers.

    ``forkserver`` where the platform has it (Linux, macOS): a clean server process (it runs no
    torch op and starts no thread) imports :data:`WORKER_PRELOAD` once and forks every worker from
    that state. Elsewhere, and for runs on CUDA, ``spawn`` (each worker imports everything itself):
    CUDA does not survive a fork once initialised, and each GPU worker must read its own
    ``CUDA_VISIBLE_DEVICES`` before CUDA starts, which a fresh interpreter guarantees whatever an
    import may do. Either way the worker gets the sweep process's current environment and
    ``sys.path`` (:func:`init_worker`), as a spawned process would.

    :param cuda: the workers will use CUDA
    """
    if cuda or "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(WORKER_PRELOAD)  # takes effect when the server first starts
    _start_forkserver()
    return ctx


def _start_forkserver() -> None:
    """Start the fork server (once per process) importing from this process's ``sys.path``.

    The server is a ``python -c`` child: left alone it would put the current directory first on
    its path (a checkout of wnrl there would shadow the installed one the sweep runs, and every
    worker would inherit it) and, before Python 3.12.8 / 3.13.1, ignore the ``sys.path``
    multiprocessing hands it. So it starts with this process's path as ``PYTHONPATH`` and without
    the current directory: ``PYTHONSAFEPATH`` on Python 3.11+, a neutral working directory on
    3.10. The variables are restored at once, and :func:`init_worker` gives each worker the
    sweep's own environment. A server already running (started earlier in this process) is kept.
    """
    from multiprocessing import forkserver

    saved = {k: os.environ.get(k) for k in _SERVER_VARS}
    cwd = os.getcwd()
    os.environ["PYTHONPATH"] = os.pathsep.join(os.fspath(p) or cwd for p in sys.path)
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        if sys.version_info < (3, 11):
            os.chdir(os.path.dirname(os.path.abspath(sys.executable)))
        forkserver.ensure_running()
    finally:
        os.chdir(cwd)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


#: The variables :func:`_start_forkserver` sets for the server only.
_SERVER_VARS = ("PYTHONPATH", "PYTHONSAFEPATH")


def worker_args(gpu_slots: Any = None) -> tuple[Any, ...]:
    """The ``initargs`` of :func:`init_worker`: the GPU slot queue, the sweep process's pid, its
    environment and ``sys.path`` now.

    :param gpu_slots: a queue of GPU indices (one taken per worker) or ``None``
    """
    return gpu_slots, os.getpid(), dict(os.environ), list(sys.path)


def _watch_parent(parent: int, ppid: int) -> None:
    while True:
        time.sleep(1.0)
        try:
            os.kill(parent, 0)
            if os.getppid() == ppid:
                continue
        except (ProcessLookupError, PermissionError):  # the sweep is gone (its pid maybe reused)
            pass
        # the sweep or its fork server is gone: stop as on SIGTERM (the run in flight records its
        # part; the handler's own grace period bounds the exit, see install_stop_handler)
        os.kill(os.getpid(), signal.SIGTERM)
        return


def init_worker(
    gpu_slots: Any, parent: int, environ: dict[str, str] | None = None, path: list[str] | None = None
) -> None:
    """Set a worker up: the sweep's environment and ``sys.path``, one thread, its GPU, Ctrl-C left to
    the sweep process, SIGTERM stopping the run in flight cleanly (its part recorded), and the
    same stop when the sweep process is gone.

    :param gpu_slots: a queue of GPU indices or ``None``
    :param parent: the sweep process's pid
    :param environ: the sweep process's environment (``None``: keep the inherited one)
    :param path: the sweep process's ``sys.path`` (``None``: keep it)
    """
    if environ is not None:  # a fork server started earlier has the environment of that moment
        os.environ.clear()
        os.environ.update(environ)
    if path is not None:
        sys.path[:] = path
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    if gpu_slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_slots.get())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the sweep process
    install_stop_handler()
    threading.Thread(target=_watch_parent, args=(parent, os.getppid()), daemon=True).start()


def terminate_pool(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's workers (SIGTERM: each records its run's part and exits) and shut it
    down without waiting.

    :param pool: the process pool
    """
    for proc in list(getattr(pool, "_processes", {}).values()):
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def connect_ray(workers: int, address: str | None = None) -> tuple[Any, bool]:
    """Ray, initialised: connected to the cluster at ``address`` or, without one, a local instance
    with ``workers`` CPUs (unless this process has already initialised Ray).

    :param workers: CPUs of the local instance
    :param address: a Ray cluster address (``auto``, ``ray://host:10001``, ...)
    :returns: ``(ray, own)``: the module, and whether this call initialised it (then the caller
        shuts it down)
    :raises ConfigError: when ray is not installed, or the cluster cannot be reached
    """
    try:
        import ray
    except ImportError:
        from wnrl.config import ConfigError

        raise ConfigError('--backend ray: the ray backend needs the ray extra: pip install "wnrl[ray]"') from None
    own = not ray.is_initialized()
    if own:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            try:
                ray.init(address=address, **options)
            except (ConnectionError, RuntimeError, ValueError) as e:
                from wnrl.config import ConfigError

                raise ConfigError(
                    f"--address {address}: cannot connect to the Ray cluster "
                    f"({' '.join(str(e).split())[:200]}); check the address or start "
                    "one with `ray start --head`"
                ) from None
        else:
            ray.init(num_cpus=workers, **options)
    return ray, own

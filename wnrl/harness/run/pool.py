"""A long-lived pool of run workers for the tuner: runs are submitted as trials are asked, and
collected as they end (the sweep executor takes a fixed list; a study adds runs as it goes).

Each run is :func:`wnrl.harness.run.execute.run_task` (the same ``result.json``, failure isolation and
one torch thread per worker as ``wnrl compare``), wrapped by :func:`tune_task`, which stops the
run when its trial is pruned (the tuner writes ``PRUNE`` into the trial directory).
"""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from wnrl.harness.run.backends import init_worker, terminate_pool, worker_args, worker_context
from wnrl.harness.run.task import WORKER_DIED, failed_result, record_failure, run_task
from wnrl.train.record import RunRecord, write_record

__all__ = ["PRUNE_FILE", "LocalPool", "RayPool", "Pruned", "make_pool", "tune_task"]

PRUNE_FILE = "PRUNE"
PRUNED = "Pruned: the trial was pruned"
Task = dict[str, Any]


class Pruned(Exception):
    """Raised inside a run whose trial was pruned."""


def _raise_pruned(signum: int, frame: Any) -> None:
    raise Pruned("the trial was pruned")


def _watch(flag: Path, stop: threading.Event, main: int) -> None:
    while not stop.wait(0.2):
        if flag.exists():
            signal.pthread_kill(main, signal.SIGUSR1)
            return


def tune_task(task: Task) -> RunRecord:
    """Run one run of a trial (in a worker); stop it early when ``task["prune_file"]`` appears.

    :param task: a task of :func:`wnrl.harness.run.execute.make_task` with ``prune_file``
    :returns: the record written to ``result.json`` (failed with ``Pruned`` when stopped)
    """
    flag = Path(task["prune_file"]) if task.get("prune_file") else None
    if flag is None or threading.current_thread() is not threading.main_thread():
        return run_task(task)
    if flag.exists():
        return record_failure(task, PRUNED)
    stop = threading.Event()
    old = signal.signal(signal.SIGUSR1, _raise_pruned)
    threading.Thread(target=_watch, args=(flag, stop, threading.main_thread().ident), daemon=True).start()
    try:
        record = run_task(task)  # a Pruned raised in training becomes a failed record "Pruned: ..."
    except Pruned:
        return record_failure(task, PRUNED)
    finally:
        stop.set()
        signal.signal(signal.SIGUSR1, old)
    if not record.finished and flag.exists() and not str(record.error).startswith("Pruned"):
        # Pruned landed where another exception replaced it on the way out (a checkpoint's zip
        # writer cut short raises RuntimeError): the run stopped because its trial was pruned.
        record = failed_result(task, PRUNED)
        write_record(Path(task["run_dir"]), record)
    return record


class LocalPool:
    """A process pool of ``workers`` processes (remade when a worker dies; see
    :func:`wnrl.harness.run.backends.worker_context`).

    :param workers: processes
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.ctx = worker_context()
        self.pool = self._make()
        self.inflight: dict[Future, Task] = {}

    def _make(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self.ctx, initializer=init_worker, initargs=worker_args())

    def submit(self, task: Task) -> None:
        """Queue a run.

        :param task: the run's task
        """
        try:
            self.inflight[self.pool.submit(tune_task, task)] = task
        except BrokenProcessPool:
            self.pool = self._make()
            self.inflight[self.pool.submit(tune_task, task)] = task

    @property
    def pending(self) -> int:
        """Runs queued or running."""
        return len(self.inflight)

    def poll(self, timeout: float) -> list[tuple[Task, RunRecord]]:
        """The runs that ended within ``timeout`` seconds.

        :param timeout: seconds to wait at most
        """
        if not self.inflight:
            time.sleep(timeout)
            return []
        done, _ = wait(list(self.inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        broken = any(isinstance(f.exception(), BrokenProcessPool) for f in done)
        if broken:  # every run in flight fails with the pool
            wait(list(self.inflight))
            done = set(self.inflight)
        for f in done:
            task = self.inflight.pop(f)
            exc = f.exception()
            if exc is None:
                out.append((task, f.result()))
            else:
                error = WORKER_DIED if isinstance(exc, BrokenProcessPool) else f"{type(exc).__name__}: {exc}"
                out.append((task, record_failure(task, error)))
        if broken:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._make()
        return out

    def close(self, kill: bool = False) -> None:
        """Stop the pool.

        :param kill: terminate the runs in flight (Ctrl-C)
        """
        if kill:
            terminate_pool(self.pool)
        else:
            self.pool.shutdown(wait=True)


class RayPool:
    """Runs as Ray tasks (``num_cpus=1``); the tune directory must be on shared storage.

    :param workers: CPUs of the local Ray instance when there is no ``address``
    :param address: a Ray cluster address
    """

    def __init__(self, workers: int, address: str | None = None) -> None:
        import ray

        self.ray = ray
        self.own = not ray.is_initialized()
        if self.own:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            ray.init(address=address, **options) if address else ray.init(num_cpus=workers, **options)
        self.remote = ray.remote(num_cpus=1, max_retries=0)(tune_task)
        self.refs: dict[Any, Task] = {}

    def submit(self, task: Task) -> None:
        """Start a run.

        :param task: the run's task
        """
        self.refs[self.remote.remote(task)] = task

    @property
    def pending(self) -> int:
        """Runs queued or running."""
        return len(self.refs)

    def poll(self, timeout: float) -> list[tuple[Task, RunRecord]]:
        """The runs that ended within ``timeout`` seconds.

        :param timeout: seconds to wait at most
        """
        if not self.refs:
            time.sleep(timeout)
            return []
        ready, _ = self.ray.wait(list(self.refs), num_returns=len(self.refs), timeout=timeout)
        out = []
        for ref in ready:
            task = self.refs.pop(ref)
            try:
                out.append((task, self.ray.get(ref)))
            except self.ray.exceptions.RayError as e:
                out.append((task, record_failure(task, f"{WORKER_DIED} ({' '.join(str(e).split())[:200]})")))
        return out

    def close(self, kill: bool = False) -> None:
        """Stop (and with ``kill`` cancel the runs in flight).

        :param kill: cancel the runs in flight
        """
        if kill:
            for ref in self.refs:
                self.ray.cancel(ref, force=True)
        if self.own:
            self.ray.shutdown()


def make_pool(backend: str, workers: int, address: str | None = None) -> LocalPool | RayPool:
    """The pool of a backend.

    :param backend: ``local`` or ``ray``
    :param workers: parallel runs
    :param address: Ray cluster address
    """
    return RayPool(workers, address) if backend == "ray" else LocalPool(workers)

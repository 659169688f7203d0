"""Running the runs of a sweep: a local process pool or Ray tasks, resumable and failure-isolated.

A sweep directory::

    index.json              the sweep spec, every run's id, grid values and seed, the last session
    runs/<id>/              one run directory made by :func:`wnrl.train.train` (config.yaml,
                            curve.json, tb/, model.zip, system.json)
    runs/<id>/result.json   the run's :class:`~wnrl.train.record.RunRecord`, written last,
                            atomically, by the process that ran the run: status finished|failed,
                            grid values, seed, final evaluation, AUC, curve, seconds (of
                            ``learn``), wall_seconds and cpu_seconds (the whole run); error and
                            traceback on failure

``result.json`` is the only marker of a done run: a run directory without one (a run killed
mid-way), or with a corrupt one, is deleted and run again; ``finished`` runs are never rerun; ``failed`` runs are
skipped unless ``retry_failed``. Every run writes its own result, so killing the sweep (Ctrl-C,
SIGKILL) loses only the runs in flight.

Backends:

* ``local``: a ``spawn`` process pool of ``workers`` processes, one run per task, torch limited
  to one thread per process (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``), so N workers
  give close to N× throughput. A worker that dies (killed, out of memory) breaks the pool: the
  runs in flight at that moment are recorded as failed and a new pool runs the rest. With CUDA
  (runs whose ``train.device`` is ``auto`` or ``cuda``), each worker is pinned to one GPU through
  ``CUDA_VISIBLE_DEVICES`` and at most ``runs_per_gpu`` workers share a GPU.
* ``ray``: every run is a Ray task (``num_cpus=1``, ``num_gpus=1/runs_per_gpu`` when the cluster
  has GPUs) that writes its run directory itself, so the sweep directory must be a path every
  node sees at the same place (shared storage such as NFS), and wnrl must be installed on every
  node. Without an address a local Ray instance with ``workers`` CPUs is started and stopped.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import shutil
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from wnrl.train.record import RecordError, RunRecord, read_record, write_record

__all__ = [
    "WORKER_DIED",
    "Progress",
    "execute",
    "failed_result",
    "make_task",
    "plan_runs",
    "record_failure",
    "run_local",
    "run_ray",
    "run_task",
]

WORKER_DIED = (
    "the worker process died while this run was in flight (killed by a signal or out of "
    "memory?); every run in flight at that moment is marked, so this one may not be the "
    "cause; rerun with --retry-failed"
)
Task = dict[str, Any]
OnDone = Callable[[RunRecord], None]


def _base(task: Task) -> dict[str, Any]:
    cfg = task["config"]
    return {
        "id": task["id"],
        "grid": task["grid"],
        "seed": task["seed"],
        "env_id": cfg["env"]["id"],
        "algo": cfg["agent"]["algo"],
        "norm": cfg["agent"]["norm"],
        "host": os.uname().nodename,
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def failed_result(task: Task, error: str, tb: str = "", seconds: float = 0.0) -> RunRecord:
    """The record of a failed run.

    :param task: the run's task
    :param error: one-line error message
    :param tb: the traceback
    :param seconds: time spent before the failure
    """
    return RunRecord(status="failed", error=error, traceback=tb, seconds=round(seconds, 3), ended=_now(), **_base(task))


def _existing(run_dir: Path) -> RunRecord | None:
    try:
        return read_record(run_dir)
    except RecordError:
        return None


def record_failure(task: Task, error: str) -> RunRecord:
    """Write a failed ``result.json`` for ``task`` from outside the run (e.g. its worker died),
    unless the run already wrote a result; returns the record that is on disk."""
    run_dir = Path(task["run_dir"])
    existing = _existing(run_dir)
    if existing is not None:
        return existing
    result = failed_result(task, error)
    write_record(run_dir, result)
    return result


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_task(task: Task) -> RunRecord:
    """Train one run of a sweep and write its ``result.json`` (runs inside a worker).

    The record ``wnrl train`` wrote gets the run's sweep id, grid values and whole-run timings.
    Exceptions become a ``failed`` record (so do a NaN final return or AUC); a
    ``KeyboardInterrupt`` propagates and leaves no result, so the run is redone next time.

    :param task: ``{"id", "run_dir", "config", "grid", "seed", "source"}`` (see :func:`make_task`)
    :returns: the record that was written
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    start, cpu = time.time(), time.process_time()
    run_dir = Path(task["run_dir"])
    try:
        import torch

        from wnrl.config import validate
        from wnrl.train import train

        torch.set_num_threads(1)
        config = validate(task["config"], task["source"])
        record = train(config, out=run_dir, progress_bar=False, source=task["source"])
        score, auc = record.score, record.auc
        if score is None or auc is None or not (math.isfinite(score) and math.isfinite(auc)):
            raise FloatingPointError(
                f"the final evaluation return ({score}) or the AUC ({auc}) is not finite: training diverged"
            )
        result = record.model_copy(
            update={
                **_base(task),
                "ended": _now(),
                "wall_seconds": round(time.time() - start, 3),
                "cpu_seconds": round(time.process_time() - cpu, 3),
            }
        )
    except Exception as e:
        result = failed_result(task, _one_line(e), traceback.format_exc(), time.time() - start)
    write_record(run_dir, result)
    return result


def make_task(run: Any, sweep_dir: Path, source: str) -> Task:
    """The picklable task of a :class:`~wnrl.harness.sweep.SweepRun`.

    :param run: the sweep run
    :param sweep_dir: the sweep directory
    :param source: the sweep file (for error messages)
    """
    return {
        "id": run.id,
        "run_dir": str((sweep_dir / "runs" / run.id).resolve()),
        "config": run.config.model_dump(mode="json"),
        "grid": run.grid,
        "seed": run.seed,
        "source": source,
    }


def plan_runs(runs: list[Any], sweep_dir: Path, retry_failed: bool = False) -> tuple[list[Any], dict[str, int]]:
    """Decide which runs to start and clean up what a killed sweep left behind.

    Finished runs are kept; failed runs are kept unless ``retry_failed`` (then their directory is
    deleted); a directory without a valid ``result.json`` is deleted.

    :param runs: the sweep's runs
    :param sweep_dir: the sweep directory
    :param retry_failed: rerun failed runs
    :returns: ``(runs to start, counts)`` with counts ``finished``, ``failed`` (kept),
        ``retried``, ``partial`` (deleted incomplete directories), ``todo``
    """
    counts = {"finished": 0, "failed": 0, "retried": 0, "partial": 0, "corrupt": 0}
    todo = []
    for run in runs:
        run_dir = sweep_dir / "runs" / run.id
        try:
            result = read_record(run_dir)
        except RecordError:
            counts["corrupt"] += 1
            shutil.rmtree(run_dir)
            todo.append(run)
            continue
        if result is not None and result.finished:
            counts["finished"] += 1
            continue
        if result is not None and not retry_failed:
            counts["failed"] += 1
            continue
        if run_dir.exists():
            counts["retried" if result is not None else "partial"] += 1
            shutil.rmtree(run_dir)
        todo.append(run)
    counts["todo"] = len(todo)
    return todo, counts


class Progress:
    """One progress display for the sweep: a tqdm bar on a terminal, one line per run otherwise.

    :param total: runs to do
    :param desc: label
    :param enabled: ``None``: bar on a TTY, lines otherwise; ``False``: silent
    """

    def __init__(self, total: int, desc: str = "runs", enabled: bool | None = None) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.start = time.time()
        self.enabled = enabled is not False
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="run", file=sys.stderr, dynamic_ncols=True)
            self.bar.set_postfix(failed=0)

    def update(self, result: RunRecord) -> None:
        """Count one done run.

        :param result: its result
        """
        self.done += 1
        self.failed += not result.finished
        if self.bar is not None:
            self.bar.set_postfix(failed=self.failed, refresh=False)
            self.bar.update(1)
        elif self.enabled:
            elapsed = time.time() - self.start
            eta = elapsed / self.done * (self.total - self.done)
            what = f"return {result.score:.1f}" if result.score is not None else f"FAILED: {str(result.error)[:120]}"
            print(
                f"[{self.done}/{self.total}] {result.id}: {what}; {self.failed} failed, ETA {eta / 60:.1f} min",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:  # the sweep process is gone: do not linger as an orphan
            os._exit(1)


def _init_worker(gpu_slots: Any, parent: int) -> None:
    import signal

    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    if gpu_slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_slots.get())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the sweep process
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _terminate(pool: ProcessPoolExecutor) -> None:
    for proc in list(getattr(pool, "_processes", {}).values()):
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def run_local(
    tasks: list[Task],
    workers: int,
    on_done: OnDone,
    fn: Callable[[Task], RunRecord] = run_task,
    gpus: int = 0,
    runs_per_gpu: int = 1,
) -> None:
    """Run ``tasks`` on a process pool; ``on_done(result)`` is called as each one ends.

    :param tasks: the tasks (see :func:`make_task`)
    :param workers: pool size
    :param on_done: callback with each result
    :param fn: the task function (top-level, picklable); it writes ``result.json`` itself
    :param gpus: GPUs to spread the workers over (0: CPU only)
    :param runs_per_gpu: workers sharing one GPU
    """
    ctx = mp.get_context("spawn")
    pending = deque(tasks)
    size = max(1, min(workers, len(tasks), gpus * runs_per_gpu if gpus else workers))
    while pending:
        slots = None
        if gpus:
            slots = ctx.Queue()
            for i in range(size):
                slots.put(i % gpus)
        pool = ProcessPoolExecutor(size, mp_context=ctx, initializer=_init_worker, initargs=(slots, os.getpid()))
        inflight: dict[Future, Task] = {}
        try:
            broken = False
            while (pending or inflight) and not broken:
                while pending and len(inflight) < size:
                    task = pending.popleft()
                    try:
                        inflight[pool.submit(fn, task)] = task
                    except BrokenProcessPool:
                        pending.appendleft(task)
                        broken = True
                        break
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED) if inflight else (set(), set())
                broken = broken or any(isinstance(f.exception(), BrokenProcessPool) for f in done)
                if broken:  # every future in flight fails with the pool: collect them all
                    wait(list(inflight))
                    done = set(inflight)
                for f in done:
                    task = inflight.pop(f)
                    exc = f.exception()
                    if exc is None:
                        on_done(f.result())
                    elif isinstance(exc, BrokenProcessPool):
                        on_done(record_failure(task, WORKER_DIED))
                    else:
                        on_done(record_failure(task, _one_line(exc)))
        except BaseException:
            _terminate(pool)
            raise
        pool.shutdown(wait=True, cancel_futures=True)


def run_ray(
    tasks: list[Task],
    workers: int,
    on_done: OnDone,
    fn: Callable[[Task], RunRecord] = run_task,
    address: str | None = None,
    runs_per_gpu: int = 1,
    use_gpu: bool = False,
) -> None:
    """Run ``tasks`` as Ray tasks; ``on_done(result)`` is called as each one ends.

    :param tasks: the tasks (see :func:`make_task`); their ``run_dir`` must be on storage every
        node shares
    :param workers: CPUs of the local Ray instance started when there is no ``address``
    :param on_done: callback with each result
    :param fn: the task function; it writes ``result.json`` itself
    :param address: a Ray cluster address (``auto``, ``ray://host:10001``, ...); ``None``: a local
        instance, shut down at the end
    :param runs_per_gpu: tasks sharing one GPU (when the cluster has GPUs and ``use_gpu``)
    :param use_gpu: the runs may use CUDA
    :raises ConfigError: when ray is not installed
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
    refs: dict[Any, Task] = {}
    try:
        gpus = ray.cluster_resources().get("GPU", 0) if use_gpu else 0
        remote = ray.remote(num_cpus=1, num_gpus=1.0 / runs_per_gpu if gpus else 0, max_retries=0)(fn)
        refs = {remote.remote(t): t for t in tasks}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                task = refs.pop(ref)
                try:
                    on_done(ray.get(ref))
                except ray.exceptions.RayTaskError as e:
                    on_done(record_failure(task, _one_line(e.cause if e.cause is not None else e)))
                except ray.exceptions.RayError as e:  # the worker died, the node was lost, ...
                    on_done(record_failure(task, f"{WORKER_DIED} ({_one_line(e)[:200]})"))
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        if own:
            ray.shutdown()


def _wants_gpu(tasks: list[Task]) -> bool:
    return any(t["config"]["train"]["device"] in ("auto", "cuda") for t in tasks)


def _cuda_gpus(tasks: list[Task]) -> int:
    if not _wants_gpu(tasks):
        return 0
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        return 0


def execute(
    tasks: list[Task],
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    runs_per_gpu: int = 1,
    progress: bool | None = None,
    fn: Callable[[Task], RunRecord] = run_task,
) -> list[RunRecord]:
    """Run the tasks of a sweep on a backend, with one progress display.

    :param tasks: the tasks (see :func:`make_task`)
    :param backend: ``local`` or ``ray``
    :param workers: parallel runs (default: ``os.cpu_count()``)
    :param address: Ray cluster address (``ray`` backend)
    :param runs_per_gpu: runs sharing one GPU
    :param progress: ``None``: bar on a TTY, lines otherwise; ``False``: silent
    :param fn: the task function
    :returns: the results, in the order they ended
    """
    workers = workers or os.cpu_count() or 1
    results: list[RunRecord] = []
    if not tasks:
        return results
    bar = Progress(len(tasks), enabled=progress)

    def on_done(result: RunRecord) -> None:
        results.append(result)
        bar.update(result)

    gpus = _cuda_gpus(tasks)
    try:
        if backend == "ray":
            run_ray(
                tasks,
                workers,
                on_done,
                fn,
                address,
                runs_per_gpu,
                use_gpu=gpus > 0 or (address is not None and _wants_gpu(tasks)),
            )
        else:
            run_local(tasks, workers, on_done, fn, gpus, runs_per_gpu)
    finally:
        bar.close()
    return results

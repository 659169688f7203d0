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

``result.json`` is the only marker of a done run. A run directory without one (a run stopped
mid-way), or with a ``failed`` one written because the run's worker was killed (a signal, the OOM
killer), continues from its newest checkpoint when it has one (``train.checkpoint_freq``, on by
default; see :mod:`wnrl.train.resume`), else it is deleted and run again, as is one with a corrupt
``result.json``; ``finished`` runs are never rerun; other ``failed`` runs are skipped unless
``retry_failed``: then a run stopped by its disk (full, read-only: its ``system.json`` says so)
continues from its newest checkpoint too, and a run whose training failed (an exception, NaN)
starts again from step 0, its directory deleted, so that a run never mixes training before and
after a fix of the code that failed. Every run writes its own result and its checkpoints, so
stopping the sweep (Ctrl-C, SIGTERM, SIGKILL, the end of a session) loses at most the steps since
each running run's last checkpoint. A worker told to stop (SIGTERM from the sweep, or its sweep process gone) stops
its run as Ctrl-C stops ``wnrl train``: the part it ran is recorded in ``system.json`` (steps,
wall and CPU seconds), so the run's time, once continued, counts it; only a SIGKILL of the worker
itself loses that part's time.

Backends (the one executor, :mod:`wnrl.harness.run.pool`, which ``tune`` uses too; the worker
processes, :mod:`wnrl.harness.run.backends`; a task and its record, :mod:`wnrl.harness.run.task`):

* ``local``: a process pool of ``workers`` processes (forked from a server that imported torch
  and SB3 once, or spawned where there is no ``forkserver``), one run per task, torch limited
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

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from wnrl.harness.run.options import ExecOptions
from wnrl.harness.run.pool import make_pool, run_all
from wnrl.harness.run.task import WORKER_DIED, Task, failed_result, killed, make_task, record_failure, run_task
from wnrl.harness.sweeps.spec import SweepRun
from wnrl.train.record import RESULT_FILE, RecordError, RunRecord, latest_checkpoint, read_record, resumable

__all__ = [
    "WORKER_DIED",
    "Progress",
    "describe_plan",
    "disk_failed",
    "execute",
    "failed_result",
    "make_task",
    "plan_runs",
    "record_failure",
    "run_task",
]


def _continuable(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds its config and a complete checkpoint (whatever its result)."""
    return (run_dir / "config.yaml").is_file() and latest_checkpoint(run_dir / "checkpoints") is not None


def disk_failed(run_dir: Path) -> bool:
    """Whether the run in ``run_dir`` was stopped by its disk (full, over quota, read-only), as
    its ``system.json`` records it (:func:`wnrl.train.rundir.output_failure`: status ``failed``
    with the disk's error), not by an error of its training.

    :param run_dir: the run directory
    """
    from wnrl.train.resume import previous_system  # imports SB3: only for a failed run

    system = previous_system(run_dir)
    return system.get("status") == "failed" and bool(system.get("error"))


def _restart(run_dir: Path, result: RunRecord | None, counts: dict[str, int]) -> None:
    """Prepare a run that did not finish to run again: one stopped from outside (no result, its
    worker killed, its disk failed) continues from its newest checkpoint (its failed
    ``result.json`` removed) when it has one; any other, and a run without a checkpoint, has its
    directory deleted and starts again from step 0.

    :param run_dir: the run directory
    :param result: its failed record (``None``: it stopped without one)
    :param counts: the counts of :func:`plan_runs`, updated
    """
    was_killed = result is None or killed(result)  # stopped or killed from outside, not a training error
    if result is not None and (was_killed or disk_failed(run_dir)) and _continuable(run_dir):
        (run_dir / RESULT_FILE).unlink()
        counts["resumed" if was_killed else "continued"] += 1
    elif result is None and resumable(run_dir):
        counts["resumed"] += 1
    elif run_dir.exists():
        counts["partial" if was_killed else "retried"] += 1
        shutil.rmtree(run_dir)


class RunPlan(NamedTuple):
    """What :func:`plan_runs` decided.

    :param todo: the runs to start
    :param counts: how many runs it found in each state (see :func:`plan_runs`)
    :param failed: the records of the failed runs it keeps (not started again)
    """

    todo: list[SweepRun]
    counts: dict[str, int]
    failed: list[RunRecord]


def plan_runs(runs: list[SweepRun], sweep_dir: Path, retry_failed: bool = False) -> RunPlan:
    """Decide which runs to start and clean up what a killed sweep left behind.

    Finished runs are kept. A run that did not finish continues from its newest checkpoint when
    it has one, else its directory is deleted and it starts again: a directory without
    ``result.json`` (the sweep stopped or was killed), or with a corrupt one; a run recorded as
    failed because its worker died (:func:`wnrl.harness.run.task.killed`: a signal, the OOM killer);
    with ``retry_failed``, every other failed run too: one stopped by its disk
    (:func:`disk_failed`) continues from its checkpoint as well, one whose training failed starts
    again from step 0 (what it trained came from code that may have been fixed since). Other
    failed runs are kept.

    :param runs: the sweep's runs
    :param sweep_dir: the sweep directory
    :param retry_failed: rerun failed runs
    :returns: ``(runs to start, counts, failed records kept)`` with counts ``finished``, ``failed`` (kept),
        ``retried`` (failed runs started again from step 0), ``continued`` (runs stopped by their
        disk, continued from their checkpoint), ``partial`` (runs stopped or killed without a
        checkpoint: started again), ``resumed`` (runs stopped or killed that continue from their
        checkpoint), ``corrupt``, ``todo``
    """
    counts = dict.fromkeys(("finished", "failed", "retried", "continued", "partial", "resumed", "corrupt"), 0)
    todo, failed = [], []
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
        if result is not None and not (retry_failed or killed(result)):
            counts["failed"] += 1
            failed.append(result)
            continue
        _restart(run_dir, result, counts)
        todo.append(run)
    counts["todo"] = len(todo)
    return RunPlan(todo, counts, failed)


def describe_plan(counts: dict[str, int]) -> str:
    """What :func:`plan_runs` found, for the sweep's first line: ``, 2 failed earlier (kept; ...)``.

    :param counts: the counts of :func:`plan_runs`
    """
    parts = {
        "failed": "failed earlier (kept; rerun them with --retry-failed)",
        "corrupt": "with a corrupt result.json (rerun)",
        "resumed": "stopped mid-way (continued from their last checkpoint)",
        "partial": "stopped before their first checkpoint (started again)",
        "retried": "failed earlier (started again from step 0)",
        "continued": "stopped by their disk (continued from their last checkpoint)",
    }
    return "".join(f", {counts[key]} {text}" for key, text in parts.items() if counts.get(key))


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


def _cuda_gpus(tasks: list[Task]) -> int:
    if not any(t.wants_gpu for t in tasks):
        return 0
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        return 0


def execute(
    tasks: list[Task],
    options: ExecOptions,
    progress: bool | None = None,
    fn: Callable[[Task], RunRecord] = run_task,
) -> list[RunRecord]:
    """Run the tasks of a sweep on the executor (:mod:`wnrl.harness.run.pool`), with one progress
    display.

    :param tasks: the tasks (see :func:`make_task`)
    :param options: backend, workers (default: ``os.cpu_count()``; the local pool has at most one
        per task), Ray address, runs sharing one GPU
    :param progress: ``None``: bar on a TTY, lines otherwise; ``False``: silent
    :param fn: the task function
    :returns: the records, in the order the runs ended
    """
    results: list[RunRecord] = []
    if not tasks:
        return results
    bar = Progress(len(tasks), enabled=progress)

    def on_done(result: RunRecord) -> None:
        results.append(result)
        bar.update(result)

    gpus = _cuda_gpus(tasks)
    if options.backend != "ray":
        options = replace(options, workers=min(options.n_workers, len(tasks)))
    use_gpu = gpus > 0 or (options.address is not None and any(t.wants_gpu for t in tasks))
    try:
        run_all(make_pool(options, fn, gpus=gpus, use_gpu=use_gpu), tasks, on_done)
    finally:
        bar.close()
    return results

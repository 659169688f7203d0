"""One run of a sweep as a typed, picklable :class:`Task`: what a worker runs (:func:`run_task`)
and the ``result.json`` it leaves, finished or failed (see :mod:`wnrl.harness.run.execute`). A
tuning run's task names its trial's prune file: the run stops when the tuner writes it."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wnrl.train.record import RecordError, RunFields, RunRecord, read_record, resumable, write_record

if TYPE_CHECKING:
    from wnrl.config import RunConfig
    from wnrl.harness.sweeps.spec import SweepRun

__all__ = [
    "KILLED",
    "PRUNED",
    "PRUNE_FILE",
    "WORKER_DIED",
    "Pruned",
    "OnDone",
    "Task",
    "failed_result",
    "install_stop_handler",
    "killed",
    "make_task",
    "one_line",
    "record_failure",
    "run_task",
]

#: How the record of a run whose worker died begins (:func:`killed`; older wnrl added other words).
KILLED = "the worker process died while this run was in flight"
WORKER_DIED = (
    f"{KILLED} (killed by a signal or out of memory?); every run in flight at that moment is "
    "marked, so this one may not be the cause; run the same command again to continue it from "
    "its last checkpoint (or start it again without one)"
)
#: The file a tuner writes into a trial's directory to stop its runs, and their records' error.
PRUNE_FILE = "PRUNE"
PRUNED = "Pruned: the trial was pruned"


@dataclass(frozen=True)
class Task:
    """One run for a worker (the only thing that crosses the process boundary to it).

    :param id: the run's sweep id
    :param run_dir: its run directory (absolute: a Ray task may run elsewhere)
    :param config: its validated run config
    :param grid: its grid values
    :param seed: its seed
    :param source: the sweep or tune file (for error messages)
    :param prune_file: a tuning run's trial prune file (the run stops when it appears)
    """

    id: str
    run_dir: Path
    config: RunConfig
    grid: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    source: str = "<sweep>"
    prune_file: Path | None = None

    @property
    def wants_gpu(self) -> bool:
        """Whether the run may use CUDA (``train.device`` ``auto`` or ``cuda``)."""
        return self.config.train.device in ("auto", "cuda")

    def fields(self, started: float, cpu_started: float, earlier: dict[str, float] | None = None) -> RunFields:
        """What this run's record carries beside what ``train`` measures.

        :param started: ``time.time()`` at the worker's start of the run
        :param cpu_started: ``time.process_time()`` then
        :param earlier: the wall and CPU seconds of the run's earlier parts
        """
        earlier = earlier or {}
        return RunFields(
            id=self.id,
            grid=self.grid,
            seed=self.seed,
            env_id=self.config.env.id,
            algo=self.config.agent.algo,
            norm=self.config.agent.norm,
            host=os.uname().nodename,
            started=started,
            cpu_started=cpu_started,
            earlier_wall=earlier.get("wall_seconds", 0.0),
            earlier_cpu=earlier.get("cpu_seconds", 0.0),
        )


OnDone = Callable[[RunRecord], None]

#: A worker's state for its SIGTERM handler: a run in flight, a stop asked for.
_WORKER = {"running": False, "stopping": False}
#: How long a worker told to stop may take to record its run's part before it exits regardless.
STOP_GRACE_SECONDS = 30.0
_STOPPED = 128 + signal.SIGTERM  # the exit status of a worker that stopped on SIGTERM


def install_stop_handler() -> None:
    """In a worker process: SIGTERM stops the run in flight the way Ctrl-C stops ``wnrl train``,
    so that ``train`` records the part it ran (steps, wall and CPU seconds) in ``system.json``
    before the worker exits; the run then continues from its checkpoint next time. An idle
    worker exits at once, as with the default action. Later SIGTERMs are ignored (a pool sends
    one to every worker again as soon as the first has exited), and a worker still alive
    :data:`STOP_GRACE_SECONDS` after the first exits regardless."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: Any) -> None:
    _WORKER["stopping"] = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not _WORKER["running"]:
        os._exit(_STOPPED)
    backstop = threading.Timer(STOP_GRACE_SECONDS, os._exit, args=(_STOPPED,))
    backstop.daemon = True
    backstop.start()
    raise KeyboardInterrupt


def failed_result(task: Task, error: str, tb: str = "", seconds: float = 0.0) -> RunRecord:
    """The record of a failed run.

    :param task: the run's task
    :param error: one-line error message
    :param tb: the traceback
    :param seconds: time spent before the failure
    """
    return task.fields(time.time(), time.process_time()).failed(error, tb, seconds)


def _existing(run_dir: Path) -> RunRecord | None:
    try:
        return read_record(run_dir)
    except RecordError:
        return None


def record_failure(task: Task, error: str) -> RunRecord:
    """Write a failed ``result.json`` for ``task`` from outside the run (e.g. its worker died),
    unless the run already wrote a result; returns the record that is on disk."""
    run_dir = task.run_dir
    existing = _existing(run_dir)
    if existing is not None:
        return existing
    result = failed_result(task, error)
    write_record(run_dir, result)
    return result


def killed(record: RunRecord) -> bool:
    """Whether ``record`` is a run killed from outside (its worker died: a signal, the OOM killer),
    not one whose training raised: such a run continues like a stopped one.

    :param record: a run's record
    """
    return record.status == "failed" and str(record.error or "").startswith(KILLED)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_task(task: Task) -> RunRecord:
    """Train one run of a sweep and write its ``result.json`` once (runs inside a worker).

    ``train`` writes the record with the run's sweep id, grid values and whole-run timings
    (:class:`~wnrl.train.record.RunFields`). A run directory left by a run that stopped mid-way
    continues from its newest checkpoint (its earlier parts' wall and CPU seconds are added to
    this one's). Exceptions become a ``failed`` record (so do a NaN final return or AUC); a
    ``KeyboardInterrupt`` propagates and leaves no result, so the run continues (or starts again)
    next time. In a worker with :func:`install_stop_handler`, SIGTERM does the same and then ends
    the worker. A task with a ``prune_file`` stops when that file appears (:func:`_run_prunable`).

    :param task: the run (see :func:`make_task`)
    :returns: the record that was written
    """
    if task.prune_file is not None and threading.current_thread() is threading.main_thread():
        return _run_prunable(task, task.prune_file)
    return _run_stoppable(task)


def _run_stoppable(task: Task) -> RunRecord:
    """:func:`_run`, ending the worker once it returns or raises when a stop was asked for."""
    _WORKER["running"] = True
    try:
        record = _run(task)
    except BaseException:
        if _WORKER["stopping"]:  # a worker told to stop: its part is recorded, no result is written
            os._exit(_STOPPED)
        raise
    finally:
        _WORKER["running"] = False
    if _WORKER["stopping"]:  # the stop came too late to interrupt the run: its result is written
        os._exit(_STOPPED)
    return record


def _run(task: Task) -> RunRecord:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    start, cpu = time.time(), time.process_time()
    run_dir = task.run_dir
    try:
        import torch

        from wnrl.train import load_run_config, train
        from wnrl.train.resume import previous_system, total_of_parts

        torch.set_num_threads(1)
        config = task.config
        earlier = {"wall_seconds": 0.0, "cpu_seconds": 0.0}
        resume = run_dir if resumable(run_dir) and load_run_config(run_dir) == config else None
        if resume is not None:  # the parts before this one count in the run's time
            parts = previous_system(run_dir).get("parts", [])
            earlier = {key: total_of_parts(parts, key) for key in earlier}
        elif run_dir.exists():  # stopped before its first checkpoint, or another config: start again
            shutil.rmtree(run_dir)
        out = None if resume else run_dir
        fields = task.fields(start, cpu, earlier)
        return train(config, out=out, resume=resume, progress_bar=False, source=task.source, fields=fields)
    except Exception as e:
        if _WORKER["stopping"]:  # the stop landed in a writer that raised its own error instead
            raise KeyboardInterrupt from e
        result = failed_result(task, one_line(e), traceback.format_exc(), time.time() - start)
    write_record(run_dir, result)
    return result


class Pruned(Exception):
    """Raised inside a run whose trial was pruned."""


def _raise_pruned(signum: int, frame: Any) -> None:
    raise Pruned("the trial was pruned")


def _watch(flag: Path, stop: threading.Event, main: int) -> None:
    while not stop.wait(0.2):
        if flag.exists():
            signal.pthread_kill(main, signal.SIGUSR1)
            return


def _run_prunable(task: Task, flag: Path) -> RunRecord:
    """Run a tuning run; stop it early when its trial's prune file ``flag`` appears.

    :param task: the run
    :param flag: the prune file
    :returns: the record written to ``result.json`` (failed with :data:`PRUNED` when stopped)
    """
    if flag.exists():
        return record_failure(task, PRUNED)
    stop = threading.Event()
    main = threading.main_thread().ident
    assert main is not None
    old = signal.signal(signal.SIGUSR1, _raise_pruned)
    threading.Thread(target=_watch, args=(flag, stop, main), daemon=True).start()
    try:
        record = _run_stoppable(task)  # a Pruned raised in training becomes a failed record "Pruned: ..."
    except Pruned:
        return record_failure(task, PRUNED)
    finally:
        stop.set()
        signal.signal(signal.SIGUSR1, old)
    if not record.finished and flag.exists() and not str(record.error).startswith("Pruned"):
        # Pruned landed where another exception replaced it on the way out (a checkpoint's zip
        # writer cut short raises RuntimeError): the run stopped because its trial was pruned.
        record = failed_result(task, PRUNED)
        write_record(task.run_dir, record)
    return record


def make_task(run: SweepRun, sweep_dir: Path, source: str, prune_file: Path | None = None) -> Task:
    """The task of a :class:`~wnrl.harness.sweeps.spec.SweepRun`.

    :param run: the sweep run
    :param sweep_dir: the sweep (or trial) directory
    :param source: the sweep file (for error messages)
    :param prune_file: a tuning run's trial prune file
    """
    return Task(
        id=run.id,
        run_dir=(sweep_dir / "runs" / run.id).resolve(),
        config=run.config,
        grid=run.grid,
        seed=run.seed,
        source=source,
        prune_file=prune_file,
    )

"""One run of a sweep as a picklable task: what a worker runs (:func:`run_task`) and the
``result.json`` it leaves, finished or failed (see :mod:`wnrl.harness.run.execute`)."""

from __future__ import annotations

import math
import os
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wnrl.train.record import RecordError, RunRecord, read_record, resumable, write_record

__all__ = [
    "KILLED",
    "WORKER_DIED",
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
Task = dict[str, Any]
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
    """Train one run of a sweep and write its ``result.json`` (runs inside a worker).

    The record ``wnrl train`` wrote gets the run's sweep id, grid values and whole-run timings.
    A run directory left by a run that stopped mid-way continues from its newest checkpoint (its
    earlier parts' wall and CPU seconds are added to this one's). Exceptions become a ``failed``
    record (so do a NaN final return or AUC); a ``KeyboardInterrupt`` propagates and leaves no
    result, so the run continues (or starts again) next time. In a worker with
    :func:`install_stop_handler`, SIGTERM does the same and then ends the worker.

    :param task: ``{"id", "run_dir", "config", "grid", "seed", "source"}`` (see :func:`make_task`)
    :returns: the record that was written
    """
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
    run_dir = Path(task["run_dir"])
    earlier = {"wall_seconds": 0.0, "cpu_seconds": 0.0}
    try:
        import torch

        from wnrl.config import validate
        from wnrl.train import load_run_config, train
        from wnrl.train.resume import previous_system, total_of_parts

        torch.set_num_threads(1)
        config = validate(task["config"], task["source"])
        resume = run_dir if resumable(run_dir) and load_run_config(run_dir) == config else None
        if resume is not None:  # the parts before this one count in the run's time
            parts = previous_system(run_dir).get("parts", [])
            earlier = {key: total_of_parts(parts, key) for key in earlier}
        elif run_dir.exists():  # stopped before its first checkpoint, or another config: start again
            shutil.rmtree(run_dir)
        out = None if resume else run_dir
        record = train(config, out=out, resume=resume, progress_bar=False, source=task["source"])
        score, auc = record.score, record.auc
        if score is None or auc is None or not (math.isfinite(score) and math.isfinite(auc)):
            raise FloatingPointError(
                f"the final evaluation return ({score}) or the AUC ({auc}) is not finite: training diverged"
            )
        result = record.model_copy(
            update={
                **_base(task),
                "ended": _now(),
                "wall_seconds": round(time.time() - start + earlier["wall_seconds"], 3),
                "cpu_seconds": round(time.process_time() - cpu + earlier["cpu_seconds"], 3),
            }
        )
    except Exception as e:
        if _WORKER["stopping"]:  # the stop landed in a writer that raised its own error instead
            raise KeyboardInterrupt from e
        result = failed_result(task, one_line(e), traceback.format_exc(), time.time() - start)
    write_record(run_dir, result)
    return result


def make_task(run: Any, sweep_dir: Path, source: str) -> Task:
    """The picklable task of a :class:`~wnrl.harness.sweeps.spec.SweepRun`.

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

r"""The one typed record of a run (``result.json``): its shape, how it is read and written.

:class:`RunRecord` is written once per run by ``wnrl train`` (into the run directory; a sweep's
worker passes its :class:`RunFields`, the run's sweep id, grid values and whole-run timings, which
are part of that one write), by the sweep executor only for a run that failed before ``train``
could write it, and read by the report and the plots: one shape, one JSON form, from the run to
the report.

``result.json`` is written last and atomically (temp file + ``os.replace``): a run directory
without one did not finish. Older files (written before this record existed) load unchanged:
their keys are a subset of these. A run directory without one that holds a complete checkpoint
(:func:`resumable`) can continue where it stopped (``wnrl train --resume``, or a sweep run again).

The score of a run is ``final.mean``: the last point of the evaluation curve (the final policy's
deterministic evaluation); ``auc`` is the normalised area under that curve
(:func:`area_under_curve`).
"""

from __future__ import annotations

import json
import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from wnrl.train.rundir import atomic_write_text, read_json

__all__ = [
    "RESULT_FILE",
    "Curve",
    "Evaluation",
    "RecordError",
    "RunFields",
    "RunRecord",
    "area_under_curve",
    "latest_checkpoint",
    "list_checkpoints",
    "read_record",
    "resumable",
    "write_record",
]

RESULT_FILE = "result.json"


def area_under_curve(steps: ArrayLike, returns: ArrayLike) -> Any:
    r"""Normalised area under a learning curve: the mean return over training.

    :math:`\frac{1}{s_K - s_0}\int_{s_0}^{s_K} r(s)\,ds` with the trapezoid rule, per run: a
    sample-efficiency score in the units of the return. A single point gives that point's value.

    :param steps: strictly increasing step vector of length ``points``.
    :param returns: ``(runs, points)`` (one AUC per run) or ``(points,)`` (one curve).
    :returns: array of shape ``(runs,)``, or a float for a 1-D curve.
    :raises ValueError: on empty input, length mismatch, non-increasing steps or NaN/inf.
    """
    s = np.asarray(steps, dtype=np.float64)
    r = np.asarray(returns, dtype=np.float64)
    single = r.ndim == 1
    r2 = r[None, :] if single else r
    if s.ndim != 1 or r2.ndim != 2:
        raise ValueError(f"need steps (points,) and returns (runs, points), got {s.shape}, {r.shape}")
    if s.size == 0 or r2.size == 0:
        raise ValueError("area_under_curve: empty steps or returns")
    if r2.shape[1] != s.shape[0]:
        raise ValueError(f"returns have {r2.shape[1]} points but steps has {s.shape[0]}")
    if not (np.isfinite(s).all() and np.isfinite(r2).all()):
        raise ValueError("area_under_curve: steps and returns must be finite (no NaN or inf)")
    if s.size == 1:
        auc = r2[:, 0].copy()
    else:
        if np.any(np.diff(s) <= 0):
            raise ValueError("steps must be strictly increasing")
        area = (0.5 * (r2[:, 1:] + r2[:, :-1]) * np.diff(s)[None, :]).sum(axis=1)
        auc = area / (s[-1] - s[0])
    return float(auc[0]) if single else auc


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Evaluation(_Record):
    """One deterministic evaluation: mean and std of the episode returns, and each episode."""

    mean: float
    std: float
    episodes: list[float] = Field(default_factory=list)
    lengths: list[int] = Field(default_factory=list)


class Curve(_Record):
    """The evaluation curve: mean (and std) return at each evaluation step."""

    steps: list[int] = Field(default_factory=list)
    mean: list[float] = Field(default_factory=list)
    std: list[float] = Field(default_factory=list)

    def auc(self) -> float:
        """:func:`area_under_curve` of this curve (NaN when it is empty)."""
        return float(area_under_curve(self.steps, self.mean)) if self.steps else float("nan")


class RunRecord(_Record):
    """What one run produced (``result.json``).

    :param status: ``finished`` or ``failed``
    :param env_id: the environment id
    :param algo: the algorithm name
    :param norm: the normalization
    :param seed: ``train.seed``
    :param id: the run's id (the sweep run id, or the run directory's name)
    :param grid: the run's sweep grid values (empty outside a sweep)
    :param final: the final evaluation (the curve's last point)
    :param auc: area under the evaluation curve
    :param curve: the evaluation curve
    :param steps: environment steps trained
    :param seconds: time inside ``learn()`` (all parts of a resumed run)
    :param wall_seconds: wall time of the whole run (start-up, evaluation, saving)
    :param overhead_seconds: (computed, written to ``result.json``) ``wall_seconds - seconds``:
        what the run cost outside ``learn()`` (building the env and model, the final evaluation,
        saving); ``None`` without a wall time
    :param cpu_seconds: CPU time of the whole run
    :param eval_noise: the noise the evaluations ran under (empty: clean)
    :param warnings: budget and setting warnings given when the run started
    :param diagnostics: the mechanism diagnostics (effective learning rate, dormant units, srank,
        Q-value bias; see ``docs/diagnostics.md``): the last value and ``<key>:mean`` over the run
    :param host: the machine
    :param ended: when the record was written (local time, ISO 8601)
    :param error: one-line error of a failed run
    :param traceback: the traceback of a failed run
    """

    status: Literal["finished", "failed"]
    env_id: str | None = None
    algo: str | None = None
    norm: str | None = None
    seed: int | None = None
    id: str | None = None
    grid: dict[str, Any] = Field(default_factory=dict)
    final: Evaluation | None = None
    auc: float | None = None
    curve: Curve | None = None
    steps: int | None = None
    seconds: float = 0.0
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    eval_noise: dict[str, float] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    diagnostics: dict[str, float] = Field(default_factory=dict)
    host: str | None = None
    ended: str | None = None
    error: str | None = None
    traceback: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def overhead_seconds(self) -> float | None:
        """Wall time of the run outside ``learn()`` (``None`` without a wall time)."""
        return None if self.wall_seconds is None else round(max(0.0, self.wall_seconds - self.seconds), 3)

    @property
    def finished(self) -> bool:
        """Whether the run finished."""
        return self.status == "finished"

    @property
    def score(self) -> float | None:
        """The run's score: the final evaluation's mean return (``None`` unless finished)."""
        return self.final.mean if self.final is not None and self.finished else None

    def to_json(self) -> str:
        """The JSON form (NaN kept as ``NaN``, as Python's json writes it)."""
        return json.dumps(self.model_dump(mode="python"), indent=2, allow_nan=True)


@dataclass(frozen=True)
class RunFields:
    """What a sweep's worker adds to the record that ``train`` writes: the run's sweep id and grid
    values, and whole-run timings measured from the worker's start of the run (its earlier parts
    included). Given to :func:`wnrl.train.train`, they are part of its one write of ``result.json``.

    :param id: the run's sweep id
    :param grid: its grid values
    :param seed: its seed
    :param env_id: the environment id
    :param algo: the algorithm
    :param norm: the normalization
    :param host: the machine
    :param started: ``time.time()`` when the worker started the run
    :param cpu_started: ``time.process_time()`` then
    :param earlier_wall: wall seconds of the run's earlier parts (a continued run)
    :param earlier_cpu: CPU seconds of the run's earlier parts
    """

    id: str
    grid: dict[str, Any]
    seed: int
    env_id: str
    algo: str
    norm: str
    host: str
    started: float
    cpu_started: float
    earlier_wall: float = 0.0
    earlier_cpu: float = 0.0

    def base(self) -> dict[str, Any]:
        """The run's identity, as every record of it (finished or failed) carries it."""
        return {
            "id": self.id,
            "grid": self.grid,
            "seed": self.seed,
            "env_id": self.env_id,
            "algo": self.algo,
            "norm": self.norm,
            "host": self.host,
        }

    def failed(self, error: str, tb: str = "", seconds: float | None = None) -> RunRecord:
        """The record of this run failed now.

        :param error: one-line error message
        :param tb: the traceback
        :param seconds: time spent before the failure (default: since ``started``)
        """
        spent = round(time.time() - self.started if seconds is None else seconds, 3)
        ended = time.strftime("%Y-%m-%dT%H:%M:%S")
        return RunRecord(status="failed", error=error, traceback=tb, seconds=spent, ended=ended, **self.base())

    def finish(self, record: RunRecord) -> RunRecord:
        """``record`` (what ``train`` measured) with these fields and the whole run's timings; a
        failed record instead when its final return or AUC is not finite (training diverged).

        :param record: the record ``train`` made
        """
        score, auc = record.score, record.auc
        if score is None or auc is None or not (math.isfinite(score) and math.isfinite(auc)):
            error = f"the final evaluation return ({score}) or the AUC ({auc}) is not finite: training diverged"
            return self.failed(f"FloatingPointError: {error}", "".join(traceback.format_stack()))
        return record.model_copy(
            update={
                **self.base(),
                "ended": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "wall_seconds": round(time.time() - self.started + self.earlier_wall, 3),
                "cpu_seconds": round(time.process_time() - self.cpu_started + self.earlier_cpu, 3),
            }
        )


class RecordError(ValueError):
    """A ``result.json`` that exists but cannot be read (truncated, wrong types)."""


def read_record(run_dir: Path) -> RunRecord | None:
    """The record in ``run_dir/result.json``; ``None`` when there is none.

    :param run_dir: a run directory
    :raises RecordError: when the file exists but is corrupt (one line naming it)
    """
    path = run_dir / RESULT_FILE
    try:
        data = read_json(path, lambda what: RecordError(f"{path}: {what}"))
    except FileNotFoundError:
        return None
    try:
        return RunRecord.model_validate(data)
    except ValidationError as e:
        raise RecordError(f"{path}: not a run record ({_first_error(e)})") from None


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg'].lower()}"


def write_record(run_dir: Path, record: RunRecord) -> Path:
    """Write ``run_dir/result.json`` atomically (the folder is created if needed).

    :param run_dir: the run directory
    :param record: the record
    :returns: the file's path
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RESULT_FILE
    atomic_write_text(path, record.to_json())
    return path


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """The complete checkpoints in ``directory`` as ``(step, zip_path)``, oldest first (a
    checkpoint's zip is written last, atomically, so a zip there is complete unless damaged)."""
    found = []
    for p in directory.glob("step_*.zip"):
        try:
            found.append((int(p.stem.split("_")[1]), p))
        except (IndexError, ValueError):
            continue
    return sorted(found)


def latest_checkpoint(directory: Path) -> tuple[int, Path] | None:
    """The newest complete checkpoint in ``directory`` as ``(step, zip_path)`` (``None``: none)."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def resumable(run_dir: Path) -> bool:
    """Whether ``run_dir`` is a run that stopped before its end and can continue: it has its
    ``config.yaml`` and a complete checkpoint, and no ``result.json``."""
    has_config = (run_dir / "config.yaml").is_file() and not (run_dir / RESULT_FILE).exists()
    return has_config and latest_checkpoint(run_dir / "checkpoints") is not None

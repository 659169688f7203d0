"""The typed rows of a sweep directory: one :class:`Row` per run of its index, read only through
:func:`wnrl.train.record.read_record`, and the :class:`Design` of the comparison.

A run is ``finished`` (a usable final score), ``failed``, ``missing`` (no ``result.json`` yet),
``corrupt`` (a ``result.json`` that cannot be read: :class:`~wnrl.train.record.RecordError`, e.g.
truncated or of the wrong types; the next ``wnrl compare`` deletes and reruns it) or ``invalid``
(finished without a finite final score, or with a curve that cannot be drawn).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from wnrl.config import ConfigError
from wnrl.harness.sweeps.index import read_index, run_dir_of
from wnrl.harness.sweeps.values import show
from wnrl.train.record import Curve, RecordError, RunRecord, read_record

__all__ = [
    "STATUSES",
    "STATUS_TEXT",
    "Design",
    "Row",
    "Status",
    "count_statuses",
    "curve_problem",
    "design",
    "finished",
    "load_rows",
    "select_rows",
]

#: What a run of the index is: ``finished`` (a usable score), ``failed``, ``missing`` (no
#: ``result.json``: not run yet), ``corrupt`` (a ``result.json`` that cannot be read; the next
#: ``wnrl compare`` deletes and reruns it), ``invalid`` (finished without a finite final score,
#: or with a malformed curve).
Status = Literal["finished", "failed", "missing", "corrupt", "invalid"]
STATUSES: tuple[Status, ...] = get_args(Status)
#: How the report writes each status.
STATUS_TEXT: dict[Status, str] = {
    "finished": "finished",
    "failed": "failed",
    "missing": "not run (yet)",
    "corrupt": "corrupt (will be rerun)",
    "invalid": "finished without a usable score or curve (left out)",
}


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One run of the sweep index with what its run directory holds.

    :param id: the run id
    :param grid: its grid values
    :param seed: its seed
    :param status: see :data:`Status`
    :param record: the run's record (``None`` when missing or corrupt)
    :param problem: why the record cannot be used (corrupt or invalid runs)
    """

    id: str
    grid: dict[str, Any]
    seed: int
    status: Status
    record: RunRecord | None = None
    problem: str | None = None

    @property
    def score(self) -> float:
        """The final return of a ``finished`` row.

        :raises ValueError: on a row that is not ``finished``
        """
        if self.status != "finished" or self.record is None or self.record.score is None:
            raise ValueError(f"run {self.id} is {self.status}: it has no score")
        return self.record.score

    @property
    def env_id(self) -> str:
        """The environment: the record's, else the grid's ``env.id``."""
        if self.record is not None and self.record.env_id:
            return self.record.env_id
        return show(self.grid.get("env.id", "unknown"))

    @property
    def error(self) -> str | None:
        """The error of a failed run, or the problem of a corrupt or invalid one."""
        return self.problem or (self.record.error if self.record is not None else None)

    def value(self, key: str) -> str:
        """The grid value of ``key``, as :func:`show` writes it.

        :param key: a grid key
        """
        return show(self.grid[key])


def curve_problem(curve: Curve | None) -> str | None:
    """What makes a finished run's curve unusable (``None``: nothing, or no curve).

    :param curve: the record's curve
    """
    if curve is None or not curve.steps:
        return None
    if len(curve.mean) != len(curve.steps) or (curve.std and len(curve.std) != len(curve.steps)):
        return f"its curve has {len(curve.steps)} steps but {len(curve.mean)} means and {len(curve.std)} stds"
    if any(b <= a for a, b in zip(curve.steps, curve.steps[1:])):
        return "its curve's steps are not increasing"
    if not all(math.isfinite(v) for v in [*curve.mean, *curve.std]):
        return "its curve holds a value that is not finite"
    return None


def _row(run: dict[str, Any], run_dir: Path) -> Row:
    """The :class:`Row` of one index entry ``{id, grid, seed}``.

    :param run: the index entry
    :param run_dir: its run directory
    """
    base = {"id": run["id"], "grid": run["grid"], "seed": run["seed"]}
    try:
        record = read_record(run_dir)
    except RecordError as e:
        return Row(**base, status="corrupt", problem=str(e))
    if record is None:
        return Row(**base, status="missing")
    if not record.finished:
        return Row(**base, status="failed", record=record)
    if record.score is None or not math.isfinite(record.score):
        return Row(**base, status="invalid", record=record, problem=f"finished, but its final score is {record.score}")
    bad_curve = curve_problem(record.curve)
    if bad_curve:
        return Row(**base, status="invalid", record=record, problem=f"finished, but {bad_curve}")
    return Row(**base, status="finished", record=record)


def load_rows(sweep_dir: Path) -> tuple[dict[str, Any], list[Row]]:
    """The index of a sweep directory and one :class:`Row` per run of it.

    :param sweep_dir: a directory written by ``wnrl compare``
    :raises ConfigError: when it is not a sweep directory, or its index.json is unreadable
    """
    fix = "give the directory that `wnrl compare` wrote (it holds index.json)"
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise ConfigError(f"{sweep_dir}: is a file, not a sweep directory; {fix}")
    index = read_index(sweep_dir) if sweep_dir.is_dir() else None
    if index is None:
        run = run_dir_of(sweep_dir)
        what = "a `wnrl train` run directory" if run is not None and run == sweep_dir.resolve() else ""
        raise ConfigError(f"{sweep_dir}: not a sweep directory ({what or 'no index.json'}); {fix}")
    return index, [_row(run, sweep_dir / "runs" / run["id"]) for run in index["runs"]]


# --------------------------------------------------------------------------------------------
# Design: methods and tasks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """What is compared: the method key, the cell keys and the methods.

    :param keys: the grid keys
    :param method_key: the grid key whose values are the methods (``None``: no grid)
    :param cell_keys: the other grid keys: their combinations are the cells (rliable's *tasks*, which
        the report calls tasks; not a :class:`wnrl.harness.run.task.Task`, a worker's job)
    :param methods: the methods, in the order first seen
    :param baseline: the method the others are compared with (``none``, else the first)
    """

    keys: list[str]
    method_key: str | None
    cell_keys: list[str]
    methods: list[str]
    baseline: str

    def method(self, row: Row) -> str:
        """The method of a row (``"all"`` without a method key).

        :param row: a row
        """
        return row.value(self.method_key) if self.method_key else "all"

    def cell(self, row: Row, without: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The cell of a row: its values of the cell keys (except ``without``).

        :param row: a row
        :param without: cell keys to leave out
        """
        return tuple(row.value(k) for k in self.cell_keys if k not in without)


def design(keys: list[str], rows: Sequence[Row]) -> Design:
    """The :class:`Design` of a sweep.

    :param keys: the grid keys
    :param rows: the rows
    """
    method_key = "agent.norm" if "agent.norm" in keys else (keys[0] if keys else None)
    methods = list(dict.fromkeys(r.value(method_key) for r in rows)) if method_key else ["all"]
    return Design(
        keys=keys,
        method_key=method_key,
        cell_keys=[k for k in keys if k != method_key],
        methods=methods,
        baseline="none" if "none" in methods or not methods else methods[0],
    )


def count_statuses(rows: Iterable[Row]) -> dict[str, int]:
    """How many rows have each status (every status, zeros included).

    :param rows: the rows
    """
    statuses = [r.status for r in rows]
    return {s: statuses.count(s) for s in STATUSES}


def finished(rows: Iterable[Row]) -> list[Row]:
    """The ``finished`` rows (those with a usable score), in order.

    :param rows: the rows
    """
    return [r for r in rows if r.status == "finished"]


def select_rows(rows: list[Row], grid_keys: list[str], only: dict[str, str], where: str) -> list[Row]:
    """The rows whose grid value of each key of ``only`` is its value (as :func:`show` writes it).

    :param rows: the rows
    :param grid_keys: the sweep's grid keys
    :param only: grid key -> value; not the key whose values are compared (see :func:`design`)
    :param where: the sweep directory, for messages
    :raises ConfigError: naming the grid keys, or the values a key has, when a filter matches nothing
    """
    compared = design(grid_keys, rows).method_key
    for key, value in only.items():
        if key not in grid_keys:
            raise ConfigError(
                f"{where}: --only {key}=...: not a grid key of this sweep; its grid keys: {', '.join(grid_keys)}"
            )
        if key == compared:
            others = ", ".join(k for k in grid_keys if k != key) or "none"
            raise ConfigError(
                f"{where}: --only {key}=...: the plan compares the values of {key}; "
                f"filter the other grid keys ({others})"
            )
        kept = [r for r in rows if r.value(key) == value]
        if not kept:
            values = ", ".join(dict.fromkeys(r.value(key) for r in rows))
            raise ConfigError(f"{where}: --only {key}={value}: no run has that value; the values of {key}: {values}")
        rows = kept
    return rows

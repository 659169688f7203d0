"""Normalised scores of a sweep's runs: the return ranges, the (seeds × tasks) score matrices the
statistics over tasks use, and the learning-rate sensitivity lines.

* A score ``x`` of an environment is normalised to ``(x - low) / (high - low)``: ``low``/``high``
  from :data:`KNOWN_RANGES` (e.g. CartPole-v1: 0..500, the return range), otherwise the min/max
  final return over all finished runs of that environment in the sweep.
* A method's (seeds × tasks) matrix uses the seeds that finished in every task (tasks where some
  method has no finished run are left out; :class:`CellScores` notes say so). A task (rliable's
  word, and the report's) is a *cell* here: a combination of the cell keys
  (:class:`~wnrl.harness.reports.rows.Design`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from wnrl.harness.reports.rows import Design, Row, finished
from wnrl.harness.stats.lr_range import lr_ranges
from wnrl.harness.sweeps.values import LR_KEY
from wnrl.registry import schedule_start

__all__ = [
    "KNOWN_RANGES",
    "Normalisation",
    "CellScores",
    "lr_by_env",
    "envs_of",
    "lr_sensitivity",
    "lr_value",
    "normalisations",
    "seed_matrix",
    "cell_scores",
]

#: Reference return ranges ``(low, high)`` that normalise an environment's scores: about a random
#: policy's return and about the best reachable (Acrobot's 0 and Pendulum's 0 are not reached,
#: Pendulum can fall below -1600), so normalised scores can leave [0, 1], and the optimality gap
#: is measured against ``high``. One table for the reports and the tuner (a tune file's
#: ``ranges`` add to it).
KNOWN_RANGES: dict[str, tuple[float, float]] = {
    "CartPole-v1": (0.0, 500.0),
    "CartPole-v0": (0.0, 200.0),
    "Acrobot-v1": (-500.0, 0.0),
    "MountainCar-v0": (-200.0, -100.0),
    "Pendulum-v1": (-1600.0, 0.0),
    "LunarLander-v3": (-300.0, 300.0),
}


@dataclass(frozen=True)
class Normalisation:
    """The score range of one environment: ``normalised = (x - low) / (high - low)``.

    :param low: the score that maps to 0
    :param high: the score that maps to 1
    :param how: where the range comes from
    """

    low: float
    high: float
    how: str

    def __call__(self, score: float) -> float:
        """``(score - low) / (high - low)``.

        :param score: a final return
        """
        return (score - self.low) / (self.high - self.low)


def normalisations(done: list[Row]) -> dict[str, Normalisation]:
    """The :class:`Normalisation` of each environment of the finished runs.

    :param done: the finished rows
    """
    out = {}
    for env in dict.fromkeys(r.env_id for r in done):
        if env in KNOWN_RANGES:
            out[env] = Normalisation(*KNOWN_RANGES[env], "known return range")
        else:
            vals = [r.score for r in done if r.env_id == env]
            lo, hi = min(vals), max(vals)
            out[env] = Normalisation(lo, hi if hi > lo else lo + 1.0, "min/max final return of its runs in this sweep")
    return out


def seed_matrix(cells: list[dict[int, float]]) -> tuple[NDArray[np.float64] | None, int]:
    """A (seeds × tasks) matrix from per-task ``{seed: score}``, using the seeds present in every
    task.

    :param cells: one ``{seed: score}`` per task
    :returns: ``(matrix or None, number of scores left out)``
    """
    total = sum(len(c) for c in cells)
    if not cells or any(not c for c in cells):
        return None, total
    seeds = sorted(set.intersection(*(set(c) for c in cells)))
    if not seeds:
        return None, total
    return np.array([[c[s] for c in cells] for s in seeds], dtype=float), total - len(seeds) * len(cells)


@dataclass
class CellScores:
    """The (seeds × tasks) score matrices of the methods, over the cells (tasks) every method finished.

    :param cells: the cells kept (cell key -> value)
    :param raw: method -> final returns
    :param normalised: method -> normalised final returns
    :param notes: what was left out, and why
    """

    cells: list[dict[str, str]]
    raw: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    normalised: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def cell_scores(d: Design, rows: list[Row], norm: dict[str, Normalisation]) -> CellScores:
    """The :class:`CellScores` of a sweep.

    :param d: the design
    :param rows: all rows
    :param norm: the normalisation of each environment
    """
    done = finished(rows)
    every = list(dict.fromkeys(d.cell(r) for r in rows))
    have = {(d.method(r), d.cell(r)) for r in done}
    kept = [c for c in every if all((m, c) in have for m in d.methods)]
    out = CellScores(cells=[dict(zip(d.cell_keys, c, strict=True)) for c in kept])
    if len(kept) < len(every):
        out.notes.append(
            f"{len(every) - len(kept)} of {len(every)} tasks are left out of the "
            "statistics over tasks: some method has no finished run there"
        )
    for m in d.methods:
        cells = [{r.seed: r for r in done if d.method(r) == m and d.cell(r) == c} for c in kept]
        raw, dropped = seed_matrix([{s: r.score for s, r in c.items()} for c in cells])
        normed, _ = seed_matrix([{s: norm[r.env_id](r.score) for s, r in c.items()} for c in cells])
        if raw is None or normed is None:
            continue
        out.raw[m], out.normalised[m] = raw, normed
        if dropped:
            out.notes.append(
                f"{m}: {dropped} runs left out of the statistics over tasks (their seed did not finish in every task)"
            )
    return out


def lr_sensitivity(d: Design, rows: list[Row], norm: dict[str, Normalisation]) -> dict[str, dict[str, Any]]:
    """Normalised final scores per method and learning rate: ``{line: {repr(lr): scores}}``.

    A line is a method (``"all"`` when the learning rate is the method key); ``lin_<x>`` schedules
    get their own line ``"<method> (lin schedule)"`` at ``x`` (:func:`wnrl.registry.schedule_start`).
    ``scores`` is a (seeds × tasks) matrix over the other task keys when one exists, else the list
    of the runs' scores. Learning rates that are not positive numbers are left out.

    :param d: the design
    :param rows: all rows
    :param norm: the normalisation of each environment
    """
    if LR_KEY not in d.keys:
        return {}
    done = finished(rows)
    out: dict[str, dict[str, Any]] = {}
    for m in ["all"] if d.method_key == LR_KEY else d.methods:
        for lr in dict.fromkeys(r.grid[LR_KEY] for r in rows):
            x = lr_value(lr)
            sub = [r for r in done if r.grid[LR_KEY] == lr and (m == "all" or d.method(r) == m)]
            if x is None or not sub:
                continue
            line = f"{m} (lin schedule)" if str(lr).startswith("lin_") else m
            out.setdefault(line, {})[repr(x)] = _lr_scores(d, sub, norm)
    return out


def lr_by_env(
    d: Design, rows: list[Row], norm: dict[str, Normalisation], reps: int, seed: int
) -> dict[str, dict[str, Any]]:
    """Per environment, when the runs have several: its own :func:`lr_sensitivity` and learning-rate
    ranges (``{env: {"sensitivity": ..., "ranges": ...}}``; empty otherwise). The pooled ones mix
    the environments; a learning rate that suits one may not suit the other.

    :param d: the design
    :param rows: all rows
    :param norm: the normalisation of each environment
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    """
    if LR_KEY not in d.keys:
        return {}
    per = {env: lr_sensitivity(d, [r for r in rows if r.env_id == env], norm) for env in envs_of(finished(rows))}
    per = {env: sensitivity for env, sensitivity in per.items() if sensitivity}
    if len(per) < 2:
        return {}
    return {
        env: {"sensitivity": sens, "ranges": {line: asdict(r) for line, r in lr_ranges(sens, reps, seed).items()}}
        for env, sens in per.items()
    }


def lr_value(lr: Any) -> float | None:
    """The learning rate a grid value starts at (``lin_<x>``: ``x``), or ``None`` when that is not a
    finite positive number (such values have no place on a log axis).

    :param lr: a grid value of the learning rate
    """
    x = schedule_start(lr)
    return x if x is not None and math.isfinite(x) and x > 0 else None


def envs_of(rows: list[Row]) -> list[str]:
    """The environments of ``rows``, in the order first seen.

    :param rows: rows (finished ones, so that each has its record's environment)
    """
    return list(dict.fromkeys(r.env_id for r in rows))


def _lr_scores(d: Design, sub: list[Row], norm: dict[str, Normalisation]) -> list[Any]:
    """The (seeds × tasks) matrix (as lists) of ``sub``'s normalised scores, else their list.

    :param d: the design
    :param sub: finished rows of one line and learning rate
    :param norm: the normalisation of each environment
    """
    every = list(dict.fromkeys(d.cell(r, (LR_KEY,)) for r in sub))
    cells = [{r.seed: norm[r.env_id](r.score) for r in sub if d.cell(r, (LR_KEY,)) == c} for c in every]
    mat, _ = seed_matrix(cells)
    return mat.tolist() if mat is not None else [norm[r.env_id](r.score) for r in sub]

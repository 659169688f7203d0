r"""Point statistics of score matrices: validation, the batched forms and the public estimators.

The public API is :mod:`wnrl.harness.stats.aggregate` (which re-exports these); this module holds the
estimators themselves, each in two forms that share one implementation:

* a **batched** form ``(B, runs, tasks) -> (B,)`` (or ``(B, K)``), used by the bootstrap of
  :mod:`wnrl.harness.stats.bootstrap` to evaluate all replications at once, and
* the **public** form on one ``(runs, tasks)`` matrix (:func:`iqm`, :func:`median`, ...), which is
  the batched form applied to a batch of one.

Definitions (rliable = Agarwal et al. 2021, ``rliable.metrics``), for a score matrix
:math:`x_{r,t}` with :math:`R` runs and :math:`T` tasks:

* IQM (rliable ``aggregate_iqm``): the 25% trimmed mean of all :math:`R T` values pooled.
* mean (rliable ``aggregate_mean``): :math:`\frac{1}{T}\sum_t \bar x_t` with
  :math:`\bar x_t = \frac{1}{R}\sum_r x_{r,t}`, the mean of per-task means.
* median (rliable ``aggregate_median``): :math:`\operatorname{median}_t \bar x_t`, the median of
  the per-task **mean** scores, *not* the median of the pooled runs x tasks.
* optimality gap (rliable ``aggregate_optimality_gap``):
  :math:`\frac{1}{RT}\sum_{r,t}\max(\gamma - x_{r,t}, 0)`.
* probability of improvement (rliable ``probability_of_improvement``): per task the
  Mann-Whitney :math:`U / (n m)`, averaged over tasks.
* run-score distribution (rliable's default performance profile):
  :math:`\frac{1}{RT}\sum_{r,t}[x_{r,t} > \tau]`.

wnrl adds: :func:`normalize_scores` (per-task min-max), the refusal of NaN/inf and empty input
(:func:`as_score_matrix`), and :func:`median_of_values` (the plain median of a group's values).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as _sps

__all__ = [
    "BATCHED",
    "STATISTICS",
    "STATISTIC_LABELS",
    "Batched",
    "Scores",
    "aggregate_batched",
    "as_score_matrices",
    "as_score_matrix",
    "check_finite",
    "iqm",
    "iqm_batched",
    "lookup",
    "mean",
    "mean_batched",
    "median",
    "median_batched",
    "median_of_values",
    "normalize_scores",
    "optimality_gap",
    "optimality_gap_batched",
    "poi_batched",
    "probability_of_improvement",
    "profile_batched",
    "statistic",
    "to_out",
]

#: ``(B, runs, tasks)`` batches -> ``(B,)`` or ``(B, K)``.
Batched = Callable[..., NDArray[np.float64]]
#: One score matrix, or a list/tuple of numpy score matrices (several samples).
Scores = ArrayLike | Sequence[NDArray[Any]]


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def check_finite(x: NDArray[np.float64], name: str, axes: tuple[str, ...]) -> None:
    """Refuse NaN and inf with a message saying how many there are and where the first one is.

    :param x: the array
    :param name: its name in the message
    :param axes: the names of its axes (e.g. ``("run", "task")``)
    :raises ValueError: when ``x`` holds a non-finite value
    """
    bad = ~np.isfinite(x)
    if bad.any():
        first = np.argwhere(bad)[0]
        where = ", ".join(f"{a} {int(i)}" for a, i in zip(axes, first, strict=True))
        n_nan = int(np.isnan(x).sum())
        n_inf = int(bad.sum()) - n_nan
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite value(s) (first at {where}); "
            "wnrl does not drop or impute silently: remove failed runs or impute explicitly "
            "(and report it) before computing statistics"
        )


def as_score_matrix(scores: ArrayLike, name: str = "scores") -> NDArray[np.float64]:
    """Validate and convert scores to a float ``(runs, tasks)`` matrix.

    :param scores: array of shape ``(runs, tasks)``, or ``(runs,)`` for a single task.
    :param name: name used in error messages.
    :returns: a float64 array of shape ``(runs, tasks)`` (a copy only when conversion needs one).
    :raises ValueError: if the input is empty, not 1-D/2-D, or holds NaN/inf values.
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be a (runs, tasks) matrix or a 1-D vector of runs, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}): need at least one run and one task")
    check_finite(x, name, ("run", "task"))
    return x


def as_score_matrices(scores: Scores, name: str = "scores") -> list[NDArray[np.float64]]:
    """One or several validated score matrices; a list/tuple of numpy arrays means several samples.

    :param scores: a score matrix, or a list/tuple of numpy score matrices
    :param name: name used in error messages
    :returns: the matrices (one element for a single matrix)
    :raises ValueError: on bad matrices or when their task counts differ
    """
    if isinstance(scores, (list, tuple)) and len(scores) > 0 and all(isinstance(s, np.ndarray) for s in scores):
        mats = [as_score_matrix(s, f"{name}[{i}]") for i, s in enumerate(scores)]
        if len({m.shape[1] for m in mats}) != 1:
            shapes = [m.shape for m in mats]
            raise ValueError(f"{name}: all matrices need the same number of tasks, got {shapes}")
        return mats
    return [as_score_matrix(scores, name)]


def to_out(v: ArrayLike) -> Any:
    """Scalar results as Python floats, vector results as float arrays.

    :param v: a 0-d or 1-d result
    """
    a = np.asarray(v, dtype=np.float64)
    return float(a) if a.ndim == 0 else a


# --------------------------------------------------------------------------------------------
# Batched statistics: inputs (B, runs, tasks) -> (B,) or (B, K)
# --------------------------------------------------------------------------------------------


def _flat(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(B, runs, tasks) -> (B, runs * tasks)``: all runs x tasks pooled per replication."""
    return x.reshape(x.shape[0], -1)


def mean_batched(x: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""rliable's mean: :math:`\frac{1}{T}\sum_t \bar x_t`, the mean of per-task means.

    :param x: ``(B, runs, tasks)``
    """
    return np.asarray(x.mean(axis=1).mean(axis=1), dtype=np.float64)


def median_batched(x: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""rliable's median: :math:`\operatorname{median}_t \bar x_t`, the median of per-task means.

    :param x: ``(B, runs, tasks)``
    """
    return np.asarray(np.median(x.mean(axis=1), axis=1), dtype=np.float64)


def iqm_batched(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """rliable's IQM: the 25% trimmed mean of all runs x tasks pooled.

    :param x: ``(B, runs, tasks)``
    """
    return np.asarray(_sps.trim_mean(_flat(x), 0.25, axis=1), dtype=np.float64)


def optimality_gap_batched(x: NDArray[np.float64], gamma: float = 1.0) -> NDArray[np.float64]:
    """rliable's optimality gap: ``mean(max(gamma - x, 0))`` over all runs x tasks.

    :param x: ``(B, runs, tasks)``
    :param gamma: the target score
    """
    return np.maximum(gamma - _flat(x), 0.0).mean(axis=1)


def poi_batched(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""rliable's probability of improvement, batched: :math:`\frac{1}{T}\sum_t U_t / (n m)`.

    Per task: :math:`U_x = R_x - n(n+1)/2` with :math:`R_x` the sum of X's mid-ranks in the pooled
    sample (mid-ranks count each tie as 1/2).

    :param x: ``(B, n, tasks)``
    :param y: ``(B, m, tasks)``
    """
    n, m = x.shape[1], y.shape[1]
    ranks = _sps.rankdata(np.concatenate([x, y], axis=1), method="average", axis=1)
    u = ranks[:, :n, :].sum(axis=1) - n * (n + 1) / 2.0
    return np.asarray((u / (n * m)).mean(axis=1), dtype=np.float64)


def profile_batched(x: NDArray[np.float64], taus: NDArray[np.float64]) -> NDArray[np.float64]:
    r"""rliable's run-score distribution: :math:`\frac{1}{RT}\sum_{r,t}[x_{r,t} > \tau]` per tau.

    :param x: ``(B, runs, tasks)``
    :param taus: ``(K,)`` thresholds
    :returns: ``(B, K)``
    """
    return np.asarray((_flat(x)[:, :, None] > taus[None, None, :]).mean(axis=1), dtype=np.float64)


def aggregate_batched(x: NDArray[np.float64], gamma: float = 1.0) -> NDArray[np.float64]:
    """Median, IQM, mean and optimality gap stacked (the order of ``stats.METRICS``).

    :param x: ``(B, runs, tasks)``
    :param gamma: target of the optimality gap
    :returns: ``(B, 4)``
    """
    return np.stack([median_batched(x), iqm_batched(x), mean_batched(x), optimality_gap_batched(x, gamma)], axis=1)


def _point(batched: Batched, *mats: NDArray[np.float64]) -> Any:
    """The batched statistic on a batch of one: the statistic of the data itself.

    :param batched: the batched form
    :param mats: validated ``(runs, tasks)`` matrices
    """
    return to_out(np.asarray(batched(*(m[None] for m in mats)))[0])


# --------------------------------------------------------------------------------------------
# Point statistics
# --------------------------------------------------------------------------------------------


def iqm(scores: ArrayLike) -> float:
    """Interquartile mean (rliable): the 25% trimmed mean over all runs x tasks (pooled).

    Sort the ``N`` values, drop the lowest and highest ``floor(0.25 N)`` and average the rest
    (``scipy.stats.trim_mean(x, 0.25)``). With fewer than 4 values nothing is trimmed.

    :param scores: score matrix ``(runs, tasks)`` or vector of runs.
    :returns: the IQM.
    """
    return float(_point(iqm_batched, as_score_matrix(scores)))


def mean(scores: ArrayLike) -> float:
    r"""Mean (rliable): the mean of per-task means, :math:`\frac{1}{T}\sum_t \bar x_t`.

    A matrix has the same number of runs in every task, so this equals the mean of all entries.

    :param scores: score matrix ``(runs, tasks)`` or vector of runs.
    :returns: the mean.
    """
    return float(_point(mean_batched, as_score_matrix(scores)))


def median(scores: ArrayLike) -> float:
    r"""Median (rliable): the median over tasks of the per-task mean scores.

    :math:`\operatorname{median}_t \bar x_t` with :math:`\bar x_t = \frac{1}{R}\sum_r x_{r,t}`;
    e.g. ``[[0, 0, 10], [1, 1, 11]]`` has per-task means 0.5, 0.5, 10.5 and median 0.5 (the
    median of the 6 pooled values would be 1.0). A 1-D vector is one task: its median is its mean.
    For the median of a group's values use :func:`median_of_values`.

    :param scores: score matrix ``(runs, tasks)`` or vector of runs.
    :returns: the median of per-task means.
    """
    return float(_point(median_batched, as_score_matrix(scores)))


def median_of_values(values: ArrayLike) -> float:
    """The plain median of all values pooled (wnrl; not rliable's aggregate median).

    Describes one group of runs (e.g. the seeds of one setting): ``numpy.median`` of the values.

    :param values: vector of per-run values or a ``(runs, tasks)`` matrix (pooled)
    :returns: the median
    """
    return float(np.median(as_score_matrix(values, "values")))


def optimality_gap(scores: ArrayLike, gamma: float = 1.0) -> float:
    """Optimality gap (rliable): ``mean(max(gamma - x, 0))`` over all runs x tasks.

    How far, on average, runs fall short of the target ``gamma``; scores above the target earn no
    credit. Meant for normalised scores (see :func:`normalize_scores`). Lower is better.

    :param scores: normalised score matrix ``(runs, tasks)`` or vector of runs.
    :param gamma: target score (1.0 = the ``high`` reference of the normalisation).
    :returns: the optimality gap.
    """
    gap = functools.partial(optimality_gap_batched, gamma=float(gamma))
    return float(_point(gap, as_score_matrix(scores)))


def normalize_scores(scores: ArrayLike, low: ArrayLike, high: ArrayLike) -> NDArray[np.float64]:
    """Per-task min-max normalisation (wnrl): ``(x - low[t]) / (high[t] - low[t])``.

    E.g. ``low`` = random-policy return and ``high`` = a reference return per task, so that 0 is
    random and 1 is the reference. Scores may fall outside [0, 1].

    :param scores: score matrix ``(runs, tasks)`` (a 1-D vector is one task; result is 2-D).
    :param low: scalar or per-task array of shape ``(tasks,)``.
    :param high: scalar or per-task array of shape ``(tasks,)``; ``high != low`` for every task.
    :returns: the normalised ``(runs, tasks)`` matrix.
    :raises ValueError: on shape mismatch, ``high == low`` or non-finite references.
    """
    x = as_score_matrix(scores)
    tasks = x.shape[1]
    lo = _reference(low, "low", tasks)
    hi = _reference(high, "high", tasks)
    span = hi - lo
    if np.any(span == 0):
        raise ValueError(f"high == low for task(s) {np.flatnonzero(span == 0).tolist()}")
    return (x - lo[None, :]) / span[None, :]


def _reference(ref: ArrayLike, name: str, tasks: int) -> NDArray[np.float64]:
    """A scalar or per-task reference, validated and broadcast to ``(tasks,)``.

    :param ref: the reference
    :param name: its name in messages
    :param tasks: the number of tasks
    """
    r = np.asarray(ref, dtype=np.float64)
    if r.ndim > 1 or (r.ndim == 1 and r.shape[0] != tasks):
        raise ValueError(f"{name} must be a scalar or have shape ({tasks},), got {r.shape}")
    check_finite(np.atleast_1d(r), name, ("task",))
    return np.broadcast_to(r, (tasks,))


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    r"""Probability of improvement of method X over method Y (rliable).

    Per task ``t``: :math:`P(X_t > Y_t) = \frac{1}{nm}\sum_{i,j} S(x_{it}, y_{jt})` with
    :math:`S(a, b) = 1` if ``a > b``, ``1/2`` if ``a == b``, 0 otherwise: the Mann-Whitney U
    statistic of X divided by ``n m``. The result is the average over tasks. 0.5 means no
    difference; it says how often X beats Y, not by how much.

    :param x: scores of X, ``(n_runs, tasks)``.
    :param y: scores of Y, ``(m_runs, tasks)``; same number of tasks, run counts may differ.
    :returns: P(X > Y) in [0, 1].
    """
    mats = as_score_matrices([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    return float(_point(poi_batched, *mats))


#: Public statistic -> its batched form (the bootstrap evaluates these on all replications at once).
BATCHED: dict[Callable[..., Any], Batched] = {
    iqm: iqm_batched,
    mean: mean_batched,
    median: median_batched,
    optimality_gap: optimality_gap_batched,
    probability_of_improvement: poi_batched,
}

#: The statistics a figure can show across runs, by name (the rliable estimators above).
STATISTICS: dict[str, Callable[[ArrayLike], float]] = {"iqm": iqm, "mean": mean, "median": median}
#: How each name of :data:`STATISTICS` is written in a figure or a table.
STATISTIC_LABELS: dict[str, str] = {"iqm": "IQM", "mean": "mean", "median": "median"}

T = TypeVar("T")


def lookup(table: Mapping[str, T], name: str, what: str = "statistic") -> T:
    """``table[name]``, or a ``ValueError`` listing the valid names.

    :param table: name -> value
    :param name: the name asked for
    :param what: what the name is (in the message)
    """
    if name not in table:
        raise ValueError(f"{what} must be one of {sorted(table)}, got {name!r}")
    return table[name]


def statistic(name: str) -> Callable[[ArrayLike], float]:
    """The statistic of :data:`STATISTICS` called ``name``.

    :param name: ``"iqm"``, ``"mean"`` or ``"median"``
    :raises ValueError: on another name
    """
    return lookup(STATISTICS, name)

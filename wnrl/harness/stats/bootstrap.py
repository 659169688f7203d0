r"""Bootstrap confidence intervals: rliable's stratified bootstrap, and wnrl's curve bands.

The public API is :mod:`wnrl.harness.stats.aggregate` (which re-exports these).

* **Stratified bootstrap** (rliable ``StratifiedBootstrap`` with the ``percentile`` method):
  each replication resamples, independently for every task, that task's runs with replacement
  (run counts kept), evaluates the statistic, and the interval is the
  :math:`\alpha/2` and :math:`1-\alpha/2` quantiles of the replications, :math:`\alpha = 1 -`
  confidence. Runs never move between tasks. rliable's default is 50 000 replications; wnrl's is
  2 000.
* **Curve bands** (wnrl, :func:`curve_ci`): a learning curve ``(runs, points)`` of one task is
  bootstrapped by resampling *whole runs* (the same runs at every point, as rliable's
  sample-efficiency curves do within a task), giving a pointwise percentile interval.
* **Sensitivity intervals** (wnrl, :func:`sensitivity_ci`): the stratified interval of a statistic
  at each value of a swept hyperparameter.

All resampling draws from ``np.random.default_rng(seed)``: the same seed, data and number of
replications give bit-identical intervals. The point estimate is always the statistic of the
original data, never a bootstrap average. Replications are evaluated in chunks of at most
:data:`MAX_BOOTSTRAP_ELEMENTS` resampled values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as _sps

from wnrl.harness.stats.metrics import (
    BATCHED,
    Batched,
    Scores,
    as_score_matrices,
    as_score_matrix,
    check_finite,
    lookup,
    poi_batched,
    profile_batched,
    statistic,
    to_out,
)

__all__ = [
    "CURVE_STATISTICS",
    "MAX_BOOTSTRAP_ELEMENTS",
    "CurveBand",
    "Interval",
    "bootstrap",
    "check_confidence",
    "curve_ci",
    "performance_profile",
    "probability_of_improvement_ci",
    "sensitivity_ci",
    "stratified_bootstrap_ci",
]

#: ``(point, lo, hi)``: floats for a scalar statistic, arrays for a vector-valued one.
Interval = tuple[Any, Any, Any]
Matrices = list[NDArray[np.float64]]
Draw = Callable[[int], Matrices]

#: The most resampled values held in memory at once (8 bytes each: 32 MB): the replications are
#: drawn and evaluated in chunks of ``max(1, MAX_BOOTSTRAP_ELEMENTS // values per replication)``.
#: The chunking changes neither the random draws nor the result, only the peak memory.
MAX_BOOTSTRAP_ELEMENTS = 4_000_000

#: Statistics across runs at each point of a learning curve: ``(B, runs, points) -> (B, points)``.
#: One task per curve, so ``"median"`` is the median of the runs at each point (rliable's
#: aggregate median of a single task would be its mean).
CURVE_STATISTICS: dict[str, Batched] = {
    "iqm": lambda a: np.asarray(_sps.trim_mean(a, 0.25, axis=1), dtype=np.float64),
    "mean": lambda a: a.mean(axis=1),
    "median": lambda a: np.median(a, axis=1),
}


@dataclass(frozen=True)
class CurveBand:
    """A learning curve's statistic across runs with its pointwise confidence band.

    :param steps: the step of each point, ``(points,)``
    :param point: the statistic of the runs at each point
    :param lo: lower end of the band
    :param hi: upper end of the band
    :param runs: the number of runs
    """

    steps: NDArray[np.float64]
    point: NDArray[np.float64]
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]
    runs: int


# --------------------------------------------------------------------------------------------
# Core
# --------------------------------------------------------------------------------------------


def check_confidence(confidence: float, reps: int) -> None:
    """Refuse a confidence outside (0, 1) and a non-positive or fractional number of reps.

    :param confidence: interval coverage
    :param reps: bootstrap replications
    :raises ValueError: on a bad value
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if int(reps) != reps or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps}")


def _stratified_draw(mats: Matrices, rng: np.random.Generator) -> Draw:
    """Draws of ``b`` replications: within each task (column) ``t``, ``n`` runs with replacement
    from that task's own ``n`` runs (``x[idx[., i, t], t]`` never mixes tasks).

    :param mats: the matrices (each resampled independently)
    :param rng: the generator
    """
    tasks = mats[0].shape[1]
    cols = np.arange(tasks)[None, None, :]

    def draw(b: int) -> Matrices:
        return [m[rng.integers(0, m.shape[0], size=(b, m.shape[0], tasks)), cols] for m in mats]

    return draw


def _whole_run_draw(mats: Matrices, rng: np.random.Generator) -> Draw:
    """Draws of ``b`` replications resampling whole rows (runs): the same runs in every column.

    :param mats: the matrices (each resampled independently)
    :param rng: the generator
    """

    def draw(b: int) -> Matrices:
        return [m[rng.integers(0, m.shape[0], size=(b, m.shape[0]))] for m in mats]

    return draw


def bootstrap(
    mats: Matrices,
    batched: Batched,
    reps: int,
    confidence: float,
    seed: int | None,
    *,
    whole_runs: bool = False,
) -> Interval:
    """Percentile interval of ``batched`` over bootstrap replications of ``mats``.

    :param mats: validated ``(runs, tasks)`` matrices (resampled independently of each other)
    :param batched: the statistic, ``(B, runs, tasks)`` batches -> ``(B,)`` or ``(B, K)``
    :param reps: replications
    :param confidence: interval coverage
    :param seed: RNG seed
    :param whole_runs: resample whole runs (curves) instead of runs within each task
    :returns: ``(point, lo, hi)``
    """
    check_confidence(confidence, reps)
    point = np.asarray(batched(*(m[None] for m in mats)), dtype=np.float64)[0]
    rng = np.random.default_rng(seed)
    draw = (_whole_run_draw if whole_runs else _stratified_draw)(mats, rng)
    chunk = int(max(1, min(reps, MAX_BOOTSTRAP_ELEMENTS // sum(m.size for m in mats))))
    samples, done = [], 0
    while done < reps:
        b = min(chunk, reps - done)
        samples.append(np.asarray(batched(*draw(b)), dtype=np.float64).reshape((b,) + point.shape))
        done += b
    alpha = 1.0 - confidence
    lo, hi = np.quantile(np.concatenate(samples, axis=0), [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    return to_out(point), to_out(lo), to_out(hi)


def _resolve(statistic: Callable[..., Any], vectorized: bool | None) -> Batched:
    """Find a batched form of ``statistic``; fall back to a per-replication loop.

    :param statistic: a statistic of one or several ``(runs, tasks)`` matrices
    :param vectorized: see :func:`stratified_bootstrap_ci`
    """
    if vectorized:
        return statistic
    base, args, kwargs = statistic, (), {}
    if isinstance(statistic, functools.partial):
        base, args, kwargs = statistic.func, statistic.args, dict(statistic.keywords)
    if vectorized is None and base in BATCHED:
        return functools.partial(BATCHED[base], *args, **kwargs)

    def looped(*batches: NDArray[np.float64]) -> NDArray[np.float64]:
        out = [np.asarray(statistic(*(b[i] for b in batches)), dtype=np.float64) for i in range(batches[0].shape[0])]
        return np.stack(out)

    return looped


# --------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------


def stratified_bootstrap_ci(
    scores: Scores,
    statistic: Callable[..., Any],
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    *,
    vectorized: bool | None = None,
) -> Interval:
    """Percentile confidence interval from a stratified bootstrap over runs (rliable).

    Each replication resamples, independently for every task (column), that task's runs with
    replacement (the number of runs is kept), computes ``statistic`` on the resampled matrix, and
    the interval is the ``(1 - confidence)/2`` and ``(1 + confidence)/2`` percentiles of the
    replications. Runs are never moved between tasks. With several matrices (a list/tuple of
    numpy arrays: e.g. ``[x, y]`` for ``probability_of_improvement``) each one is resampled
    independently in the same stratified way and ``statistic(*matrices)`` is called.

    With a single run per task every replication equals the data and the interval collapses to
    the point (which honestly reflects that a bootstrap cannot see variability it has no sample of).

    :param scores: a score matrix ``(runs, tasks)`` (1-D = one task), or a list/tuple of numpy
        score matrices with the same number of tasks (run counts may differ).
    :param statistic: function of one (or several) ``(runs, tasks)`` matrices returning a scalar
        or 1-D array. The statistics of :mod:`wnrl.harness.stats.aggregate` (also as ``functools.partial``)
        are evaluated vectorised over all replications; other callables are looped unless
        ``vectorized``.
    :param reps: number of bootstrap replications.
    :param confidence: coverage of the interval, in (0, 1).
    :param seed: seed for ``np.random.default_rng``; same seed, same interval.
    :param vectorized: ``True`` if ``statistic`` accepts ``(B, runs, tasks)`` batches and returns
        ``(B,)`` or ``(B, K)``; ``False`` forces the loop; ``None`` (default) detects the
        statistics of :mod:`wnrl.harness.stats.aggregate`.
    :returns: ``(point, lo, hi)``; ``point`` is the statistic of the original data. Floats for a
        scalar statistic, arrays for a vector-valued one.
    :raises ValueError: empty input, NaN/inf, mismatched task counts, bad ``confidence``/``reps``.
    """
    return bootstrap(as_score_matrices(scores), _resolve(statistic, vectorized), reps, confidence, seed)


def probability_of_improvement_ci(
    x: ArrayLike,
    y: ArrayLike,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> Interval:
    """Probability of improvement of X over Y with a stratified bootstrap interval (rliable).

    X's and Y's runs are resampled independently within each task.

    :param x: scores of X, ``(n_runs, tasks)``.
    :param y: scores of Y, ``(m_runs, tasks)``.
    :param reps: bootstrap replications.
    :param confidence: interval coverage.
    :param seed: RNG seed.
    :returns: ``(point, lo, hi)``.
    """
    mats = as_score_matrices([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    return bootstrap(mats, poi_batched, reps, confidence, seed)


def performance_profile(
    scores: ArrayLike,
    taus: ArrayLike,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    r"""Run-score distribution (rliable's performance profile) with stratified bootstrap bands.

    For each threshold :math:`\tau`: :math:`\frac{1}{RT}\sum_{r,t}[x_{r,t} > \tau]`, the fraction
    of all runs x tasks whose score is strictly greater than :math:`\tau`.

    :param scores: score matrix ``(runs, tasks)`` (normalised scores for multi-task profiles).
    :param taus: 1-D thresholds.
    :param reps: bootstrap replications.
    :param confidence: band coverage.
    :param seed: RNG seed.
    :returns: ``(frac, lo, hi)``, each of shape ``(len(taus),)``.
    """
    t = np.asarray(taus, dtype=np.float64).reshape(-1)
    if t.size == 0:
        raise ValueError("taus is empty")
    check_finite(t[None, :], "taus", ("row", "tau"))
    out = bootstrap([as_score_matrix(scores)], functools.partial(profile_batched, taus=t), reps, confidence, seed)
    frac, lo, hi = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in out)
    return frac, lo, hi


def curve_ci(
    steps: ArrayLike,
    returns: ArrayLike,
    statistic: str = "iqm",
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    name: str = "returns",
) -> CurveBand:
    r"""A learning curve's statistic across runs at each point, with a bootstrap band (wnrl).

    At each point :math:`k`: :math:`s_k = f(y_{1,k}, \dots, y_{R,k})` with :math:`f` the
    ``statistic`` across runs (:data:`CURVE_STATISTICS`). The band resamples *whole runs* with
    replacement (the same runs at every point, so resampled curves stay coherent) and takes the
    pointwise percentile interval of :math:`s_k` over the replications.

    :param steps: the step of each point, ``(points,)``
    :param returns: ``(runs, points)``; a 1-D array is a single run (its band is the line)
    :param statistic: ``"iqm"``, ``"mean"`` or ``"median"`` across runs
    :param reps: bootstrap replications
    :param confidence: band coverage
    :param seed: RNG seed
    :param name: the curve's name in error messages
    :returns: the :class:`CurveBand`
    :raises ValueError: on NaN/inf, empty input, a points/steps mismatch or an unknown statistic
    """
    fn = lookup(CURVE_STATISTICS, statistic)
    s = np.asarray(steps, dtype=np.float64).reshape(-1)
    check_finite(s[None, :], f"steps of {name}", ("row", "point"))
    r = as_score_matrix(np.atleast_2d(np.asarray(returns, dtype=np.float64)), name)
    if r.shape[1] != s.size:
        raise ValueError(f"{name}: returns have {r.shape[1]} points, steps has {s.size}")
    point, lo, hi = bootstrap([r], fn, reps, confidence, seed, whole_runs=True)
    return CurveBand(
        steps=s, point=np.atleast_1d(point), lo=np.atleast_1d(lo), hi=np.atleast_1d(hi), runs=int(r.shape[0])
    )


def sensitivity_ci(
    per_x: Mapping[float, ArrayLike],
    statistic_name: str = "iqm",
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    name: str = "scores",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The stratified interval of a statistic at each value ``x`` of a hyperparameter (wnrl).

    :param per_x: ``{x: scores}``; scores are a vector of runs or a ``(runs, tasks)`` matrix
    :param statistic_name: ``"iqm"``, ``"mean"`` or ``"median"`` (:data:`~wnrl.harness.stats.metrics.STATISTICS`)
    :param reps: bootstrap replications
    :param confidence: interval coverage
    :param seed: RNG seed (the same for every ``x``)
    :param name: the series' name in error messages
    :returns: ``(xs, estimates)``: the sorted x values and a ``(len(xs), 3)`` array of
        ``(point, lo, hi)`` rows
    """
    fn = statistic(statistic_name)
    by_x = {float(x): v for x, v in per_x.items()}
    xs = np.array(sorted(by_x), dtype=np.float64)
    est = [
        stratified_bootstrap_ci(as_score_matrix(by_x[x], f"{name} at x={x:g}"), fn, reps, confidence, seed) for x in xs
    ]
    return xs, np.array(est, dtype=np.float64).reshape(len(xs), 3)

r"""Aggregate statistics with stratified-bootstrap confidence intervals (rliable-style).

The public import path of wnrl's statistics: it re-exports the estimators of
:mod:`wnrl.harness.stats.metrics` and the intervals of :mod:`wnrl.harness.stats.bootstrap`, and holds the
summaries over methods (:func:`aggregate`, :func:`aggregate_methods`, ...). numpy/scipy only.

Conventions
-----------
* A **score matrix** is an array of shape ``(runs, tasks)``: one row per independent run (seed),
  one column per task (environment / noise setting). A 1-D array is read as ``(runs,)`` of a
  single task, i.e. shape ``(runs, 1)``. Below, :math:`x_{r,t}` with :math:`R` runs and
  :math:`T` tasks, and :math:`\bar x_t = \frac{1}{R}\sum_r x_{r,t}` the mean of task :math:`t`.
* A **score dict** maps a method label to its score matrix.
* A **learning curve** is an array ``(runs, points)`` with a ``steps`` vector of length ``points``.

What is rliable's (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice",
``rliable.metrics`` / ``rliable.library``), with the same definitions
----------------------------------------------------------------------------------------------
* :func:`iqm`: interquartile mean, the 25% trimmed mean of all :math:`RT` values pooled
  (``aggregate_iqm``).
* :func:`mean`: the mean of per-task means :math:`\frac{1}{T}\sum_t \bar x_t` (``aggregate_mean``).
* :func:`median`: the median of per-task means :math:`\operatorname{median}_t \bar x_t`
  (``aggregate_median``), *not* the median of all runs x tasks pooled.
* :func:`optimality_gap`: :math:`\frac{1}{RT}\sum_{r,t}\max(\gamma - x_{r,t}, 0)`
  (``aggregate_optimality_gap``).
* :func:`probability_of_improvement`: per task Mann-Whitney :math:`U/(nm)` (ties count 1/2),
  averaged over tasks (``probability_of_improvement``).
* :func:`performance_profile`: the run-score distribution, the fraction of all runs x tasks
  with score :math:`> \tau` (``create_performance_profile`` with its default
  ``use_score_distribution=True``).
* :func:`stratified_bootstrap_ci`: the stratified bootstrap (runs resampled within each task)
  with percentile intervals (``StratifiedBootstrap``, ``method="percentile"``); :func:`aggregate`
  evaluates its four metrics on the same replications, as ``get_interval_estimates`` does.
  Default 2 000 replications (rliable: 50 000).

What wnrl adds
--------------
* :func:`normalize_scores`: per-task min-max normalisation :math:`(x - low_t)/(high_t - low_t)`.
* :func:`curve_ci`: pointwise bands of learning curves resampling whole runs;
  :func:`sensitivity_ci`: an interval per hyperparameter value.
* :func:`summarize_runs`: n, mean, std, the plain median of the values
  (:func:`median_of_values`), min, max and the IQM with its interval, of one group of runs.
* The refusal of NaN/inf and empty input (below), and :data:`MAX_BOOTSTRAP_ELEMENTS`, the
  memory cap of the vectorised bootstrap.

Missing values
--------------
Every function **refuses** non-finite scores (NaN or +/-inf) with a ``ValueError`` that says how many
there are and where the first one is. Dropping or imputing silently would change the statistic
behind the reader's back (a crashed seed is not a run that scored the average); drop failed runs
or impute explicitly, and report that you did, before calling these functions. Empty input is
refused the same way.

Randomness
----------
All resampling draws from ``np.random.default_rng(seed)``: the same seed, data and number of
replications give bit-identical intervals. The point estimate is always the statistic of the
original data, never a bootstrap average.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from wnrl.harness.stats.bootstrap import (
    CURVE_STATISTICS,
    MAX_BOOTSTRAP_ELEMENTS,
    CurveBand,
    Interval,
    bootstrap,
    curve_ci,
    performance_profile,
    probability_of_improvement_ci,
    sensitivity_ci,
    stratified_bootstrap_ci,
)
from wnrl.harness.stats.metrics import (
    STATISTIC_LABELS,
    STATISTICS,
    aggregate_batched,
    as_score_matrix,
    iqm,
    iqm_batched,
    mean,
    median,
    median_of_values,
    normalize_scores,
    optimality_gap,
    probability_of_improvement,
    statistic,
)

__all__ = [
    "CURVE_STATISTICS",
    "Interval",
    "CurveBand",
    "MAX_BOOTSTRAP_ELEMENTS",
    "METRICS",
    "STATISTICS",
    "STATISTIC_LABELS",
    "as_score_matrix",
    "iqm",
    "mean",
    "median",
    "median_of_values",
    "optimality_gap",
    "normalize_scores",
    "statistic",
    "stratified_bootstrap_ci",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "performance_profile",
    "curve_ci",
    "sensitivity_ci",
    "aggregate",
    "aggregate_methods",
    "pairwise_probability_of_improvement",
    "performance_profiles",
    "summarize_runs",
]

#: Names of the metrics returned by :func:`aggregate`, in display order (the columns of
#: ``metrics.aggregate_batched``).
METRICS: tuple[str, ...] = ("median", "iqm", "mean", "optimality_gap")


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


def aggregate(
    scores: ArrayLike,
    reps: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
    gamma: float = 1.0,
) -> dict[str, Interval]:
    """Median, IQM, mean and optimality gap, each with a stratified bootstrap interval.

    All four metrics are computed on the same bootstrap replications (as rliable does).

    :param scores: score matrix ``(runs, tasks)`` (normalised, for the optimality gap to mean
        anything).
    :param reps: bootstrap replications.
    :param seed: RNG seed.
    :param confidence: interval coverage.
    :param gamma: target of the optimality gap.
    :returns: ``{"median", "iqm", "mean", "optimality_gap"}`` -> ``(point, lo, hi)`` floats.
    """
    point, lo, hi = bootstrap(
        [as_score_matrix(scores)], functools.partial(aggregate_batched, gamma=float(gamma)), reps, confidence, seed
    )
    return {k: (float(point[i]), float(lo[i]), float(hi[i])) for i, k in enumerate(METRICS)}


def _check_dict(score_dict: Mapping[str, ArrayLike], name: str) -> None:
    """Refuse an empty score dict.

    :param score_dict: method -> scores
    :param name: its name in the message
    """
    if not score_dict:
        raise ValueError(f"{name} is empty: need at least one method")


def aggregate_methods(
    score_dict: Mapping[str, ArrayLike],
    reps: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
    gamma: float = 1.0,
) -> dict[str, dict[str, Interval]]:
    """:func:`aggregate` for each method, arranged ``{metric: {label: (point, lo, hi)}}``.

    The output feeds :func:`wnrl.harness.reports.plots.plot_intervals` directly. Each method uses the
    same ``seed``, so its interval does not depend on which other methods are in the dict.

    :param score_dict: method label -> score matrix ``(runs, tasks)``.
    :param reps: bootstrap replications.
    :param seed: RNG seed.
    :param confidence: interval coverage.
    :param gamma: target of the optimality gap.
    :returns: ``{metric: {label: (point, lo, hi)}}`` for the metrics in :data:`METRICS`.
    """
    _check_dict(score_dict, "score_dict")
    out: dict[str, dict[str, Interval]] = {k: {} for k in METRICS}
    for label, scores in score_dict.items():
        for k, v in aggregate(scores, reps=reps, seed=seed, confidence=confidence, gamma=gamma).items():
            out[k][label] = v
    return out


def pairwise_probability_of_improvement(
    score_dict: Mapping[str, ArrayLike],
    pairs: Sequence[tuple[str, str]],
    reps: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> dict[str, Interval]:
    """:func:`probability_of_improvement_ci` for each ``(X, Y)`` pair, keyed ``"X vs Y"``.

    :param score_dict: method label -> score matrix ``(runs, tasks)``.
    :param pairs: ``(X, Y)`` label pairs; each gives P(X > Y).
    :param reps: bootstrap replications.
    :param seed: RNG seed.
    :param confidence: interval coverage.
    :returns: ``{"X vs Y": (point, lo, hi)}``, the input of
        :func:`wnrl.harness.reports.plots.plot_probability_of_improvement`.
    """
    _check_dict(score_dict, "score_dict")
    out: dict[str, Interval] = {}
    for a, b in pairs:
        for lab in (a, b):
            if lab not in score_dict:
                raise KeyError(f"unknown method label {lab!r}; have {sorted(score_dict)}")
        out[f"{a} vs {b}"] = probability_of_improvement_ci(
            score_dict[a], score_dict[b], reps=reps, confidence=confidence, seed=seed
        )
    return out


def performance_profiles(
    score_dict: Mapping[str, ArrayLike],
    taus: ArrayLike,
    reps: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]]:
    """:func:`performance_profile` for each method.

    :param score_dict: method label -> score matrix ``(runs, tasks)``.
    :param taus: 1-D thresholds.
    :param reps: bootstrap replications.
    :param seed: RNG seed.
    :param confidence: band coverage.
    :returns: ``{label: (frac, lo, hi)}``, the input of
        :func:`wnrl.harness.reports.plots.plot_performance_profiles`.
    """
    _check_dict(score_dict, "score_dict")
    return {
        label: performance_profile(s, taus, reps=reps, confidence=confidence, seed=seed)
        for label, s in score_dict.items()
    }


def summarize_runs(
    values: ArrayLike,
    reps: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Summary of one group of runs (e.g. one method at one setting; wnrl).

    ``median`` is the plain median of the values (:func:`median_of_values`), which describes the
    spread of one group; rliable's aggregate :func:`median` (of per-task means) would, for one
    task, be the group's mean.

    :param values: 1-D vector of per-run values, or a ``(runs, tasks)`` matrix (statistics over
        all entries; the IQM interval is then stratified by task).
    :param reps: bootstrap replications for the IQM interval.
    :param seed: RNG seed.
    :param confidence: interval coverage.
    :returns: ``{"n", "mean", "std", "median", "iqm", "iqm_lo", "iqm_hi", "min", "max"}``;
        ``n`` is the number of values, ``std`` the sample standard deviation (ddof=1), NaN when
        ``n == 1`` (a spread cannot be measured from one run); with one run the IQM interval
        collapses to the point.
    """
    x = as_score_matrix(values, "values")
    flat = x.reshape(-1)
    point, lo, hi = bootstrap([x], iqm_batched, reps, confidence, seed)
    return {
        "n": int(flat.size),
        "mean": mean(x),
        "std": float(np.std(flat, ddof=1)) if flat.size > 1 else float("nan"),
        "median": median_of_values(x),
        "iqm": point,
        "iqm_lo": lo,
        "iqm_hi": hi,
        "min": float(flat.min()),
        "max": float(flat.max()),
    }

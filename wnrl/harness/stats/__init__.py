"""Statistics of scores, knowing nothing of runs, sweeps or files (numpy and scipy only).

* :mod:`~wnrl.harness.stats.metrics`: point estimates (IQM, mean, median, optimality gap,
  probability of improvement), batched over bootstrap replicates
* :mod:`~wnrl.harness.stats.bootstrap`: the stratified bootstrap and its intervals
* :mod:`~wnrl.harness.stats.aggregate`: rliable-style aggregates with CIs, profiles, curves
* :mod:`~wnrl.harness.stats.seeds`: how many seeds a comparison needs (seed planning)
* :mod:`~wnrl.harness.stats.lr_range`: the learning-rate range within a fraction of the best

``wnrl.harness.stats.<name>`` is the aggregate of that name (imported on first use, so importing
one module of the package does not load the others): ``from wnrl.harness import stats;
stats.iqm(scores)``.
"""

from __future__ import annotations

from wnrl._lazy import lazy_exports

_EXPORTS = {
    "wnrl.harness.stats.aggregate": (
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
    ),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""Comparison harness for wnrl: sweeps of runs, parallel execution, honest multi-seed statistics
(rliable-style) and figures.

* :mod:`wnrl.harness.api`: :func:`compare` (run a sweep and report) and :func:`report`, the
  Python API under ``wnrl compare`` / ``wnrl report`` (:func:`compare_with` takes the options as
  one :class:`CompareOptions`)
* :mod:`wnrl.harness.comparison`: the core of ``compare`` (a loaded sweep run into its directory,
  then reported), which the confirmation of a tune calls too
* :mod:`wnrl.harness.sweeps.spec`: sweep files → validated runs with stable ids
* :mod:`wnrl.harness.run.execute`: local process pool / Ray tasks, resumable, failure-isolated
* :mod:`wnrl.harness.reports.build`: results.csv, report.md, figures of a sweep directory
* :mod:`wnrl.harness.stats.aggregate`, :mod:`wnrl.harness.reports.plots`: the statistics and figures
  (:mod:`wnrl.harness.reports.palette`: one colour and line style per method in every figure)

Names are imported lazily (``from wnrl.harness import load_sweep``), so that importing the
package (e.g. in a pool worker, before torch's thread settings) stays cheap.
"""

from __future__ import annotations

from wnrl._lazy import lazy_exports

_EXPORTS = {
    "wnrl.harness.sweeps.spec": (
        "Sweep",
        "SweepRun",
        "load_sweep",
        "expand_sweep",
        "run_id",
        "demo_sweep",
        "SweepSpec",
    ),
    "wnrl.harness.api": (
        "compare",
        "compare_with",
        "report",
        "seed_plan",
        "CompareOptions",
        "CompareOutcome",
        "ExecOptions",
    ),
    "wnrl.harness.run.execute": ("execute", "run_task", "make_task", "plan_runs"),
    "wnrl.harness.reports.build": (
        "build_report",
        "load_rows",
        "analyse",
        "render_markdown",
        "make_figures",
        "write_results_csv",
    ),
    "wnrl.harness.reports.summary": ("Summary",),
    "wnrl.harness.reports.scores": ("KNOWN_RANGES",),
    "wnrl.harness.reports.rows": ("Row",),
    "wnrl.harness.stats.aggregate": (
        "iqm",
        "mean",
        "median",
        "optimality_gap",
        "normalize_scores",
        "stratified_bootstrap_ci",
        "probability_of_improvement",
        "probability_of_improvement_ci",
        "performance_profile",
        "curve_ci",
        "performance_profiles",
        "aggregate",
        "aggregate_methods",
        "pairwise_probability_of_improvement",
        "summarize_runs",
    ),
    "wnrl.train.record": ("area_under_curve",),
    "wnrl.harness.reports.plots": (
        "plot_learning_curves",
        "plot_intervals",
        "plot_probability_of_improvement",
        "plot_performance_profiles",
        "plot_sensitivity",
    ),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""Comparison harness for wnrl: sweeps of runs, parallel execution, honest multi-seed statistics
(rliable-style) and figures.

* :mod:`wnrl.harness.sweep`: sweep files → validated runs with stable ids
* :mod:`wnrl.harness.execute`: local process pool / Ray tasks, resumable, failure-isolated
* :mod:`wnrl.harness.report`: results.csv, report.md, figures of a sweep directory
* :mod:`wnrl.harness.stats`, :mod:`wnrl.harness.plots`: the statistics and figures

Names are imported lazily (``from wnrl.harness import load_sweep``), so that importing the
package (e.g. in a pool worker, before torch's thread settings) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "wnrl.harness.sweep": ("Sweep", "SweepRun", "load_sweep", "expand_sweep", "run_id", "DEMO_SWEEP"),
    "wnrl.harness.execute": ("execute", "run_local", "run_ray", "run_task", "make_task", "plan_runs",
                             "read_result", "write_result", "RESULT_FILE"),
    "wnrl.harness.report": ("build_report", "load_rows", "analyse", "KNOWN_RANGES"),
    "wnrl.harness.stats": ("iqm", "mean", "median", "optimality_gap", "normalize_scores",
                           "stratified_bootstrap_ci", "probability_of_improvement",
                           "probability_of_improvement_ci", "performance_profile",
                           "performance_profiles", "aggregate", "aggregate_methods",
                           "pairwise_probability_of_improvement", "area_under_curve", "summarize_runs"),
    "wnrl.harness.plots": ("plot_learning_curves", "plot_intervals", "plot_probability_of_improvement",
                           "plot_performance_profiles", "plot_sensitivity"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'wnrl.harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

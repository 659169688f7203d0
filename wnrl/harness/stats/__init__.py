"""Statistics of scores, knowing nothing of runs, sweeps or files (numpy and scipy only).

* :mod:`~wnrl.harness.stats.metrics`: point estimates (IQM, mean, median, optimality gap,
  probability of improvement), batched over bootstrap replicates
* :mod:`~wnrl.harness.stats.bootstrap`: the stratified bootstrap and its intervals
* :mod:`~wnrl.harness.stats.aggregate`: rliable-style aggregates with CIs, profiles, curves
* :mod:`~wnrl.harness.stats.seeds`: how many seeds a comparison needs (seed planning)
* :mod:`~wnrl.harness.stats.lr_range`: the learning-rate range within a fraction of the best
* :mod:`~wnrl.harness.stats.verdicts`: Holm's correction over a family of comparisons, bootstrap
  p-values, and the verdict of an interval (better, worse, equivalent, inconclusive)

``wnrl.harness.stats.<name>`` is the aggregate of that name (imported on first use, so importing
one module of the package does not load the others): ``from wnrl.harness import stats;
stats.iqm(scores)``.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    aggregate = importlib.import_module("wnrl.harness.stats.aggregate")
    if name in aggregate.__all__:
        return getattr(aggregate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Statistics of scores, knowing nothing of runs, sweeps or files (numpy and scipy only).

* :mod:`~wnrl.harness.stats.metrics`: point estimates (IQM, mean, median, optimality gap,
  probability of improvement), batched over bootstrap replicates
* :mod:`~wnrl.harness.stats.bootstrap`: the stratified bootstrap and its intervals
* :mod:`~wnrl.harness.stats.aggregate`: rliable-style aggregates with CIs, profiles, curves
* :mod:`~wnrl.harness.stats.seeds`: how many seeds a comparison needs (seed planning)
* :mod:`~wnrl.harness.stats.lr_range`: the learning-rate range within a fraction of the best
"""

"""Fair tuning: every normalization tuned with the same budget (Optuna), then confirmed on fresh seeds.

* :mod:`wnrl.harness.tune.spec`: tune files -> validated studies and trial configs
* :mod:`wnrl.harness.tune.session`: :func:`tune` (``wnrl tune``), ``tuned.yaml``
* :mod:`wnrl.harness.tune.runner`: the loop (one study per variant, runs on a long-lived pool)
* :mod:`wnrl.harness.tune.trials`: the exact budget, interrupted trials, cooperating processes
* :mod:`wnrl.harness.tune.objective`: the objective, recomputed from each run's ``result.json``
* :mod:`wnrl.harness.tune.confirm`: ``wnrl compare --tuned`` (fresh seeds, side by side; its sweeps
  run through :mod:`wnrl.harness.comparison`)
* :mod:`wnrl.harness.tune.storage`, :mod:`wnrl.harness.tune.report`: Optuna storage, the tuning report

The ``wnrl tune`` parser and command are in :mod:`wnrl.cli`.

Names are imported lazily, so ``wnrl --help`` imports neither torch nor optuna.
"""

from __future__ import annotations

from wnrl._lazy import lazy_exports

_EXPORTS = {
    "wnrl.harness.tune.spec": ("Tune", "TuneSpec", "load_tune", "parse_tune"),
    "wnrl.harness.tune.session": ("tune", "tune_with", "TuneOutcome", "read_tuned"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

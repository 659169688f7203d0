"""Training and evaluating one run from a config (what `wnrl train` / `wnrl eval` do).

Names are imported lazily (``from wnrl.train import train``), so that reading a run's record
(:mod:`wnrl.train.record`) does not import torch.
"""

from __future__ import annotations

from wnrl._lazy import lazy_exports

_EXPORTS = {
    "wnrl.train.run": ("train", "load_run_config", "run_dir_for"),
    "wnrl.train.evaluate": ("check_eval_args", "evaluate_run", "load_run_model", "record_video"),
    "wnrl.train.record": (
        "RunRecord",
        "Curve",
        "Evaluation",
        "RecordError",
        "read_record",
        "write_record",
        "area_under_curve",
        "RESULT_FILE",
    ),
    "wnrl.train.rundir": ("atomic_write_text", "save_atomically"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

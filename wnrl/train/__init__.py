"""Training and evaluating one run from a config (what `wnrl train` / `wnrl eval` do).

Names are imported lazily (``from wnrl.train import train``), so that reading a run's record
(:mod:`wnrl.train.record`) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "wnrl.train.run": ("train", "RunResult", "load_run_config", "run_dir_for"),
    "wnrl.train.evaluate": ("evaluate_run", "load_run_model", "record_video"),
    "wnrl.train.record": ("RunRecord", "Curve", "Evaluation", "RecordError", "read_record",
                          "write_record", "atomic_write_text", "area_under_curve", "RESULT_FILE"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'wnrl.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

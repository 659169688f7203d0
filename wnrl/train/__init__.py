"""Training and evaluating one run from a config (what `wnrl train` / `wnrl eval` do)."""

from wnrl.train.evaluate import evaluate_run, load_run_model, record_video
from wnrl.train.run import RunResult, load_run_config, run_dir_for, train

__all__ = ["train", "RunResult", "load_run_config", "run_dir_for", "evaluate_run", "load_run_model",
           "record_video"]

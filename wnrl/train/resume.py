"""What a run directory keeps across interruptions: checkpoints, the CSV log, timed parts.

``wnrl train --resume RUN`` continues from the newest complete checkpoint. What it keeps:

* the model, optimizer state and step count (``checkpoints/step_<N>.zip``), the replay buffer of
  off-policy algorithms and the VecNormalize statistics;
* the learning curve up to the checkpoint (``curve.json``); points after it are evaluated again;
* ``tb/progress.csv``, appended to, never truncated (the steps between the checkpoint and the
  interruption appear twice: once as they happened, once as they were redone), and TensorBoard
  events (a new events file per part);
* ``system.json``: the first start, and one entry per part (start, end, steps, wall and CPU
  seconds, device, host, command), so the run's time counts all its parts.

What it does not keep: the random state of the environments between the checkpoint and the
interruption, so a resumed run is a valid run of the same config, not a bit-identical replay.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from wnrl.config import ConfigError, RunConfig
from wnrl.registry import ALGORITHMS
from wnrl.train.callbacks import latest_checkpoint

__all__ = ["AppendingCSVOutputFormat", "load_checkpoint", "previous_system", "run_logger", "total_of_parts"]


class AppendingCSVOutputFormat(CSVOutputFormat):
    """SB3's CSV log, continuing an existing file (its header's columns are kept) instead of
    truncating it.

    :param filename: the CSV file
    """

    def __init__(self, filename: str) -> None:
        if not os.path.exists(filename) or os.path.getsize(filename) == 0:
            super().__init__(filename)
            return
        self.file = open(filename, "r+")
        header = self.file.readline().rstrip("\n")
        self.keys = header.split(",") if header else []
        self.separator, self.quotechar = ",", '"'
        self.file.seek(0, os.SEEK_END)


def run_logger(run_dir: Path) -> Logger:
    """TensorBoard events and an appended ``progress.csv`` in ``run_dir/tb``."""
    folder = run_dir / "tb"
    folder.mkdir(parents=True, exist_ok=True)
    formats = [TensorBoardOutputFormat(str(folder)), AppendingCSVOutputFormat(str(folder / "progress.csv"))]
    return Logger(folder=str(folder), output_formats=formats)


def previous_system(run_dir: Path) -> dict[str, Any]:
    """The ``system.json`` of an earlier part (empty if missing or unreadable)."""
    try:
        data = json.loads((run_dir / "system.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def total_of_parts(parts: list[dict[str, Any]], key: str) -> float:
    """The sum of ``key`` over a run's parts (missing values count 0)."""
    return round(sum(float(p.get(key) or 0.0) for p in parts), 3)


def load_checkpoint(config: RunConfig, run_dir: Path, env: VecEnv) -> tuple[BaseAlgorithm, int]:
    """The model of the newest complete checkpoint of ``run_dir`` on ``env`` (with its replay
    buffer and VecNormalize statistics), and its step.

    :raises ConfigError: when there is no checkpoint
    """
    found = latest_checkpoint(run_dir / "checkpoints")
    if found is None:
        raise ConfigError(
            f"{run_dir}: no checkpoint to resume from (train.checkpoint_freq was 0); train it again, "
            "with checkpoint_freq: auto"
        )
    step, ckpt = found
    stem = str(ckpt)[: -len(".zip")]
    if Path(f"{stem}_vecnorm.pkl").exists():
        env = VecNormalize.load(f"{stem}_vecnorm.pkl", env)
    model = ALGORITHMS[config.agent.algo].algo_class().load(ckpt, env=env, device=config.train.device)
    if isinstance(model, OffPolicyAlgorithm) and Path(f"{stem}_replay.pkl").exists():
        model.load_replay_buffer(f"{stem}_replay.pkl")
    return model, step

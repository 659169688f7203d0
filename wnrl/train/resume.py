"""What a run directory keeps across interruptions: checkpoints, the CSV log, timed parts.

``wnrl train --resume RUN`` continues from the newest complete checkpoint (a damaged one is passed
over for the one before it, with a warning line); a run stopped before its first checkpoint is
trained again from step 0 (a line says so). What it keeps:

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
import sys
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from wnrl.config import ConfigError, RunConfig
from wnrl.registry import ALGORITHMS
from wnrl.train.record import list_checkpoints

__all__ = [
    "AppendingCSVOutputFormat",
    "load_checkpoint",
    "load_model",
    "previous_system",
    "run_logger",
    "total_of_parts",
]


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


def load_model(config: RunConfig, path: Path, env: VecEnv | None = None, device: str | None = None) -> BaseAlgorithm:
    """The model saved in ``path`` (a run's ``model.zip`` or a checkpoint), as ``config``'s algorithm.

    :param config: the run's config (its ``agent.algo``, and ``train.device`` unless ``device``)
    :param path: the zip file
    :param env: the env to attach (its spaces must be the model's)
    :param device: where to load it
    :raises ConfigError: one line naming the file: damaged, or not a model of this config
    """
    source = path.parent.parent / "config.yaml" if path.parent.name == "checkpoints" else path.parent / "config.yaml"
    try:
        return ALGORITHMS[config.agent.algo].algo_class().load(path, env=env, device=device or config.train.device)
    except ValueError as e:
        if "spaces do not match" in str(e):
            raise ConfigError(
                f"{source}: env.id: {config.env.id}'s spaces are not those {path} was trained on "
                f"({str(e).splitlines()[0]}); restore the config the run was trained with"
            ) from None
        raise ConfigError(f"{path}: {_damage(e)}") from None
    except Exception as e:  # zipfile, pickle and torch errors of a truncated or foreign file
        raise ConfigError(f"{path}: {_damage(e)}") from None


def _damage(e: BaseException) -> str:
    what = (str(e).splitlines() or [type(e).__name__])[0][:160]
    return (
        f"not a complete model ({type(e).__name__}: {what}); the file is damaged or config.yaml was changed "
        "since it was written: restore it, or train the run again"
    )


def _load_one(config: RunConfig, ckpt: Path, env: VecEnv) -> BaseAlgorithm:
    stem = str(ckpt)[: -len(".zip")]
    if Path(f"{stem}_vecnorm.pkl").exists():
        try:
            env = VecNormalize.load(f"{stem}_vecnorm.pkl", env)
        except Exception as e:  # pickle errors of a truncated file
            raise ConfigError(f"{stem}_vecnorm.pkl: {_damage(e)}") from None
    model = load_model(config, ckpt, env)
    if isinstance(model, OffPolicyAlgorithm) and Path(f"{stem}_replay.pkl").exists():
        try:
            model.load_replay_buffer(f"{stem}_replay.pkl")
        except Exception as e:
            raise ConfigError(f"{stem}_replay.pkl: {_damage(e)}") from None
    return model


def load_checkpoint(config: RunConfig, run_dir: Path, env: VecEnv) -> tuple[BaseAlgorithm, int]:
    """The model of the newest complete checkpoint of ``run_dir`` that loads, on ``env`` (with its
    replay buffer and VecNormalize statistics), and its step. A damaged checkpoint is passed over
    for the one before it, with a warning line.

    :raises ConfigError: when there is no checkpoint, or none that loads (naming the newest)
    """
    found = list_checkpoints(run_dir / "checkpoints")
    if not found:
        raise ConfigError(
            f"{run_dir}: no complete checkpoint in {run_dir / 'checkpoints'}; `wnrl train --resume {run_dir}` "
            "trains it again from step 0"
        )
    first: ConfigError | None = None
    for step, ckpt in reversed(found):
        try:
            model = _load_one(config, ckpt, env)
        except ConfigError as e:
            if "env.id" in str(e):  # the config changed, not the checkpoint: every one fails alike
                raise
            first = first or e
            continue
        if first is not None:
            print(f"wnrl: warning: {first}; continuing from the checkpoint at step {step} instead", file=sys.stderr)
        return model, step
    assert first is not None
    raise ConfigError(
        f"{first}; no earlier complete checkpoint: delete it and `wnrl train --resume {run_dir}` trains "
        "the run again from step 0"
    )

"""Callbacks of a wnrl run: the evaluation curve and checkpoints that support ``--resume``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from wnrl.envs import sync_normalization
from wnrl.train.record import latest_checkpoint
from wnrl.train.rundir import atomic_write_text, save_atomically

__all__ = [
    "EvalCurveCallback",
    "EverySteps",
    "RunCheckpointCallback",
    "evaluate",
    "latest_checkpoint",
    "remove_checkpoints",
    "save_checkpoint",
]


class EverySteps:
    """Fires once each time ``num_timesteps`` reaches the next multiple of ``freq`` (0: never),
    however many env steps a callback call advances (``n_envs``), and from a resumed step count.

    :param freq: environment steps between firings
    """

    def __init__(self, freq: int) -> None:
        self.freq = freq
        self._next = freq

    def start(self, num_timesteps: int) -> None:
        """Continue from ``num_timesteps`` (0 for a new run, the checkpoint's step on resume)."""
        if self.freq:
            self._next = (num_timesteps // self.freq + 1) * self.freq

    def due(self, num_timesteps: int) -> bool:
        """Whether to fire now (advances past ``num_timesteps`` when it does)."""
        if not self.freq or num_timesteps < self._next:
            return False
        while self._next <= num_timesteps:
            self._next += self.freq
        return True


def evaluate(model: BaseAlgorithm, eval_env: VecEnv, episodes: int) -> dict[str, Any]:
    """Deterministic evaluation: mean, std and every episode's return and length."""
    train_env = model.get_env()
    if train_env is not None:
        sync_normalization(train_env, eval_env)
    returns, lengths = evaluate_policy(
        model, eval_env, n_eval_episodes=episodes, deterministic=True, return_episode_rewards=True, warn=False
    )
    r = np.asarray(returns, dtype=float)
    return {
        "mean": float(r.mean()),
        "std": float(r.std()),
        "episodes": [float(x) for x in r],
        "lengths": [int(x) for x in np.asarray(lengths).ravel()],
    }


class EvalCurveCallback(BaseCallback):
    """Evaluate every ``eval_freq`` environment steps; log ``eval/mean_return`` to TensorBoard
    and keep the learning curve in ``curve_path`` (JSON, rewritten atomically after each point).

    :param eval_env: the evaluation env (clean or noisy)
    :param eval_freq: environment steps between evaluations (0: none during training)
    :param episodes: episodes per evaluation
    :param curve_path: where the curve is stored; an existing curve (a resumed run) is continued
    """

    def __init__(self, eval_env: VecEnv, eval_freq: int, episodes: int, curve_path: Path) -> None:
        super().__init__()
        self.eval_env, self.eval_freq, self.episodes = eval_env, eval_freq, episodes
        self.curve_path = curve_path
        self.curve: dict[str, list[float]] = {"steps": [], "mean": [], "std": []}
        self.last: dict[str, Any] | None = None  # the latest evaluation, with its step
        self._schedule = EverySteps(eval_freq)

    def _on_training_start(self) -> None:
        if self.curve_path.exists():  # resumed: keep the points up to the checkpoint
            old = json.loads(self.curve_path.read_text())
            keep = [i for i, s in enumerate(old["steps"]) if s <= self.num_timesteps]
            self.curve = {k: [old[k][i] for i in keep] for k in self.curve}
        self._schedule.start(self.num_timesteps)

    def _on_step(self) -> bool:
        if self._schedule.due(self.num_timesteps):
            self.record_point()
        return True

    def final_point(self) -> dict[str, Any]:
        """The evaluation at the current step: the one already on the curve when training ended
        on an evaluation step, else a new one. The final score is always the curve's last point."""
        if self.last is not None and self.last["step"] == self.num_timesteps:
            return {k: v for k, v in self.last.items() if k != "step"}
        return self.record_point()

    def record_point(self) -> dict[str, Any]:
        """Evaluate now and add the result to the curve."""
        result = evaluate(self.model, self.eval_env, self.episodes)
        self.last = {**result, "step": self.num_timesteps}
        if self.curve["steps"] and self.curve["steps"][-1] == self.num_timesteps:
            for k in self.curve:  # a second evaluation at one step (a resume): keep the newest
                self.curve[k].pop()
        for k, v in (("steps", self.num_timesteps), ("mean", result["mean"]), ("std", result["std"])):
            self.curve[k].append(v)
        self.logger.record("eval/mean_return", result["mean"])
        self.logger.record("eval/std_return", result["std"])
        self.logger.dump(self.num_timesteps)
        atomic_write_text(self.curve_path, json.dumps(self.curve))
        return result


class RunCheckpointCallback(BaseCallback):
    """Save the model (and replay buffer, VecNormalize statistics) every ``save_freq`` env steps
    (at the next rollout boundary for on-policy algorithms) into ``directory`` as ``step_<N>.zip`` /
    ``step_<N>_replay.pkl`` / ``step_<N>_vecnorm.pkl``.
    The ``.zip`` is written last (atomically), so a checkpoint is complete when its zip exists.

    :param directory: checkpoint folder
    :param save_freq: environment steps between checkpoints (0: none)
    :param keep_all: keep every checkpoint (else only the newest: enough to resume)
    """

    def __init__(self, directory: Path, save_freq: int, keep_all: bool = True) -> None:
        super().__init__()
        self.directory, self.save_freq, self.keep_all = directory, save_freq, keep_all
        self._schedule = EverySteps(save_freq)

    def _on_training_start(self) -> None:
        self._schedule.start(self.num_timesteps)

    def _maybe_save(self) -> None:
        if self._schedule.due(self.num_timesteps):
            save_checkpoint(self.model, self.directory, self.num_timesteps)
            if not self.keep_all:
                remove_checkpoints(self.directory, before=self.num_timesteps)

    def _on_step(self) -> bool:
        if isinstance(self.model, OffPolicyAlgorithm):
            self._maybe_save()
        return True

    def _on_rollout_end(self) -> None:
        # On-policy: only between rollouts, so a resumed run collects the same rollouts and
        # ends on the same step as an uninterrupted one.
        if not isinstance(self.model, OffPolicyAlgorithm):
            self._maybe_save()


def save_checkpoint(model: BaseAlgorithm, directory: Path, step: int) -> Path:
    """Write a complete checkpoint of ``model`` at ``step``; returns the zip's path. A write that
    fails (a full disk) leaves none of the checkpoint's files behind."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"step_{step}"
    try:
        if isinstance(model, OffPolicyAlgorithm):
            model.save_replay_buffer(f"{stem}_replay.pkl")
        venv = model.get_vec_normalize_env()
        if isinstance(venv, VecNormalize):
            venv.save(f"{stem}_vecnorm.pkl")
        save_atomically(model.save, Path(f"{stem}.zip"))  # last: a zip there means a complete checkpoint
    except BaseException:
        for p in (Path(f"{stem}_replay.pkl"), Path(f"{stem}_vecnorm.pkl")):
            p.unlink(missing_ok=True)
        raise
    return Path(f"{stem}.zip")


def remove_checkpoints(directory: Path, before: int | None = None) -> None:
    """Delete the checkpoints of ``directory`` older than step ``before`` (``None``: all of them, and
    the directory when nothing else is left in it)."""
    for p in directory.glob("step_*"):
        try:
            step = int(p.name.split("_")[1].split(".")[0])
        except (IndexError, ValueError):
            continue
        if before is None or step < before:
            p.unlink(missing_ok=True)
    if before is None:
        try:
            directory.rmdir()  # only when empty: a finished run keeps no empty checkpoints/
        except OSError:
            pass

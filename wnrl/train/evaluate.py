"""Evaluate a finished run: clean or under another noise setting, optionally recording a video."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from wnrl.config import ConfigError
from wnrl.envs import check_noise_kwargs
from wnrl.registry import ALGORITHMS
from wnrl.train.callbacks import evaluate
from wnrl.train.run import build_eval_env, load_run_config

__all__ = ["load_run_model", "evaluate_run", "record_video"]


def load_run_model(run_dir: Path, device: str = "auto") -> tuple[Any, BaseAlgorithm]:
    """The config and final model of a run directory."""
    config = load_run_config(run_dir)
    path = run_dir / "model.zip"
    if not path.is_file():
        raise ConfigError(
            f"{run_dir}: no model.zip (the run did not finish); resume it with `wnrl train --resume {run_dir}`"
        )
    model = ALGORITHMS[config.agent.algo].algo_class().load(path, device=device)
    return config, model


def _eval_env(config: Any, run_dir: Path, noise: dict[str, float] | None, render: bool = False) -> Any:
    env = build_eval_env(config, None, noise=noise)
    stats = run_dir / "vecnormalize.pkl"
    if stats.exists():
        env = VecNormalize.load(str(stats), env)
        env.training, env.norm_reward = False, False
    return env


def evaluate_run(
    run_dir: Path, episodes: int = 10, noise: dict[str, float] | None = None, device: str = "auto"
) -> dict[str, Any]:
    """Evaluate the final model of ``run_dir`` deterministically.

    :param run_dir: a finished run directory
    :param episodes: number of episodes
    :param noise: noise setting for evaluation (``None``: clean); same keys as ``env.noise``
    :param device: where to load the model
    :return: mean, std, every episode's return and length
    """
    try:
        noise = check_noise_kwargs(**(noise or {})) or None
    except ValueError as e:
        raise ConfigError(f"--noise: {e}") from None
    config, model = load_run_model(run_dir, device)
    env = _eval_env(config, run_dir, noise)
    try:
        return evaluate(model, env, episodes)
    finally:
        env.close()


def record_video(
    run_dir: Path,
    out_dir: Path,
    episodes: int = 1,
    noise: dict[str, float] | None = None,
    max_frames: int = 2000,
    fps: int = 30,
) -> list[Path]:
    """Record episodes of the final policy as animated GIFs (Pillow, no video codec needed).

    :param run_dir: a finished run directory
    :param out_dir: where to write ``episode_<i>.gif``
    :param episodes: number of episodes
    :param noise: noise setting (``None``: clean)
    :param max_frames: frames per episode at most
    :param fps: frames per second of the GIF
    """
    from PIL import Image

    config, model = load_run_model(run_dir)
    config.env.kwargs = {**config.env.kwargs, "render_mode": "rgb_array"}
    env = _eval_env(config, run_dir, noise)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        for i in range(episodes):
            obs, done = env.reset(), False
            frames: list[Any] = []
            while not done and len(frames) < max_frames:
                frame = env.render()
                if frame is not None:
                    frames.append(Image.fromarray(np.asarray(frame)))
                action, _ = model.predict(obs, deterministic=True)
                obs, _, dones, _ = env.step(action)
                done = bool(dones[0])
            path = out_dir / f"episode_{i}.gif"
            if frames:
                frames[0].save(path, save_all=True, append_images=frames[1:], duration=1000 // fps, loop=0)
                paths.append(path)
    finally:
        env.close()
    return paths

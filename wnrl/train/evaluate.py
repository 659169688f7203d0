"""Evaluate a finished run: clean or under another noise setting, optionally recording a video."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from stable_baselines3.common.vec_env import VecNormalize, VecTransposeImage

from wnrl.config import ConfigError, RunConfig, check_device
from wnrl.envs import EnvError, check_noise_kwargs
from wnrl.train.callbacks import evaluate
from wnrl.train.record import RecordError, read_record
from wnrl.train.resume import DamagedFile, load_error, load_model
from wnrl.train.run import build_eval_env, load_run_config
from wnrl.train.rundir import check_out_path, why_not_writable

__all__ = ["load_run_model", "evaluate_run", "record_video", "check_eval_args", "check_video_dir"]


def _model_path(run_dir: Path) -> Path:
    path = run_dir / "model.zip"
    if not path.is_file():
        raise ConfigError(
            f"{run_dir}: no model.zip (the run did not finish); resume it with `wnrl train --resume {run_dir}`"
        )
    return path


def _check_episodes(episodes: int) -> None:
    if episodes < 1:
        raise ConfigError(f"--episodes: must be at least 1, got {episodes}")


def check_video_dir(video: Path) -> None:
    """Refuse a ``--video`` path that cannot be a directory (it, or a folder above it, is a file;
    a symlink loop; a name too long) or cannot be written (a read-only filesystem).

    :param video: the directory to record into (it need not exist yet)
    :raises ConfigError: one line naming the path and the fix
    """
    check_out_path(video, "--video")
    above = next((p for p in (video, *video.parents) if p.exists()), None)
    why = why_not_writable(above) if above is not None else None
    if why:
        raise ConfigError(f"{video}: cannot be written ({above} {why}); give another --video")


def _check_normalization(config: RunConfig, run_dir: Path) -> None:
    if config.env.normalize_obs and not (run_dir / "vecnormalize.pkl").is_file():
        raise ConfigError(
            f"{run_dir / 'vecnormalize.pkl'}: missing, and the run normalizes its observations "
            "(env.normalize_obs: true), so its policy cannot be evaluated on raw ones; restore the file "
            "from the run, or train it again"
        )


def check_eval_args(run_dir: Path, episodes: int, video: Path | None = None, device: str = "auto") -> None:
    """Check ``wnrl eval``'s arguments before anything is loaded, evaluated or written.

    :param run_dir: a finished run directory
    :param episodes: number of episodes to evaluate
    :param video: the directory to record a video into, if any
    :param device: where to load the model (``cuda`` needs a CUDA device)
    :raises ConfigError: one line naming the bad argument and the fix
    """
    _check_episodes(episodes)
    config = load_run_config(run_dir)
    _model_path(run_dir)
    _check_normalization(config, run_dir)
    check_device(device, str(run_dir), "--device")
    if video is not None:
        check_video_dir(video)


def _check_trained_as(config: RunConfig, run_dir: Path) -> None:
    """``config.yaml`` names the env and algorithm the run was trained with (its record's)."""
    try:
        record = read_record(run_dir)
    except RecordError:
        return  # the record is not needed to evaluate; a damaged one is the report's business
    if record is None:
        return
    for key, now, then in (("agent.algo", config.agent.algo, record.algo), ("env.id", config.env.id, record.env_id)):
        if then is not None and now != then:
            raise ConfigError(
                f"{run_dir / 'config.yaml'}: {key}: {now!r}, but the run was trained with {then!r} "
                f"({run_dir / 'result.json'}, model.zip); restore {key}: {then} (the config was edited "
                "after training)"
            )


def load_run_model(run_dir: Path, device: str = "auto") -> tuple[RunConfig, BaseAlgorithm]:
    """The config and final model of a run directory.

    :param run_dir: a finished run directory
    :param device: where to load the model
    :raises ConfigError: a damaged ``model.zip``, or a ``config.yaml`` that is not the model's
    """
    config = load_run_config(run_dir)
    _check_trained_as(config, run_dir)
    check_device(device, str(run_dir), "--device")
    return config, load_model(config, _model_path(run_dir), device=device)


def _same_shape(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a.shape == b.shape and getattr(a, "n", None) == getattr(b, "n", None)


def _same_spaces(env: Any, model: BaseAlgorithm) -> bool:
    """Whether ``env`` has the spaces ``model`` was trained on (shapes, not bounds: noise wrappers
    may widen them; an image may be channel-last here where SB3 stored it channel-first)."""
    obs, want = env.observation_space, model.observation_space
    if isinstance(obs, spaces.Dict):
        obs_ok = isinstance(want, spaces.Dict) and set(obs.spaces) == set(want.spaces)
    else:
        if is_image_space(obs) and not is_image_space_channels_first(obs):
            obs = VecTransposeImage.transpose_space(obs)
        obs_ok = _same_shape(obs, want)
    return obs_ok and _same_shape(env.action_space, model.action_space)


def _eval_env(config: RunConfig, run_dir: Path, noise: dict[str, float] | None, model: BaseAlgorithm) -> Any:
    try:
        env = build_eval_env(config, None, noise=noise)
    except EnvError as e:  # e.g. a custom env module no longer importable, or a missing extra
        raise ConfigError(f"{run_dir / 'config.yaml'}: env.id: {e}") from None
    if not _same_spaces(env, model):
        env.close()
        raise ConfigError(
            f"{run_dir / 'config.yaml'}: env.id: {config.env.id}'s spaces are not those model.zip was "
            f"trained on ({model.observation_space} → {model.action_space}); restore the config the run "
            "was trained with"
        )
    _check_normalization(config, run_dir)
    stats = run_dir / "vecnormalize.pkl"
    if stats.exists():
        try:
            env = VecNormalize.load(str(stats), env)
        except Exception as e:  # pickle errors of a truncated or foreign file; memory, permissions
            env.close()
            error = load_error(stats, e)
            if not isinstance(error, DamagedFile):
                raise error from None
            raise ConfigError(
                f"{stats}: not readable normalization statistics ({type(e).__name__}: {str(e)[:120]}); "
                "restore it from the run, or train it again"
            ) from None
        env.training, env.norm_reward = False, False
    return env


def _check_noise(noise: dict[str, float] | None) -> dict[str, float] | None:
    try:
        return check_noise_kwargs(**(noise or {})) or None
    except ValueError as e:
        raise ConfigError(f"--noise: {e}") from None


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
    _check_episodes(episodes)
    noise = _check_noise(noise)
    config, model = load_run_model(run_dir, device)
    env = _eval_env(config, run_dir, noise, model)
    try:
        return evaluate(model, env, episodes)
    finally:
        env.close()


def _claim(out_dir: Path, stem: str) -> tuple[Path, BinaryIO]:
    """Create ``<stem>.gif`` in ``out_dir``, or ``<stem>-2.gif``, ``-3``, ... if taken; never overwrite.

    The file is created exclusively, so two processes recording into one directory never share a name.
    """
    n = 1
    while True:
        path = out_dir / (f"{stem}.gif" if n == 1 else f"{stem}-{n}.gif")
        try:
            return path, path.open("xb")
        except FileExistsError:
            n += 1


def _save_gif(frames: list[Any], out_dir: Path, stem: str, fps: int) -> Path:
    """Write ``frames`` as an animated GIF under a fresh name (see :func:`_claim`); return its path."""
    path, f = _claim(out_dir, stem)
    try:
        with f:
            frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:], duration=1000 // fps, loop=0)
    except BaseException:
        path.unlink(missing_ok=True)  # no half-written GIF under a claimed name
        raise
    return path


def record_video(
    run_dir: Path,
    out_dir: Path,
    episodes: int = 1,
    noise: dict[str, float] | None = None,
    max_frames: int = 2000,
    fps: int = 30,
) -> list[Path]:
    """Record episodes of the final policy as animated GIFs (Pillow, no video codec needed).

    Files are named by run and episode, ``<run>-episode_<i>.gif`` (``<run>`` is the run directory's
    name); an existing file is never overwritten: the next free name ``<run>-episode_<i>-2.gif``, ...
    is taken instead.

    :param run_dir: a finished run directory
    :param out_dir: the directory to write the GIFs into (created if missing)
    :param episodes: number of episodes
    :param noise: noise setting (``None``: clean)
    :param max_frames: frames per episode at most
    :param fps: frames per second of the GIF
    :return: the files written, one per episode that rendered frames
    :raises ConfigError: on bad arguments, before anything is loaded or written
    """
    from PIL import Image

    _check_episodes(episodes)
    check_video_dir(out_dir)
    noise = _check_noise(noise)
    config, model = load_run_model(run_dir)
    config.env.kwargs = {**config.env.kwargs, "render_mode": "rgb_array"}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{out_dir}: cannot create the directory: {e.strerror}; give another --video") from None
    run_name = Path(os.path.abspath(run_dir)).name or "run"
    env = _eval_env(config, run_dir, noise, model)
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
            if frames:
                paths.append(_save_gif(frames, out_dir, f"{run_name}-episode_{i}", fps))
    except OSError as e:
        raise ConfigError(f"{out_dir}: cannot write the video: {e.strerror}; give another --video") from None
    finally:
        env.close()
    return paths

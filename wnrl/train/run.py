"""One training run: a validated config → a run directory.

A run directory holds::

    config.yaml        the resolved config (what was actually run)
    system.json        versions, device, host, command, start and end time, status
    tb/                TensorBoard events (SB3 scalars, wnrl/ diagnostics, HParams) and progress.csv
    checkpoints/       step_<N>.zip (+ _replay.pkl for DQN, _vecnorm.pkl with VecNormalize)
    model.zip          the final model (vecnormalize.pkl beside it when used)
    curve.json         the evaluation curve as data: steps, mean, std
    result.json        the run's record (:class:`~wnrl.train.record.RunRecord`): final evaluation
                       (every episode's return), curve, AUC, steps, timings

Everything that can fail on bad input (env id, extras, action space, hyperparameters) is checked
before the directory is created, so a failed start leaves nothing behind.
"""

from __future__ import annotations

import json
import platform
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import configure
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from wnrl import agents
from wnrl.config import ConfigError, RunConfig, dump_config, read_yaml, validate
from wnrl.envs import EnvError, make_eval_env, make_vec_env
from wnrl.policies import DataInitCallback
from wnrl.registry import ALGORITHMS
from wnrl.train.callbacks import EvalCurveCallback, RunCheckpointCallback, latest_checkpoint
from wnrl.train.diagnostics import DiagnosticsCallback, hparams_callback, run_hparams
from wnrl.train.record import Curve, Evaluation, RunRecord, atomic_write_text, write_record

__all__ = ["build_env", "build_eval_env", "load_run_config", "run_dir_for", "train"]


def build_env(config: RunConfig, normalize: bool = True) -> VecEnv:
    """The training env of ``config`` (``normalize=False`` leaves VecNormalize off, for resume)."""
    e = config.env
    gamma = float(config.agent.hyperparams.get("gamma", 0.99))
    return make_vec_env(
        e.id,
        n_envs=e.n_envs,
        seed=config.train.seed,
        vec_env=e.vec_env,
        env_kwargs=e.kwargs,
        noise=e.noise.active(),
        frame_stack=e.frame_stack,
        atari_wrapper=e.atari_wrapper,
        normalize_obs=normalize and e.normalize_obs,
        normalize_reward=normalize and e.normalize_reward,
        gamma=gamma,
    )


def build_eval_env(
    config: RunConfig, train_env: VecEnv | None, noisy: bool | None = None, noise: dict[str, float] | None = None
) -> VecEnv:
    """The evaluation env: clean unless ``train.eval_noise`` (or ``noisy``) asks for the
    training noise, or ``noise`` gives another setting."""
    e = config.env
    noisy = config.train.eval_noise if noisy is None else noisy
    if noise is None:
        noise = e.noise.active() if noisy else None
    return make_eval_env(
        e.id,
        n_envs=1,
        seed=config.train.seed + 10_000,
        noise=noise,
        train_env=train_env,
        env_kwargs=e.kwargs,
        frame_stack=e.frame_stack,
        atari_wrapper=e.atari_wrapper,
    )


def _make_model(config: RunConfig, env: VecEnv, source: str) -> BaseAlgorithm:
    a = config.agent
    try:
        return agents.make(
            a.algo,
            env,
            norm=a.norm,
            net_arch=a.net_arch,
            activation=a.activation,
            data_init=a.data_init,
            init_scale=a.init_scale,
            init_batch=a.init_batch,
            norm_output=a.norm_output,
            hyperparams=a.hyperparams,
            policy_kwargs=a.policy_kwargs,
            seed=config.train.seed,
            device=config.train.device,
            verbose=0,
        )
    except ValueError as e:  # AgentError and SB3's own argument checks
        raise ConfigError(f"{source}: {e}") from None


def _check_device(config: RunConfig, source: str) -> None:
    if config.train.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{source}: train.device: cuda requested but no CUDA device is available; use auto or cpu")


def run_dir_for(config: RunConfig, root: Path = Path("runs")) -> Path:
    """A fresh directory name ``root/<name>-<algo>-<norm>-s<seed>[-k]`` (never an existing one)."""
    base = root / f"{config.name}-{config.agent.algo}-{config.agent.norm}-s{config.train.seed}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def load_run_config(run_dir: Path) -> RunConfig:
    """The resolved config stored in a run directory."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ConfigError(
            f"{run_dir}: not a wnrl run directory (no config.yaml); give the directory that `wnrl train` created"
        )
    return validate(read_yaml(path), str(path))


def _system_info(config: RunConfig, model: BaseAlgorithm) -> dict[str, Any]:
    import gymnasium
    import stable_baselines3

    import wnrl

    return {
        "wnrl": wnrl.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
        "device": str(model.device),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "torch_threads": torch.get_num_threads(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def train(
    config: RunConfig,
    out: Path | None = None,
    resume: Path | None = None,
    progress_bar: bool | None = None,
    source: str = "<config>",
) -> RunRecord:
    """Train ``config`` into a run directory (or continue ``resume`` from its last checkpoint).

    :param config: the validated run config
    :param out: the run directory to create (default: a fresh one under ``runs/``)
    :param resume: an interrupted run directory to continue; the run ends at
        ``train.total_timesteps`` as an uninterrupted one would
    :param progress_bar: show SB3's progress bar (default: ``train.progress_bar``)
    :param source: where the config came from, for error messages
    :raises ConfigError: on bad input, before anything is written
    """
    if config.train.torch_threads:
        torch.set_num_threads(config.train.torch_threads)
    _check_device(config, source)
    try:
        agents.check_hyperparams(config.agent.algo, config.agent.hyperparams)
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None
    try:
        env = build_env(config, normalize=resume is None)
    except (EnvError, ValueError) as e:
        raise ConfigError(f"{source}: env.id: {e}" if isinstance(e, EnvError) else f"{source}: env: {e}") from None
    try:
        agents.check_action_space(config.agent.algo, env.action_space, config.env.id)
    except ValueError as e:
        env.close()
        raise ConfigError(f"{source}: {e}") from None

    if resume is not None:
        run_dir = resume
        found = latest_checkpoint(run_dir / "checkpoints")
        if found is None:
            env.close()
            raise ConfigError(f"{run_dir}: no checkpoint to resume from; set train.checkpoint_freq and train again")
        step, ckpt = found
        stem = str(ckpt)[: -len(".zip")]
        if Path(f"{stem}_vecnorm.pkl").exists():
            env = VecNormalize.load(f"{stem}_vecnorm.pkl", env)
        model = ALGORITHMS[config.agent.algo].algo_class().load(ckpt, env=env, device=config.train.device)
        if isinstance(model, OffPolicyAlgorithm) and Path(f"{stem}_replay.pkl").exists():
            model.load_replay_buffer(f"{stem}_replay.pkl")
        remaining = config.train.total_timesteps - step
    else:
        try:
            model = _make_model(config, env, source)
        except ConfigError:
            env.close()
            raise
        run_dir = out if out is not None else run_dir_for(config)
        if run_dir.exists() and any(run_dir.iterdir()):
            env.close()
            raise ConfigError(
                f"{run_dir}: already exists and is not empty; choose another --out or continue it with --resume"
            )
        remaining = config.train.total_timesteps

    eval_env = build_eval_env(config, env)
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", dump_config(config))
        info = _system_info(config, model)
        atomic_write_text(run_dir / "system.json", json.dumps({**info, "status": "running"}, indent=2))
    except OSError as e:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise ConfigError(f"{run_dir}: cannot write the run directory: {e.strerror}; choose another --out") from None

    model.set_logger(configure(str(run_dir / "tb"), ["tensorboard", "csv"]))
    curve_cb = EvalCurveCallback(eval_env, config.train.eval_freq, config.train.eval_episodes, run_dir / "curve.json")
    callbacks = [
        DataInitCallback(),
        curve_cb,
        RunCheckpointCallback(run_dir / "checkpoints", config.train.checkpoint_freq),
        DiagnosticsCallback(config.train.diagnostics_freq),
        hparams_callback(
            run_hparams(config), {"eval/mean_return": 0.0, "eval/final_return": 0.0, "eval/auc_return": 0.0}
        ),
    ]
    show = config.train.progress_bar if progress_bar is None else progress_bar
    start = time.time()
    try:
        if remaining > 0:
            model.learn(
                remaining, callback=CallbackList(callbacks), progress_bar=show, reset_num_timesteps=resume is None
            )
    except BaseException:
        atomic_write_text(run_dir / "system.json", json.dumps({**info, "status": "interrupted"}, indent=2))
        raise
    seconds = time.time() - start
    return _finish(config, model, run_dir, curve_cb, info, seconds, env, eval_env)


def _finish(
    config: RunConfig,
    model: BaseAlgorithm,
    run_dir: Path,
    curve_cb: EvalCurveCallback,
    info: dict[str, Any],
    seconds: float,
    env: VecEnv,
    eval_env: VecEnv,
) -> RunRecord:
    final = curve_cb.final_point()  # the curve's last point: one evaluation per step
    curve = Curve.model_validate(curve_cb.curve)
    auc = curve.auc()
    model.logger.record("eval/final_return", final["mean"])
    model.logger.record("eval/auc_return", auc)
    model.logger.dump(model.num_timesteps)
    model.save(run_dir / "model.zip")
    venv = model.get_vec_normalize_env()
    if isinstance(venv, VecNormalize):
        venv.save(str(run_dir / "vecnormalize.pkl"))
    record = RunRecord(
        status="finished",
        env_id=config.env.id,
        algo=config.agent.algo,
        norm=config.agent.norm,
        seed=config.train.seed,
        id=run_dir.name,
        final=Evaluation(**final),
        auc=auc,
        curve=curve,
        steps=model.num_timesteps,
        seconds=round(seconds, 3),
        eval_noise=config.env.noise.active() if config.train.eval_noise else {},
        host=socket.gethostname(),
        ended=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    write_record(run_dir, record)
    atomic_write_text(
        run_dir / "system.json",
        json.dumps(
            {**info, "status": "finished", "finished": record.ended, "train_seconds": round(seconds, 2)}, indent=2
        ),
    )
    model.logger.close()
    env.close()
    eval_env.close()
    return record

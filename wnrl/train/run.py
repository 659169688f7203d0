"""One training run: a validated config → a run directory.

A run directory holds::

    .lock              held (flock) while a `wnrl train` writes the directory: a second one is refused
    config.yaml        the resolved config (what was actually run)
    system.json        versions, wnrl's git revision, device, host, command, start and end time, status
    tb/                TensorBoard events (SB3 scalars, wnrl/ diagnostics, HParams) and progress.csv
    checkpoints/       step_<N>.zip (+ _replay.pkl for DQN, _vecnorm.pkl with VecNormalize)
    model.zip          the final model (vecnormalize.pkl beside it when used)
    curve.json         the evaluation curve as data: steps, mean, std
    result.json        the run's record (:class:`~wnrl.train.record.RunRecord`): final evaluation
                       (every episode's return), curve, AUC, steps, timings

Everything that can fail on bad input (env id, extras, action space, hyperparameters, the
``--out`` path) is checked before the directory is created, so a failed start leaves nothing
behind. A full or read-only disk during the run is one line; ``system.json`` records the run as
``failed`` and it continues with ``--resume`` (see :mod:`wnrl.train.rundir`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from wnrl import agents
from wnrl.config import ConfigError, RunConfig, check_device, read_yaml, validate
from wnrl.envs import EnvError, env_slug, make_eval_env, make_vec_env
from wnrl.policies import DataInitCallback
from wnrl.train.budget import budget_warnings
from wnrl.train.callbacks import EvalCurveCallback, RunCheckpointCallback, remove_checkpoints
from wnrl.train.diagnostics_callback import DiagnosticsCallback
from wnrl.train.progress import ProgressLineCallback
from wnrl.train.record import (
    RunFields,
    RunRecord,
    latest_checkpoint,
    read_record,
)
from wnrl.train.resume import load_checkpoint, previous_system, run_logger
from wnrl.train.revision import SOURCE_REVISION
from wnrl.train.rundir import (
    OUTPUT_ERRNOS,
    RunDirClaim,
    check_empty,
    check_not_busy,
    check_out_path,
    is_empty,
    output_failure,
)
from wnrl.train.system import finish_run, now, restart_note, system_info, write_start, write_system
from wnrl.train.tb_hparams import hparams_callback, run_hparams

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
    check_device(config.train.device, source)  # the one check, also run for a local sweep's runs


def run_dir_for(config: RunConfig, root: Path = Path("runs")) -> Path:
    """A fresh directory name ``root/<env>-<algo>-<norm>-s<seed>[-k]``: a new one, or one that a
    stopped run left holding nothing but its lock file."""
    base = root / f"{env_slug(config.env.id)}-{config.agent.algo}-{config.agent.norm}-s{config.train.seed}"
    path, k = base, 1
    while path.exists() and not (path.is_dir() and is_empty(path)):
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def load_run_config(run_dir: Path) -> RunConfig:
    """The resolved config stored in a run directory."""
    if run_dir.is_file():
        raise ConfigError(f"{run_dir}: is a file; give the run directory that `wnrl train` created")
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ConfigError(
            f"{run_dir}: not a wnrl run directory (no config.yaml); give the directory that `wnrl train` created"
        )
    return validate(read_yaml(path), str(path))


def _checked_env(config: RunConfig, source: str, normalize: bool) -> VecEnv:
    """The training env, after the checks that need no env; bad input → ConfigError."""
    if config.train.torch_threads:
        torch.set_num_threads(config.train.torch_threads)
    _check_device(config, source)
    a = config.agent
    try:
        agents.check_hyperparams(a.algo, a.hyperparams, a.policy_kwargs)
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None
    try:
        env = build_env(config, normalize=normalize)
    except EnvError as e:
        raise ConfigError(f"{source}: env.id: {e}") from None
    except TypeError as e:  # gymnasium passes env.kwargs to the env's constructor
        raise ConfigError(f"{source}: env.kwargs: {str(e).splitlines()[0]}; remove or rename the key") from None
    except ValueError as e:
        raise ConfigError(f"{source}: env: {e}") from None
    try:
        agents.check_action_space(a.algo, env.action_space, config.env.id)
    except ValueError as e:
        env.close()
        raise ConfigError(f"{source}: {e}") from None
    return env


def _fresh_run_dir(out: Path | None, config: RunConfig) -> Path:
    run_dir = out if out is not None else run_dir_for(config)
    check_out_path(run_dir)
    check_empty(run_dir)
    return run_dir


def _start(config: RunConfig, out: Path | None, resume: Path | None, source: str) -> tuple[BaseAlgorithm, Path]:
    """The model and run directory of a new run (nothing written yet) or a resumed one (from its
    newest checkpoint; a new model when it stopped before its first one)."""
    restart = resume is not None and latest_checkpoint(resume / "checkpoints") is None
    env = _checked_env(config, source, normalize=resume is None or restart)
    try:
        if resume is not None and not restart:
            model, _ = load_checkpoint(config, resume, env)
            return model, resume
        run_dir = resume if resume is not None else _fresh_run_dir(out, config)
        return _make_model(config, env, source), run_dir
    except ConfigError:
        env.close()
        raise


def _q_bias_env(config: RunConfig, model: BaseAlgorithm) -> VecEnv | None:
    """A raw one-env evaluation env for the Q-value bias of off-policy value learners (its own
    seed, so the evaluation curve is unchanged); ``None`` when it is not measured."""
    if not isinstance(model, OffPolicyAlgorithm) or not config.train.diagnostics_freq:
        return None
    e = config.env
    return make_eval_env(
        e.id,
        n_envs=1,
        seed=config.train.seed + 20_000,
        env_kwargs=e.kwargs,
        frame_stack=e.frame_stack,
        atari_wrapper=e.atari_wrapper,
    )


def _callbacks(
    config: RunConfig, run_dir: Path, eval_env: VecEnv, q_env: VecEnv | None, progress_lines: bool
) -> tuple[list[BaseCallback], EvalCurveCallback, DiagnosticsCallback]:
    t = config.train
    curve_cb = EvalCurveCallback(eval_env, t.eval_freq, t.eval_episodes, run_dir / "curve.json")
    diag_cb = DiagnosticsCallback(t.diagnostics_freq, eval_env=q_env)
    callbacks: list[BaseCallback] = [
        DataInitCallback(),
        curve_cb,
        RunCheckpointCallback(run_dir / "checkpoints", t.checkpoint_steps(), keep_all=t.keeps_checkpoints),
        diag_cb,
        hparams_callback(
            run_hparams(config), {"eval/mean_return": 0.0, "eval/final_return": 0.0, "eval/auc_return": 0.0}
        ),
    ]
    if progress_lines:
        callbacks.append(ProgressLineCallback(t.total_timesteps, label=config.name))
    return callbacks, curve_cb, diag_cb


def train(
    config: RunConfig,
    out: Path | None = None,
    resume: Path | None = None,
    progress_bar: bool | None = None,
    source: str = "<config>",
    progress_lines: bool = False,
    fields: RunFields | None = None,
) -> RunRecord:
    """Train ``config`` into a run directory (or continue ``resume`` from its last checkpoint).

    The run directory is locked while the run writes it (``.lock``): a second ``wnrl train`` into
    it, or a second ``--resume`` of it, is refused.

    :param config: the validated run config
    :param out: the run directory to create (default: a fresh one under ``runs/``)
    :param resume: an interrupted run directory to continue; the run ends at
        ``train.total_timesteps`` as an uninterrupted one would. A finished run is returned as
        it is (nothing is changed); one that stopped before its first checkpoint trains again
        from step 0 (a line says so)
    :param progress_bar: show SB3's progress bar (default: ``train.progress_bar``)
    :param source: where the config came from, for error messages
    :param progress_lines: print a progress line to stderr every 10% of the budget or every
        minute (for logs, when stderr is not a terminal)
    :param fields: a sweep run's id, grid values and whole-run timings, written with the record
        in its one write of ``result.json`` (a diverged run is then written as failed)
    :raises ConfigError: on bad input, before anything is written; on a full or read-only disk
        during the run (``system.json`` then records it as failed)
    """
    entered = (time.time(), time.process_time())
    if resume is not None:
        check_out_path(resume, "--resume")
        check_not_busy(resume, resume=True)
        done = read_record(resume)
        if done is not None and done.finished:
            return done
    elif out is not None:
        check_out_path(out)
        check_not_busy(out)
    model, run_dir = _start(config, out, resume, source)
    try:
        claim = RunDirClaim(run_dir, fresh=resume is None)
    except ConfigError:
        _close_envs(model)
        raise
    try:
        return _train_claimed(config, model, claim, resume, progress_bar, progress_lines, source, entered, fields)
    except OSError as e:
        if e.errno not in OUTPUT_ERRNOS:
            raise
        _close_quietly(model)
        raise output_failure(run_dir, e, claim.system or previous_system(run_dir)) from None
    except BaseException:
        if resume is None and not (run_dir / "system.json").exists():
            claim.abandon()  # stopped before it wrote anything: only the lock file stays
        raise
    finally:
        claim.release()


def _close_envs(model: BaseAlgorithm) -> None:
    env = model.get_env()
    if env is not None:
        env.close()


def _close_quietly(model: BaseAlgorithm) -> None:
    """Close the log files and envs of a run whose disk failed (their last flush may fail too)."""
    logger = getattr(model, "_logger", None)
    if logger is not None:
        try:
            logger.close()
        except OSError:
            pass
    _close_envs(model)


def _train_claimed(
    config: RunConfig,
    model: BaseAlgorithm,
    claim: RunDirClaim,
    resume: Path | None,
    progress_bar: bool | None,
    progress_lines: bool,
    source: str,
    entered: tuple[float, float],
    fields: RunFields | None,
) -> RunRecord:
    """:func:`train` once the run directory is claimed (``entered``: wall and CPU time at entry;
    ``fields``: a sweep run's, written with its record)."""
    run_dir = claim.run_dir
    env = model.get_env()
    assert env is not None
    warnings = budget_warnings(config, model, source)
    for line in warnings:
        print(f"wnrl: warning: {line}", file=sys.stderr)
    earlier = previous_system(run_dir) if resume is not None else {}
    if resume is not None and model.num_timesteps == 0:
        restart_note(config, run_dir, earlier)
    parts: list[dict[str, Any]] = list(earlier.get("parts", []))
    info = {**system_info(model), "started": earlier.get("started", now()), "warnings": warnings}
    part = {"started": now(), "from_step": model.num_timesteps, "device": info["device"], "host": info["host"]}
    part.update(command=info["command"], wnrl_revision=SOURCE_REVISION)
    eval_env = build_eval_env(config, env)
    write_start(config, claim, {**info, "parts": [*parts, {**part, "status": "running"}]}, fresh=resume is None)

    show = config.train.progress_bar if progress_bar is None else progress_bar
    wall = time.time()
    status = "interrupted"
    q_env: VecEnv | None = None
    try:  # from here a stop is recorded: system.json says "running" no longer than the run does
        model.set_logger(run_logger(run_dir))
        q_env = _q_bias_env(config, model)
        callbacks, curve_cb, diag_cb = _callbacks(config, run_dir, eval_env, q_env, progress_lines)
        remaining = config.train.total_timesteps - model.num_timesteps
        if remaining > 0:
            model.learn(
                remaining,
                callback=CallbackList(callbacks),
                progress_bar=show,
                reset_num_timesteps=model.num_timesteps == 0,
            )
        else:  # a checkpoint at the budget: only the final evaluation is left
            curve_cb.init_callback(model)
            curve_cb.on_training_start(locals(), globals())
        status = "finished"
    except OSError:
        status = "failed"
        raise
    finally:
        part.update(ended=now(), to_step=model.num_timesteps, status=status)
        part.update(seconds=round(time.time() - wall, 3), wall_seconds=round(time.time() - entered[0], 3))
        part.update(cpu_seconds=round(time.process_time() - entered[1], 3))
        parts.append(part)
        info["parts"] = parts
        # the part's time is on disk before the final evaluation and saving (a stop there keeps it)
        claim.system = {**info, "status": "finishing" if status == "finished" else status}
        write_system(run_dir, claim.system, must=status == "finished")
        if q_env is not None:
            q_env.close()
    info["diagnostics"] = diag_cb.summary()
    record = finish_run(config, model, run_dir, curve_cb, info, env, eval_env, fields)
    if not config.train.keeps_checkpoints:
        remove_checkpoints(run_dir / "checkpoints")
    return record

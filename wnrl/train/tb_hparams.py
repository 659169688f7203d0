"""The HParams summary of a run: one row per run in TensorBoard's HParams dashboard, with the
run's config flattened into values the plugin accepts (:func:`run_hparams`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import TensorBoardOutputFormat

from wnrl.agents import hyperparam_names
from wnrl.registry import schedule_start

__all__ = ["HParamValue", "HParamsCallback", "hparams_callback", "run_hparams", "sanitize_hparams"]

#: A value TensorBoard's HParams plugin accepts.
HParamValue = str | bool | int | float


def _hparam_value(value: Any) -> HParamValue:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None:
        return "None"
    if isinstance(value, (list, tuple, dict)):
        try:
            return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def sanitize_hparams(hparams: Mapping[str, Any]) -> dict[str, HParamValue]:
    """Values TensorBoard's HParams plugin accepts: ``str``, ``bool``, ``int`` and finite
    ``float`` stay; ``None``, lists, dicts, non-finite floats and anything else become strings."""
    out: dict[str, HParamValue] = {}
    for key, value in hparams.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"hparam names must be non-empty strings, got {key!r}")
        out[key] = _hparam_value(value)
    return out


class HParamsCallback(BaseCallback):
    """Write the run's HParams session (its hparam values and metric tags) into the logger's
    TensorBoard events when training starts.

    No experiment summary is written: TensorBoard then computes the experiment (each hparam's
    domain, and ``differs``) from the sessions of every run under its ``--logdir``. The metric tags
    must be scalars the run logs itself, e.g. ``eval/mean_return``: the HParams dashboard shows
    their last value. The placeholder values given here are not written.
    """

    def __init__(self, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        super().__init__()
        if not metrics:
            raise ValueError(
                "metrics must name at least one scalar tag: TensorBoard's HParams "
                "dashboard ignores a run without metrics"
            )
        self.hparams = sanitize_hparams(hparams)
        self.metrics = {str(k): float(v) for k, v in metrics.items()}

    def _on_training_start(self) -> None:
        from torch.utils.tensorboard.summary import hparams

        # The run's session only: SB3's HParam also writes an experiment summary per run, listing
        # this run's values alone, and TensorBoard then shows every hparam as `differs: false`.
        # Without one, TensorBoard builds the experiment from all the runs' sessions.
        _, start, end = hparams(self.hparams, metric_dict=self.metrics)
        for fmt in self.logger.output_formats:
            if isinstance(fmt, TensorBoardOutputFormat) and fmt.writer.file_writer is not None:
                fmt.writer.file_writer.add_summary(start)
                fmt.writer.file_writer.add_summary(end)

    def _on_step(self) -> bool:
        return True


def hparams_callback(
    hparams: Mapping[str, HParamValue | None | list[Any]], metrics: Mapping[str, float]
) -> BaseCallback:
    """A callback that lists the run in TensorBoard's HParams dashboard (see :class:`HParamsCallback`).

    :param hparams: name → value; converted by :func:`sanitize_hparams`
    :param metrics: scalar tags the run logs (``eval/mean_return``, ``eval/final_return``, ...)
        with placeholder values
    """
    return HParamsCallback(hparams, metrics)


def _learning_rate(value: Any, algo: str) -> tuple[float | str, str]:
    """Start value and kind (``constant`` / ``linear`` / SB3's ``default``) of a config learning rate."""
    if value is None:
        default = hyperparam_names(algo)["learning_rate"].default
        return (float(default), "constant") if isinstance(default, (int, float)) else (str(default), "default")
    start = schedule_start(value)
    if start is None:
        return str(value), "unknown"
    return start, "linear" if isinstance(value, str) and value.startswith("lin_") else "constant"


def run_hparams(config: Any) -> dict[str, HParamValue]:
    """Flatten a :class:`~wnrl.config.schema.RunConfig` into TensorBoard hparams.

    Keys: ``algo``, ``env``, ``norm``, ``noise`` (``"clean"`` or e.g. ``"obs_std=0.2,sticky=0.25"``),
    one numeric ``noise_<key>`` per noise setting, ``learning_rate`` (start value of a
    ``lin_<x>`` schedule, SB3's default when unset) and ``lr_schedule``, ``seed``, ``n_envs``,
    ``net_arch`` (string), ``total_timesteps``, the other agent options, and every other
    ``agent.hyperparams`` entry under its own name.
    """
    env, agent, train = config.env, config.agent, config.train
    noise = env.noise.model_dump()
    active = env.noise.active()
    lr, schedule = _learning_rate(agent.hyperparams.get("learning_rate"), agent.algo)
    hp: dict[str, Any] = {
        "algo": agent.algo,
        "env": env.id,
        "norm": agent.norm,
        "noise": ",".join(f"{k}={v:g}" for k, v in active.items()) if active else "clean",
        **{f"noise_{k}": float(v) for k, v in noise.items()},
        "learning_rate": lr,
        "lr_schedule": schedule,
        "seed": train.seed,
        "n_envs": env.n_envs,
        "net_arch": "default" if agent.net_arch is None else agent.net_arch,
        "activation": agent.activation or "default",
        "norm_output": agent.norm_output,
        "data_init": "auto" if agent.data_init is None else str(agent.data_init).lower(),
        "init_scale": agent.init_scale,
        "total_timesteps": train.total_timesteps,
        "normalize_obs": env.normalize_obs,
        "normalize_reward": env.normalize_reward,
        "eval_noise": train.eval_noise,
        "name": config.name,
    }
    for key, value in agent.hyperparams.items():
        if key != "learning_rate" and key not in hp:
            hp[key] = value
    return sanitize_hparams(hp)

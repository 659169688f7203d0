"""What every agent module shares: schedules, activations, and the model construction."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv
from torch import nn

from wnrl.policies import NORMS, check_norm

__all__ = ["LinearSchedule", "parse_schedule", "ACTIVATIONS", "build_model", "AgentError"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


class AgentError(ValueError):
    """A configuration that cannot become a model (message says which key and how to fix it)."""


class LinearSchedule:
    """``progress_remaining · initial`` (rl-baselines3-zoo's ``lin_<value>``): from ``initial`` at
    the start of training to 0 at the end. A class, so saved models unpickle it by reference.

    :param initial: the value at the start of training
    """

    def __init__(self, initial: float) -> None:
        self.initial = float(initial)

    def __call__(self, progress_remaining: float) -> float:
        return progress_remaining * self.initial

    def __repr__(self) -> str:
        return f"lin_{self.initial:g}"


def parse_schedule(key: str, value: Any) -> Any:
    """A number, or a ``lin_<number>`` string → :class:`LinearSchedule`; nothing is ``eval``ed.

    :param key: the hyperparameter's name (for the error message)
    :param value: the configured value
    """
    if isinstance(value, str) and value.startswith("lin_"):
        try:
            initial = float(value[4:])
        except ValueError:
            raise AgentError(f"{key}: {value!r} is not a schedule; write lin_<number>, e.g. lin_3e-4") from None
        if not math.isfinite(initial) or initial < 0:
            raise AgentError(f"{key}: schedule start must be a finite non-negative number, got {value!r}")
        return LinearSchedule(initial)
    return value


SCHEDULED = ("learning_rate", "clip_range", "clip_range_vf")


def build_model(algo_cls: type[BaseAlgorithm], policy_cls: type, env: VecEnv | gym.Env | str, *,
                norm: str = "weight", net_arch: list[int] | dict[str, list[int]] | None = None,
                activation: str | None = None, data_init: bool | None = None,
                init_scale: float = 1.0, init_batch: int = 1024, norm_output: bool = False,
                hyperparams: dict[str, Any] | None = None, policy_kwargs: dict[str, Any] | None = None,
                seed: int | None = None, device: str = "auto", tensorboard_log: str | None = None,
                verbose: int = 0) -> BaseAlgorithm:
    """Build an SB3 model with a normalized policy from plain values.

    :param algo_cls: the SB3 algorithm class
    :param policy_cls: the wnrl policy class for it
    :param env: a (vectorised) environment or a gymnasium id
    :param norm: one of :data:`wnrl.policies.NORMS`
    :param net_arch: hidden layer widths (SB3's format)
    :param activation: activation name (see :data:`ACTIVATIONS`); ``None`` keeps SB3's default
    :param data_init: data-dependent init (``None``: on for the weight-norm family)
    :param init_scale: target pre-activation std after data-dependent init
    :param init_batch: observations used for data-dependent init
    :param norm_output: normalize the output heads too
    :param hyperparams: algorithm arguments passed to SB3 (``lin_<x>`` strings become schedules)
    :param policy_kwargs: extra policy arguments (plain values)
    :param seed: random seed
    :param device: ``auto``, ``cpu`` or ``cuda``
    :param tensorboard_log: TensorBoard directory
    :param verbose: SB3 verbosity
    """
    try:
        check_norm(norm)
    except ValueError:
        raise AgentError(f"agent.norm: unknown norm {norm!r}; valid values: {', '.join(NORMS)}") from None
    pk: dict[str, Any] = dict(policy_kwargs or {})
    pk.update(norm=norm, norm_output=norm_output, data_init=data_init, init_scale=init_scale,
              init_batch=init_batch)
    if net_arch is not None:
        pk["net_arch"] = net_arch
    if activation is not None:
        if activation not in ACTIVATIONS:
            raise AgentError(f"agent.activation: unknown activation {activation!r}; valid values: "
                             f"{', '.join(ACTIVATIONS)}")
        pk["activation_fn"] = ACTIVATIONS[activation]
    kwargs = {k: parse_schedule(k, v) if k in SCHEDULED else v for k, v in (hyperparams or {}).items()}
    try:
        return algo_cls(policy_cls, env, policy_kwargs=pk, seed=seed, device=device,
                        tensorboard_log=tensorboard_log, verbose=verbose, **kwargs)
    except TypeError as e:  # an unknown hyperparameter
        raise AgentError(f"agent.hyperparams: {e}; see the {algo_cls.__name__} documentation "
                         "of stable-baselines3 for valid arguments") from None


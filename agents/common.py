"""What every agent module shares: checks against the registry and the model construction."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from wnrl.config.suggest import suggest
from wnrl.registry import (
    ACTIVATIONS,
    ALGORITHMS,
    NORMS,
    SCHEDULED,
    ZOO_KEYS,
    AlgoSpec,
    algo_spec,
    load_object,
    parse_schedule,
    zoo_hint,
)

__all__ = ["RESERVED", "AgentError", "build_model", "check_action_space", "check_hyperparams", "hyperparam_names"]

#: Arguments of the SB3 constructors that wnrl sets itself (not ``agent.hyperparams``).
RESERVED = frozenset(
    {
        "self",
        "policy",
        "env",
        "policy_kwargs",
        "seed",
        "device",
        "tensorboard_log",
        "verbose",
        "_init_setup_model",
        "stats_window_size",
    }
)


#: Policy constructor arguments that SB3 passes itself.
POLICY_RESERVED = frozenset({"self", "observation_space", "action_space", "lr_schedule"})


class AgentError(ValueError):
    """A configuration that cannot become a model (message says which key and how to fix it)."""


@cache
def hyperparam_names(algo: str) -> dict[str, inspect.Parameter]:
    """The ``agent.hyperparams`` an algorithm takes: its SB3 constructor's arguments, less
    :data:`RESERVED` (imports SB3)."""
    params = inspect.signature(algo_spec(algo).algo_class().__init__).parameters
    return {k: p for k, p in params.items() if k not in RESERVED}


@cache
def policy_kwarg_names(algo: str) -> tuple[str, ...]:
    """The ``agent.policy_kwargs`` the wnrl policy of ``algo`` takes (imports it)."""
    params = inspect.signature(algo_spec(algo).policy_class().__init__).parameters
    return tuple(k for k in params if k not in POLICY_RESERVED)


def check_hyperparams(algo: str, hyperparams: dict[str, Any], policy_kwargs: dict[str, Any] | None = None) -> None:
    """Check ``agent.hyperparams`` against the SB3 constructor of ``algo`` (and
    ``agent.policy_kwargs`` against its wnrl policy).

    :raises AgentError: ``unknown key 'agent.hyperparams.n_step'; did you mean 'n_steps'?``, or a
        ``lin_`` schedule that is not ``lin_<number>`` (the schema checks the rest of the values)
    """
    valid = hyperparam_names(algo)
    for key, value in hyperparams.items():
        if key not in valid and key in ZOO_KEYS:
            raise AgentError(f"unknown key 'agent.hyperparams.{key}'; {zoo_hint(key)}")
        if key not in valid:
            raise AgentError(
                f"unknown key 'agent.hyperparams.{key}'; {suggest(key, sorted(valid), f'{algo.upper()} takes')}"
            )
        if key in SCHEDULED:
            try:
                parse_schedule(key, value)
            except ValueError as e:
                raise AgentError(f"agent.hyperparams.{e}") from None
    policy_args = policy_kwarg_names(algo)
    for key in policy_kwargs or {}:
        if key not in policy_args:
            policy = algo_spec(algo).policy.rpartition(":")[2]
            raise AgentError(f"unknown key 'agent.policy_kwargs.{key}'; {suggest(key, policy_args, f'{policy} takes')}")


def check_action_space(algo: str, action_space: gym.Space, env_id: str = "the environment") -> None:
    """Refuse an action space the algorithm cannot handle, naming the algorithms that can.

    :raises AgentError: e.g. DQN on a ``Box`` action space
    """
    spec = algo_spec(algo)
    if spec.supports(action_space):
        return
    others = [s.name for s in ALGORITHMS.values() if s.supports(action_space)]
    raise AgentError(
        f"agent.algo: {spec.name.upper()} needs a {' or '.join(spec.action_spaces)} "
        f"action space but {env_id} has {action_space}; use "
        f"{' or '.join(others) or 'another environment'}"
    )


def build_model(
    spec: AlgoSpec,
    env: VecEnv | gym.Env | str,
    *,
    norm: str = "weight",
    net_arch: list[int] | dict[str, list[int]] | None = None,
    activation: str | None = None,
    data_init: bool | None = None,
    init_scale: float = 1.0,
    init_batch: int = 1024,
    norm_output: bool = False,
    hyperparams: dict[str, Any] | None = None,
    policy_kwargs: dict[str, Any] | None = None,
    seed: int | None = None,
    device: str = "auto",
    tensorboard_log: str | None = None,
    verbose: int = 0,
) -> BaseAlgorithm:
    """Build an SB3 model with a normalized policy from plain values.

    :param spec: the algorithm's registry entry
    :param env: a (vectorised) environment or a gymnasium id
    :param norm: one of :data:`wnrl.registry.NORMS`
    :param net_arch: hidden layer widths (SB3's format)
    :param activation: activation name (see :data:`wnrl.registry.ACTIVATIONS`); ``None`` keeps
        SB3's default
    :param data_init: data-dependent init (``None``: on for the weight-norm family)
    :param init_scale: target pre-activation std after data-dependent init
    :param init_batch: observations used for data-dependent init
    :param norm_output: normalize the output heads too
    :param hyperparams: algorithm arguments passed to SB3 over ``spec.defaults`` (``lin_<x>``
        strings become schedules)
    :param policy_kwargs: extra policy arguments (plain values)
    :param seed: random seed
    :param device: ``auto``, ``cpu`` or ``cuda``
    :param tensorboard_log: TensorBoard directory
    :param verbose: SB3 verbosity
    """
    if norm not in NORMS:
        raise AgentError(f"agent.norm: unknown norm {norm!r}; valid values: {', '.join(NORMS)}")
    pk: dict[str, Any] = dict(policy_kwargs or {})
    pk.update(norm=norm, norm_output=norm_output, data_init=data_init, init_scale=init_scale, init_batch=init_batch)
    if net_arch is not None:
        pk["net_arch"] = net_arch
    if activation is not None:
        if activation not in ACTIVATIONS:
            raise AgentError(
                f"agent.activation: unknown activation {activation!r}; valid values: {', '.join(ACTIVATIONS)}"
            )
        pk["activation_fn"] = load_object(ACTIVATIONS[activation])
    merged = {**spec.defaults, **(hyperparams or {})}
    try:
        kwargs = {k: parse_schedule(k, v) if k in SCHEDULED else v for k, v in merged.items()}
    except ValueError as e:
        raise AgentError(f"agent.hyperparams.{e}") from None
    algo_cls = spec.algo_class()
    try:
        return algo_cls(
            spec.policy_class(),
            env,
            policy_kwargs=pk,
            seed=seed,
            device=device,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            **kwargs,
        )
    except TypeError as e:  # an unknown hyperparameter
        raise AgentError(
            f"agent.hyperparams: {e}; see the {algo_cls.__name__} documentation "
            "of stable-baselines3 for valid arguments"
        ) from None
    except AssertionError as e:  # SB3 checks some arguments with assert
        first = str(e).splitlines()[0] if str(e) else "an argument check failed"
        raise AgentError(f"agent.hyperparams: {algo_cls.__name__} refuses them: {first}") from None

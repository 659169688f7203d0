"""Every name wnrl knows, in one place: algorithms, normalizations, activations, schedules.

A leaf module: it imports nothing heavy (no torch, no SB3, no gymnasium), so config validation,
``wnrl --help`` and ``wnrl list`` know every valid name without loading a network library. Classes
are named by import path (``"stable_baselines3:DQN"``) and loaded on first use.

Adding an algorithm is one module in ``agents/`` (installed as ``wnrl.agents.<name>``, with a
``make(env, **config)`` function) plus one :class:`AlgoSpec` entry in :data:`ALGORITHMS`; see
``docs/extending.md``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import Any

__all__ = [
    "ACTIVATIONS",
    "ALGORITHMS",
    "ACTIVATION_NORMS",
    "NORMS",
    "NORM_PARTS",
    "PARAMETRIZATIONS",
    "PROJECTED_NORMS",
    "WEIGHT_NORMS",
    "ZOO_KEYS",
    "AlgoSpec",
    "LinearSchedule",
    "algo_spec",
    "check_norm",
    "load_object",
    "norm_parts",
    "parse_schedule",
    "schedule_start",
    "zoo_hint",
]


#: rl-baselines3-zoo hyperparameter-file keys → where wnrl keeps the same setting.
ZOO_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "n_timesteps": "train.total_timesteps",
        "normalize": "env.normalize_obs and env.normalize_reward",
        "normalize_kwargs": "env.normalize_obs and env.normalize_reward",
        "n_envs": "env.n_envs",
        "env_kwargs": "env.kwargs",
        "frame_stack": "env.frame_stack",
        "env_wrapper": "env.atari_wrapper (other wrappers: register your own env id)",
        "policy": "agent.norm (wnrl chooses the policy class)",
        "policy_kwargs": "agent.policy_kwargs",
        "callback": "nothing (wnrl's callbacks are fixed)",
    }
)


def zoo_hint(name: str) -> str:
    """The fix for an rl-baselines3-zoo key written where wnrl does not take it."""
    return f"rl-baselines3-zoo's {name!r} is {ZOO_KEYS[name]} in wnrl"


def load_object(path: str) -> Any:
    """Import ``"package.module:attribute"`` (or a module, without ``:``)."""
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


# -- normalizations -----------------------------------------------------------------------------
#: How the weight of a dense / conv layer is parametrized.
PARAMETRIZATIONS = ("plain", "weight", "weight_proj", "spectral", "spectral_last")
#: Which activation normalization goes with each layer.
ACTIVATION_NORMS = ("none", "batch", "batch_renorm", "layer", "meanbn")

#: Every value of ``norm`` → its two orthogonal parts ``(parametrization, activation norm)``; the
#: exact layer order of each is the table in :mod:`wnrl.policies.layers`. A new combination is one
#: line here (the layer builders read only the parts).
NORM_PARTS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "none": ("plain", "none"),
        "batch": ("plain", "batch"),
        "layer": ("plain", "layer"),
        "weight": ("weight", "none"),
        "weight_meanbn": ("weight", "meanbn"),
        "weight_proj": ("weight_proj", "none"),
        "batch_renorm": ("plain", "batch_renorm"),
        "spectral": ("spectral", "none"),
        "spectral_last": ("spectral_last", "none"),
        "weight_proj_brn": ("weight_proj", "batch_renorm"),
    }
)
#: Every value of ``norm`` (``policy_kwargs=dict(norm=...)``, YAML ``agent.norm``, sweep grids).
NORMS = tuple(NORM_PARTS)
#: The norms whose dense and conv layers are weight-norm layers (data-dependent init on by default).
WEIGHT_NORMS = tuple(n for n, (p, _) in NORM_PARTS.items() if p in ("weight", "weight_proj"))
#: The norms whose weight-norm directions ``v`` are projected to unit norm after every optimizer step.
PROJECTED_NORMS = tuple(n for n, (p, _) in NORM_PARTS.items() if p == "weight_proj")


def check_norm(norm: str) -> str:
    """Return ``norm`` if it is a known normalization, else raise ``ValueError`` listing them."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid values: {', '.join(NORMS)}")
    return norm


def norm_parts(norm: str) -> tuple[str, str]:
    """``(parametrization, activation norm)`` of ``norm`` (see :data:`NORM_PARTS`)."""
    return NORM_PARTS[check_norm(norm)]


# -- activations --------------------------------------------------------------------------------
#: ``agent.activation`` names → the ``torch.nn`` class they stand for.
ACTIVATIONS: Mapping[str, str] = MappingProxyType(
    {
        "tanh": "torch.nn:Tanh",
        "relu": "torch.nn:ReLU",
        "elu": "torch.nn:ELU",
        "gelu": "torch.nn:GELU",
        "silu": "torch.nn:SiLU",
        "leaky_relu": "torch.nn:LeakyReLU",
    }
)


# -- schedules ----------------------------------------------------------------------------------
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


#: Hyperparameters that accept a ``lin_<number>`` schedule.
SCHEDULED = ("learning_rate", "clip_range", "clip_range_vf")


def schedule_start(value: Any) -> float | None:
    """The start value of a number or a ``lin_<number>`` string; ``None`` if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.removeprefix("lin_"))
        except ValueError:
            return None
    return None


def parse_schedule(key: str, value: Any) -> Any:
    """A number stays a number; a ``lin_<number>`` string → :class:`LinearSchedule`; nothing is
    ``eval``ed.

    :param key: the hyperparameter's name (for the error message)
    :param value: the configured value
    :raises ValueError: a ``lin_`` string that is not a finite non-negative number
    """
    if not (isinstance(value, str) and value.startswith("lin_")):
        return value
    initial = schedule_start(value)
    if initial is None:
        raise ValueError(f"{key}: {value!r} is not a schedule; write lin_<number>, e.g. lin_3e-4")
    if not math.isfinite(initial) or initial < 0:
        raise ValueError(f"{key}: schedule start must be a finite non-negative number, got {value!r}")
    return LinearSchedule(initial)


# -- algorithms ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlgoSpec:
    """What wnrl knows about one algorithm.

    :param name: the ``agent.algo`` value
    :param sb3_class: import path of the SB3 algorithm class (``"stable_baselines3:DQN"``)
    :param policy: import path of the wnrl policy class it uses
    :param agent: the module in ``agents/`` whose ``make(env, **config)`` builds the model
    :param action_spaces: the gymnasium space class names it supports (empty: every space SB3 has)
    :param defaults: hyperparameters wnrl sets unless the config does (empty: SB3's own defaults)
    :param summary: one line for ``wnrl list`` and error messages
    :param auto_ent_coef: ``hyperparams.ent_coef`` may be ``auto`` / ``auto_<start>`` (a learned
        entropy coefficient: SAC and CrossQ; PPO and A2C take only a number)
    """

    name: str
    sb3_class: str
    policy: str
    agent: str
    action_spaces: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""
    auto_ent_coef: bool = False

    def algo_class(self) -> Any:
        """The SB3 algorithm class (imports SB3)."""
        return load_object(self.sb3_class)

    def policy_class(self) -> Any:
        """The wnrl policy class (imports torch)."""
        return load_object(self.policy)

    def module(self) -> ModuleType:
        """The agent module."""
        return load_object(self.agent)

    def supports(self, action_space: Any) -> bool:
        """Whether the algorithm handles ``action_space`` (a gymnasium space)."""
        return not self.action_spaces or type(action_space).__name__ in self.action_spaces


#: The one algorithm registry: ``agent.algo`` → :class:`AlgoSpec` (``docs/extending.md``).
ALGORITHMS: dict[str, AlgoSpec] = {
    spec.name: spec
    for spec in (
        AlgoSpec(
            "dqn",
            "stable_baselines3:DQN",
            "wnrl.policies:NormDQNPolicy",
            "wnrl.agents.dqn",
            action_spaces=("Discrete",),
            summary="DQN (Mnih et al. 2015), discrete actions",
        ),
        AlgoSpec(
            "ppo",
            "stable_baselines3:PPO",
            "wnrl.policies:NormActorCriticPolicy",
            "wnrl.agents.ppo",
            summary="PPO (Schulman et al. 2017), every action space",
        ),
        AlgoSpec(
            "a2c",
            "stable_baselines3:A2C",
            "wnrl.policies:NormActorCriticPolicy",
            "wnrl.agents.a2c",
            summary="A2C (Mnih et al. 2016), every action space",
        ),
        AlgoSpec(
            "sac",
            "stable_baselines3:SAC",
            "wnrl.policies:NormSACPolicy",
            "wnrl.agents.sac",
            action_spaces=("Box",),
            summary="SAC (Haarnoja et al. 2018), continuous actions",
            auto_ent_coef=True,
        ),
        AlgoSpec(
            "td3",
            "stable_baselines3:TD3",
            "wnrl.policies:NormTD3Policy",
            "wnrl.agents.td3",
            action_spaces=("Box",),
            summary="TD3 (Fujimoto et al. 2018), continuous actions",
        ),
        AlgoSpec(
            "crossq",
            "sb3_contrib:CrossQ",
            "wnrl.policies:NormCrossQPolicy",
            "wnrl.agents.crossq",
            action_spaces=("Box",),
            summary="CrossQ (Bhatt et al. 2024; sb3-contrib), continuous actions",
            auto_ent_coef=True,
        ),
    )
}


def algo_spec(name: str) -> AlgoSpec:
    """The registry entry of ``name``; ``ValueError`` with the valid names if unknown."""
    try:
        return ALGORITHMS[str(name).lower()]
    except KeyError:
        raise ValueError(f"agent.algo: unknown algorithm {name!r}; valid values: {', '.join(ALGORITHMS)}") from None

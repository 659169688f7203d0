"""The one validated schema of a wnrl run (pydantic v2).

A run config has four sections::

    name: cartpole-ppo-weight
    env:    {id: CartPole-v1, n_envs: 8, noise: {obs_std: 0.1}}
    agent:  {algo: ppo, norm: weight, net_arch: [64, 64], hyperparams: {learning_rate: lin_1e-3}}
    train:  {total_timesteps: 100000, seed: 0, device: auto, eval_freq: 10000}

Unknown keys are errors (``extra="forbid"``); ``agent.hyperparams`` is checked against the
SB3 algorithm's constructor. Values are plain data: nothing is ever ``eval``ed.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wnrl.policies.layers import NORMS

__all__ = ["NoiseConfig", "EnvConfig", "AgentConfig", "TrainConfig", "RunConfig", "ALGO_NAMES",
           "algo_class"]

ALGO_NAMES = ("dqn", "ppo", "a2c")
NormName = Literal["none", "batch", "layer", "weight", "weight_meanbn", "weight_proj"]
assert set(NormName.__args__) == set(NORMS)  # type: ignore[attr-defined]
Activation = Literal["tanh", "relu", "elu", "gelu", "silu", "leaky_relu"]
# Arguments of the SB3 constructors that wnrl sets itself.
_RESERVED = {"self", "policy", "env", "policy_kwargs", "seed", "device", "tensorboard_log", "verbose",
             "_init_setup_model", "stats_window_size"}


def algo_class(algo: str) -> type:
    """The SB3 class of an algorithm name."""
    import stable_baselines3 as sb3
    return {"dqn": sb3.DQN, "ppo": sb3.PPO, "a2c": sb3.A2C}[algo]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


Probability = Field(default=0.0, ge=0.0, le=1.0, allow_inf_nan=False)
NonNegative = Field(default=0.0, ge=0.0, allow_inf_nan=False)


class NoiseConfig(_Strict):
    """Noise added to the environment (see :mod:`wnrl.envs.noise`); all zero = clean."""

    obs_std: float = NonNegative
    obs_dropout: float = Probability
    reward_std: float = NonNegative
    reward_flip: float = Probability
    sticky: float = Probability
    action_std: float = NonNegative

    def active(self) -> dict[str, float]:
        """The non-zero settings."""
        return {k: v for k, v in self.model_dump().items() if v}


class EnvConfig(_Strict):
    """The environment: id, vectorisation, wrappers, normalization and noise."""

    id: str = Field(min_length=1)
    n_envs: int = Field(default=1, ge=1, le=1024)
    vec_env: Literal["dummy", "subproc"] = "dummy"
    kwargs: dict[str, Any] = Field(default_factory=dict)
    atari_wrapper: bool | None = None
    frame_stack: int | None = Field(default=None, ge=1)
    normalize_obs: bool = False
    normalize_reward: bool = False
    noise: NoiseConfig = Field(default_factory=NoiseConfig)


def _check_finite(path: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path}: must be a finite number, got {value}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(f"{path}.{k}", v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(f"{path}[{i}]", v)


class AgentConfig(_Strict):
    """The agent: algorithm, normalization, network and SB3 hyperparameters."""

    algo: Literal["dqn", "ppo", "a2c"]
    norm: NormName = "weight"
    norm_output: bool = False
    net_arch: list[int] | dict[str, list[int]] | None = None
    activation: Activation | None = None
    data_init: bool | None = None
    init_scale: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)
    init_batch: int = Field(default=1024, ge=2)
    hyperparams: dict[str, Any] = Field(default_factory=dict)
    policy_kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("net_arch")
    @classmethod
    def _positive_widths(cls, v: Any) -> Any:
        widths = v if isinstance(v, list) else [w for ws in (v or {}).values() for w in ws]
        if any(w < 1 for w in widths):
            raise ValueError("layer widths must be positive integers")
        if isinstance(v, dict) and not set(v) <= {"pi", "vf", "qf"}:
            raise ValueError("a dict net_arch takes the keys pi and vf")
        return v

    @model_validator(mode="after")
    def _known_hyperparams(self) -> AgentConfig:
        _check_finite("hyperparams", self.hyperparams)
        valid = [p for p in inspect.signature(algo_class(self.algo).__init__).parameters
                 if p not in _RESERVED]
        for key, value in self.hyperparams.items():
            if key not in valid:
                raise ValueError(_unknown(f"hyperparams.{key}", key, valid,
                                          f"{self.algo.upper()} takes"))
            if key == "learning_rate":
                lr = value if not isinstance(value, str) else _schedule_start(value)
                if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0:
                    raise ValueError(f"hyperparams.learning_rate: must be a positive number or "
                                     f"lin_<number>, got {value!r}")
        return self


def _schedule_start(value: str) -> float | None:
    if value.startswith("lin_"):
        try:
            return float(value[4:])
        except ValueError:
            return None
    return None


def _unknown(path: str, key: str, valid: list[str], what: str) -> str:
    import difflib
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"{what}: {', '.join(sorted(valid))}"
    return f"unknown key {path!r}; {hint}"


class TrainConfig(_Strict):
    """How long and how to train, evaluate and checkpoint."""

    total_timesteps: int = Field(gt=0)
    seed: int = Field(default=0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    eval_freq: int = Field(default=10_000, ge=0)
    eval_episodes: int = Field(default=10, ge=1)
    eval_noise: bool = False
    checkpoint_freq: int = Field(default=0, ge=0)
    diagnostics_freq: int = Field(default=1_000, ge=0)
    torch_threads: int | None = Field(default=None, ge=1)
    progress_bar: bool = True


class RunConfig(_Strict):
    """A whole run: ``name``, ``env``, ``agent``, ``train``."""

    name: str = Field(default="run", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    env: EnvConfig
    agent: AgentConfig
    train: TrainConfig

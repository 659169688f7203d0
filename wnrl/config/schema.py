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

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from wnrl.config.hyperparams import check_hyperparam_values, train_freq_tuple
from wnrl.config.suggest import suggest
from wnrl.registry import ACTIVATIONS, ALGORITHMS, NORMS, schedule_start

__all__ = ["AgentConfig", "EnvConfig", "NoiseConfig", "RunConfig", "TrainConfig"]


#: What a run or sweep name may hold (it names directories).
NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"


def _one_of(value: Any, valid: Any, what: str) -> str:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; {suggest(str(value), valid, show_all=True)}")
    return str(value)


def _integer(value: Any) -> Any:
    """An integer, never a bool (``total_timesteps: true`` is not 1); ``1e5`` is read as 100000."""
    if isinstance(value, bool):
        raise ValueError(f"must be an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An ``int`` field that refuses bools and takes integral floats (``1e5`` from YAML).
Int = Annotated[int, BeforeValidator(_integer)]

#: The largest training budget (a typo such as ``1e29`` would otherwise train forever).
MAX_TIMESTEPS = 10**12

#: Seeds are below this: numpy seeds its global generator with 32 bits (SB3's ``set_random_seed``).
SEED_LIMIT = 2**32

#: ``agent.policy_kwargs`` keys that have their own ``agent`` key (wnrl sets them from it).
OWN_KEYS = {
    "net_arch": "agent.net_arch",
    "activation_fn": "agent.activation",
    "norm": "agent.norm",
    "norm_output": "agent.norm_output",
    "data_init": "agent.data_init",
    "init_scale": "agent.init_scale",
    "init_batch": "agent.init_batch",
}


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
    n_envs: Int = Field(default=1, ge=1, le=1024)
    vec_env: Literal["dummy", "subproc"] = "dummy"
    kwargs: dict[str, Any] = Field(default_factory=dict)
    atari_wrapper: bool | None = None
    frame_stack: Int | None = Field(default=None, ge=1)
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

    algo: str
    norm: str = "weight"
    norm_output: bool = False
    net_arch: list[int] | dict[str, list[int]] | None = None
    activation: str | None = None
    data_init: bool | None = None
    init_scale: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)
    init_batch: Int = Field(default=1024, ge=2)
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

    @field_validator("algo", mode="before")
    @classmethod
    def _known_algo(cls, v: Any) -> str:
        return _one_of(str(v).lower() if isinstance(v, str) else v, ALGORITHMS, "algorithm")

    @field_validator("norm")
    @classmethod
    def _known_norm(cls, v: str) -> str:
        return _one_of(v, NORMS, "norm")

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, v: str | None) -> str | None:
        return None if v is None else _one_of(v, ACTIVATIONS, "activation")

    @field_validator("hyperparams")
    @classmethod
    def _train_freq_tuple(cls, v: dict[str, Any]) -> dict[str, Any]:
        """``train_freq: [4, step]`` → ``(4, "step")``, the form SB3 takes (stored as a list again)."""
        return train_freq_tuple(v)

    @model_validator(mode="after")
    def _finite_hyperparams(self) -> AgentConfig:
        """Hyperparameter *names* are checked against SB3 by ``wnrl.agents.check_hyperparams``
        (it needs SB3); here only what plain data can tell, for this algorithm."""
        _check_finite("hyperparams", self.hyperparams)
        check_hyperparam_values(self.hyperparams, self.algo)
        lr = self.hyperparams.get("learning_rate", 1.0)
        start = schedule_start(lr)
        if start is None or start <= 0:
            raise ValueError(f"hyperparams.learning_rate: must be a positive number or lin_<number>, got {lr!r}")
        return self

    @model_validator(mode="after")
    def _own_keys_not_in_policy_kwargs(self) -> AgentConfig:
        """``policy_kwargs.net_arch`` beside ``agent.net_arch`` would be silently overridden: the
        keys wnrl sets from ``agent`` are refused in ``policy_kwargs``."""
        for key, own in OWN_KEYS.items():
            if key in self.policy_kwargs:
                raise ValueError(f"policy_kwargs.{key}: set {own} instead (wnrl sets {key} from it)")
        return self


class TrainConfig(_Strict):
    """How long and how to train, evaluate and checkpoint."""

    total_timesteps: Int = Field(gt=0, le=MAX_TIMESTEPS)
    seed: Int = Field(default=0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    eval_freq: Int = Field(default=10_000, ge=0)
    eval_episodes: Int = Field(default=10, ge=1)
    eval_noise: bool = False
    checkpoint_freq: Annotated[Int, Field(ge=0)] | Literal["auto"] = "auto"
    diagnostics_freq: Int = Field(default=1_000, ge=0)
    torch_threads: Int | None = Field(default=None, ge=1)
    progress_bar: bool = True

    @field_validator("seed")
    @classmethod
    def _seed_range(cls, v: int) -> int:
        if v >= SEED_LIMIT:
            raise ValueError(f"must be below 2**32 = {SEED_LIMIT} (numpy's seed range), got {v}; use a smaller seed")
        return v

    def checkpoint_steps(self) -> int:
        """Steps between checkpoints: ``auto`` is every 10% of the budget (0: none)."""
        if self.checkpoint_freq == "auto":
            return max(1, -(-self.total_timesteps // 10))
        return self.checkpoint_freq

    @property
    def keeps_checkpoints(self) -> bool:
        """An explicit ``checkpoint_freq`` keeps every checkpoint; ``auto`` keeps only the
        newest while the run trains (enough to resume) and none once it has finished."""
        return self.checkpoint_freq != "auto"


class RunConfig(_Strict):
    """A whole run: ``name``, ``env``, ``agent``, ``train``."""

    name: str = Field(default="run", min_length=1, pattern=NAME_PATTERN)
    env: EnvConfig
    agent: AgentConfig
    train: TrainConfig

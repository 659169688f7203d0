"""Value checks of the common SB3 hyperparameters, from plain data (no SB3 import).

SB3 checks few of its arguments, late, and with ``assert``: ``n_steps=0`` or ``batch_size=1``
raise an ``AssertionError`` in the constructor, ``n_epochs=-1`` fails in the middle of the first
update, ``gamma: abc`` fails inside the env wrappers. Here each gets a one-line message naming the
key before anything is built. Names are checked against the SB3 constructor elsewhere
(:func:`wnrl.agents.check_hyperparams`); a name missing from :data:`RULES` is passed unchecked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from wnrl.registry import ALGORITHMS, SCHEDULED

__all__ = ["RULES", "Rule", "check_hyperparam_values", "train_freq_tuple"]


@dataclass(frozen=True)
class Rule:
    """What one hyperparameter may be.

    :param integer: an integer (a bool is never one)
    :param low: smallest value
    :param high: largest value (``None``: unbounded)
    :param open_low: ``low`` itself is excluded
    :param also: other plain values accepted as they are (``None``, ``-1``, ``"auto"``)
    """

    integer: bool = False
    low: float = 0.0
    high: float | None = None
    open_low: bool = False
    also: tuple[Any, ...] = ()

    def describe(self) -> str:
        """``an integer ≥ 1``, ``a number in [0, 1]``, ... (the fix in a message)."""
        kind = "an integer" if self.integer else "a number"
        low = f"{self.low:g}"
        if self.high is not None:
            text = f"{kind} in {'(' if self.open_low else '['}{low}, {self.high:g}]"
        else:
            text = f"{kind} {'>' if self.open_low else '≥'} {low}"
        extra = [repr(a) if isinstance(a, str) else str(a) for a in self.also]
        return text + (f" (or {', '.join(extra)})" if extra else "")

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` satisfies the rule."""
        if any(value == a and type(value) is type(a) for a in self.also):
            return True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value) or value < self.low or (self.open_low and value == self.low):
            return False
        return self.high is None or value <= self.high


_COUNT = Rule(integer=True, low=1)
_FRACTION = Rule(low=0.0, high=1.0)
_POSITIVE = Rule(low=0.0, open_low=True)

#: The rules of the hyperparameters of SB3's DQN, PPO, A2C, SAC and TD3 that plain data can check.
RULES: dict[str, Rule] = {
    "n_steps": _COUNT,
    "batch_size": Rule(integer=True, low=2),  # PPO normalizes advantages over the batch
    "n_epochs": _COUNT,
    "buffer_size": _COUNT,
    "learning_starts": Rule(integer=True, low=0),
    "gradient_steps": Rule(integer=True, low=1, also=(-1,)),
    "target_update_interval": _COUNT,
    "policy_delay": _COUNT,
    "sde_sample_freq": Rule(integer=True, low=-1),
    "gamma": _FRACTION,
    "gae_lambda": _FRACTION,
    "tau": _FRACTION,
    "exploration_fraction": _FRACTION,
    "exploration_initial_eps": _FRACTION,
    "exploration_final_eps": _FRACTION,
    "vf_coef": Rule(low=0.0),
    "ent_coef": Rule(low=0.0),  # or auto / auto_<start> where the algorithm learns it (_check_ent_coef)
    "max_grad_norm": _POSITIVE,
    "clip_range": _POSITIVE,
    "clip_range_vf": Rule(low=0.0, open_low=True, also=(None,)),
    "target_kl": Rule(low=0.0, open_low=True, also=(None,)),
    "rms_prop_eps": _POSITIVE,
    "target_policy_noise": Rule(low=0.0),
    "target_noise_clip": Rule(low=0.0),
}

_BOOLEANS = ("normalize_advantage", "use_sde", "use_sde_at_warmup", "use_rms_prop", "optimize_memory_usage")


def _check_train_freq(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return None
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and _COUNT.accepts(value[0])
        and value[1] in ("step", "episode")
    ):
        return None
    return "must be an integer ≥ 1 or [N, step] / [N, episode]"


def train_freq_tuple(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """``hyperparams`` with a valid ``train_freq: [4, step]`` as the tuple ``(4, "step")`` SB3
    takes (YAML has no tuples; SB3 reads a list as a frequency and refuses it).

    :param hyperparams: ``agent.hyperparams``
    """
    value = hyperparams.get("train_freq")
    if isinstance(value, list) and _check_train_freq(value) is None:
        return {**hyperparams, "train_freq": tuple(value)}
    return hyperparams


def _check_ent_coef(value: str, algo: str | None) -> str | None:
    """``auto`` or ``auto_<start>`` (start > 0), for the algorithms that learn the coefficient."""
    learners = [name for name, spec in ALGORITHMS.items() if spec.auto_ent_coef]
    if algo is not None and algo not in learners:
        return (
            f"auto (a learned entropy coefficient) is for {', '.join(learners)} only, not {algo}: "
            "give a number ≥ 0 such as 0.01"
        )
    start = value.removeprefix("auto").removeprefix("_")
    if value == "auto" or (value.startswith("auto_") and _POSITIVE.accepts(_number(start))):
        return None
    return "must be a number ≥ 0, auto or auto_<start> (e.g. auto_0.1)"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _problem(key: str, value: Any, algo: str | None) -> str | None:
    if key in SCHEDULED and isinstance(value, str):
        return None  # lin_<x>: parsed by wnrl.registry.parse_schedule
    if key == "ent_coef" and isinstance(value, str):
        return _check_ent_coef(value, algo)
    if key == "train_freq":
        return _check_train_freq(value)
    if key in _BOOLEANS:
        return None if isinstance(value, bool) else "must be true or false"
    rule = RULES.get(key)
    if rule is None or rule.accepts(value):
        return None
    return f"must be {rule.describe()}"


def check_hyperparam_values(hyperparams: dict[str, Any], algo: str | None = None) -> None:
    """Raise ``ValueError("hyperparams.gamma: must be a number in [0, 1], got 'abc'")`` for
    the first value outside its :data:`RULES`.

    :param hyperparams: ``agent.hyperparams``
    :param algo: ``agent.algo``, for the values only some algorithms take (``ent_coef: auto``);
        ``None``: any algorithm's
    """
    for key, value in hyperparams.items():
        problem = _problem(key, value, algo)
        if problem:
            raise ValueError(f"hyperparams.{key}: {problem}, got {value!r}")

"""A2C (Mnih et al. 2016) with normalized actor and critic: a config dict → an SB3 ``A2C``."""

from __future__ import annotations

from typing import Any

from gymnasium import spaces
from stable_baselines3 import A2C

from agents.common import build_model
from wnrl.policies import NormActorCriticPolicy

ALGO = A2C
POLICY = NormActorCriticPolicy


def check_action_space(action_space: spaces.Space, env_id: str = "the environment") -> None:
    """A2C handles every action space SB3 supports."""


def make(env: Any, **config: Any) -> A2C:
    """Build a A2C model; ``config`` as :func:`agents.common.build_model`."""
    return build_model(A2C, NormActorCriticPolicy, env, **config)  # type: ignore[return-value]

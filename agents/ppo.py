"""PPO (Schulman et al. 2017) with normalized actor and critic: a config dict → an SB3 ``PPO``."""

from __future__ import annotations

from typing import Any

from gymnasium import spaces
from stable_baselines3 import PPO

from agents.common import build_model
from wnrl.policies import NormActorCriticPolicy

ALGO = PPO
POLICY = NormActorCriticPolicy


def check_action_space(action_space: spaces.Space, env_id: str = "the environment") -> None:
    """PPO handles every action space SB3 supports."""


def make(env: Any, **config: Any) -> PPO:
    """Build a PPO model; ``config`` as :func:`agents.common.build_model`."""
    return build_model(PPO, NormActorCriticPolicy, env, **config)  # type: ignore[return-value]

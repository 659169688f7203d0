"""DQN (Mnih et al. 2015) with a normalized Q-network: a config dict → an SB3 ``DQN``."""

from __future__ import annotations

from typing import Any

from gymnasium import spaces
from stable_baselines3 import DQN

from agents.common import AgentError, build_model
from wnrl.policies import NormDQNPolicy

ALGO = DQN
POLICY = NormDQNPolicy


def check_action_space(action_space: spaces.Space, env_id: str = "the environment") -> None:
    """DQN needs discrete actions."""
    if not isinstance(action_space, spaces.Discrete):
        raise AgentError(f"agent.algo: DQN needs a Discrete action space but {env_id} has "
                         f"{action_space}; use ppo or a2c for continuous actions")


def make(env: Any, **config: Any) -> DQN:
    """Build a DQN model; ``config`` as :func:`agents.common.build_model`."""
    return build_model(DQN, NormDQNPolicy, env, **config)  # type: ignore[return-value]

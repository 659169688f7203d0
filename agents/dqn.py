"""DQN (Mnih et al. 2015) with a normalized Q-network: a config → an SB3 ``DQN``."""

from __future__ import annotations

from typing import Any

from stable_baselines3 import DQN

from wnrl.agents.common import build_model
from wnrl.registry import ALGORITHMS


def make(env: Any, **config: Any) -> DQN:
    """Build a DQN model; ``config`` as :func:`wnrl.agents.common.build_model`."""
    return build_model(ALGORITHMS["dqn"], env, **config)

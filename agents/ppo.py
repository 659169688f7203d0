"""PPO (Schulman et al. 2017) with normalized actor and critic: a config → an SB3 ``PPO``."""

from __future__ import annotations

from typing import Any

from stable_baselines3 import PPO

from wnrl.agents.common import build_model
from wnrl.registry import ALGORITHMS


def make(env: Any, **config: Any) -> PPO:
    """Build a PPO model; ``config`` as :func:`wnrl.agents.common.build_model`."""
    return build_model(ALGORITHMS["ppo"], env, **config)

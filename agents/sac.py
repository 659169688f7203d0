"""SAC (Haarnoja et al. 2018) with normalized actor and critics: a config → an SB3 ``SAC``.

A numeric ``agent.hyperparams.action_noise`` is a Gaussian std, as for TD3
(:func:`wnrl.agents.td3.with_action_noise`).
"""

from __future__ import annotations

from typing import Any

from stable_baselines3 import SAC

from wnrl.agents.common import build_model
from wnrl.agents.td3 import with_action_noise
from wnrl.registry import ALGORITHMS

__all__ = ["make"]


def make(env: Any, **config: Any) -> SAC:
    """Build a SAC model; ``config`` as :func:`wnrl.agents.common.build_model`."""
    return build_model(ALGORITHMS["sac"], env, **with_action_noise(env, config))

"""A2C (Mnih et al. 2016) with normalized actor and critic: a config → an SB3 ``A2C``."""

from __future__ import annotations

from typing import Any

from stable_baselines3 import A2C

from wnrl.agents.common import build_model
from wnrl.registry import ALGORITHMS


def make(env: Any, **config: Any) -> A2C:
    """Build an A2C model; ``config`` as :func:`wnrl.agents.common.build_model`."""
    return build_model(ALGORITHMS["a2c"], env, **config)

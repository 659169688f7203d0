"""CrossQ (Bhatt et al., ICLR 2024; sb3-contrib) with normalized actor and critics: a config → an
sb3-contrib ``CrossQ``. Without a ``norm`` the network is CrossQ's own (``batch_renorm``);
``weight_proj_brn`` is CrossQ + WN (Palenicek et al. 2025).
"""

from __future__ import annotations

from typing import Any

from sb3_contrib import CrossQ

from wnrl.agents.common import build_model
from wnrl.agents.td3 import with_action_noise
from wnrl.registry import ALGORITHMS

__all__ = ["make"]


def make(env: Any, norm: str = "batch_renorm", **config: Any) -> CrossQ:
    """Build a CrossQ model; ``config`` as :func:`wnrl.agents.common.build_model`.

    :param env: a (vectorised) environment or a gymnasium id
    :param norm: one of :data:`wnrl.registry.NORMS` (default: CrossQ's batch renorm)
    """
    return build_model(ALGORITHMS["crossq"], env, norm=norm, **with_action_noise(env, config))

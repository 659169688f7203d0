"""SB3's own test environments under gymnasium ids: ``SimpleMultiObs-v0`` (Dict observations).

No gymnasium environment has Dict observations; SB3's ``SimpleMultiObsEnv`` (an image and a
vector per cell of a 4×4 grid) is the standard small case, and registering it lets a config
(``configs/multiobs_ppo.yaml``) train on it by id.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["make_simple_multi_obs", "register_sb3_envs"]


def make_simple_multi_obs(mapping_seed: int = 0, **kwargs: Any) -> gym.Env:
    """SB3's ``SimpleMultiObsEnv`` with its observation mapping drawn from ``mapping_seed``.

    :param mapping_seed: seed of the per-cell random vectors and images (SB3 draws them from the
        global NumPy RNG, so every sub-env and the eval env would otherwise differ)
    :param kwargs: ``SimpleMultiObsEnv`` arguments
    """
    from stable_baselines3.common.envs import SimpleMultiObsEnv

    state = np.random.get_state()
    np.random.seed(mapping_seed)
    try:
        return SimpleMultiObsEnv(**kwargs)
    finally:
        np.random.set_state(state)


def register_sb3_envs() -> None:
    """Register ``SimpleMultiObs-v0`` (once)."""
    if "SimpleMultiObs-v0" not in gym.registry:
        # disable_env_checker: the env returns the same dict objects every step, which gymnasium's
        # passive checker warns about (harmless: DummyVecEnv copies them).
        gym.register("SimpleMultiObs-v0", entry_point=make_simple_multi_obs, disable_env_checker=True)

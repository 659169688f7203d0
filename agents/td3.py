"""TD3 (Fujimoto et al. 2018) with normalized actor, critics and targets: a config → an SB3 ``TD3``.

``agent.hyperparams.action_noise`` may be a number: the std of Gaussian exploration noise on the
scaled actions (rl-baselines3-zoo's ``noise_type: normal``, ``noise_std``), made into SB3's
``NormalActionNoise``; SB3's own default is no noise at all. ``train_freq: [1, episode]`` (YAML has
no tuples) becomes the tuple SB3 needs.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3 import TD3
from stable_baselines3.common.noise import NormalActionNoise

from wnrl.agents.common import AgentError, build_model
from wnrl.registry import ALGORITHMS

__all__ = ["make", "with_action_noise"]


def _action_dim(env: Any) -> int:
    if isinstance(env, str):
        probe = gym.make(env)
        space = probe.action_space
        probe.close()
    else:
        space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        raise AgentError(f"agent.hyperparams.action_noise: needs a Box action space, got {space}")
    return int(np.prod(space.shape))


def with_action_noise(env: Any, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with a numeric ``hyperparams.action_noise`` (a std) made into SB3's
    ``NormalActionNoise(0, std)`` over the env's action dimensions, and a list ``train_freq`` a tuple.

    :param env: the env (or env id) the model is built on
    :param config: the agent config (``hyperparams`` inside), not modified
    :raises AgentError: a negative or non-finite std
    """
    hyperparams = dict(config.get("hyperparams") or {})
    if isinstance(hyperparams.get("train_freq"), list):  # SB3 takes (n, unit) as a tuple only
        hyperparams["train_freq"] = tuple(hyperparams["train_freq"])
        config = {**config, "hyperparams": hyperparams}
    std = hyperparams.get("action_noise")
    if isinstance(std, bool) or not isinstance(std, (int, float)):
        return config
    if not np.isfinite(std) or std < 0:
        raise AgentError(f"agent.hyperparams.action_noise: must be a finite number ≥ 0, got {std!r}")
    dim = _action_dim(env)
    hyperparams["action_noise"] = NormalActionNoise(np.zeros(dim), float(std) * np.ones(dim)) if std > 0 else None
    return {**config, "hyperparams": hyperparams}


def make(env: Any, **config: Any) -> TD3:
    """Build a TD3 model; ``config`` as :func:`wnrl.agents.common.build_model`."""
    return build_model(ALGORITHMS["td3"], env, **with_action_noise(env, config))

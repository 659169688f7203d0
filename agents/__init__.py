"""One module per algorithm: how a plain config becomes an SB3 model with a wnrl policy.

Installed as ``wnrl.agents`` (the folder sits at the top of the repository). Which algorithms
exist, their SB3 classes, policies and action spaces is :data:`wnrl.registry.ALGORITHMS`.

>>> from wnrl import agents
>>> model = agents.make("ppo", "CartPole-v1", norm="weight", net_arch=[64, 64])
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from wnrl.agents.common import (
    AgentError,
    build_model,
    check_action_space,
    check_hyperparams,
    hyperparam_names,
)
from wnrl.registry import algo_spec

__all__ = ["AgentError", "build_model", "check_action_space", "check_hyperparams", "get", "hyperparam_names", "make"]


def get(algo: str) -> ModuleType:
    """The agent module of ``algo`` (see :data:`wnrl.registry.ALGORITHMS`).

    :raises AgentError: for an unknown algorithm, listing the valid ones
    """
    try:
        return algo_spec(algo).module()
    except ValueError as e:
        raise AgentError(str(e)) from None


def make(algo: str, env: Any, **config: Any) -> Any:
    """Build the SB3 model of ``algo`` on ``env`` from plain values.

    :param algo: an algorithm name (``dqn``, ``ppo``, ``a2c``)
    :param env: a VecEnv, a gymnasium env or an env id
    :param config: see :func:`wnrl.agents.common.build_model`
    """
    module = get(algo)
    if isinstance(env, str):
        import gymnasium as gym

        probe = gym.make(env)
        action_space, name = probe.action_space, env
        probe.close()
    else:
        action_space = env.action_space
        name = getattr(getattr(env, "spec", None), "id", None) or "the environment"
    check_action_space(algo, action_space, name)
    return module.make(env, **config)

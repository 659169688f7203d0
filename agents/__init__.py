"""One module per algorithm: how a plain config dict becomes an SB3 model with a wnrl policy.

>>> import agents
>>> model = agents.make("ppo", "CartPole-v1", norm="weight", net_arch=[64, 64])
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from agents import a2c, dqn, ppo
from agents.common import AgentError, LinearSchedule, parse_schedule

__all__ = ["make", "get", "ALGOS", "AgentError", "LinearSchedule", "parse_schedule"]

ALGOS: dict[str, ModuleType] = {"dqn": dqn, "ppo": ppo, "a2c": a2c}


def get(algo: str) -> ModuleType:
    """The agent module for ``algo`` (``dqn``, ``ppo``, ``a2c``)."""
    try:
        return ALGOS[algo.lower()]
    except KeyError:
        raise AgentError(f"agent.algo: unknown algorithm {algo!r}; valid values: "
                         f"{', '.join(ALGOS)}") from None


def make(algo: str, env: Any, **config: Any) -> Any:
    """Build the SB3 model for ``algo`` on ``env`` from plain values.

    :param algo: ``dqn``, ``ppo`` or ``a2c``
    :param env: a VecEnv, a gymnasium env or an env id
    :param config: see :func:`agents.common.build_model`
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
    module.check_action_space(action_space, name)
    return module.make(env, **config)

"""When data-dependent init runs inside SB3's training loop.

:class:`DataInitCallback` initialises a normalized policy before its first update:

* on-policy algorithms (PPO, A2C): at the start of ``learn()`` it steps the training env with the
  untrained policy until ``init_batch`` observations are collected (these steps are not counted in
  ``num_timesteps``), so the first rollout is already collected by the initialised policy and the
  PPO ratios of the first update are exact;
* off-policy algorithms (DQN): when the replay buffer's warm-up (``learning_starts``) ends, from
  the observations it holds, before the first greedy action and the first update.

Without the callback the policy initialises itself on the first training minibatch (with a
warning). A loaded or resumed model, whose init is already done, is left alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from wnrl.policies.base import NormPolicyMixin

__all__ = ["DataInitCallback"]


def _concat(batches: list[Any]) -> Any:
    if isinstance(batches[0], dict):
        return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    return np.concatenate(batches)


class DataInitCallback(BaseCallback):
    """Run the policy's data-dependent init before the first update.

    :param init_batch: observations to initialise from (default: the policy's ``init_batch``)
    :param verbose: 1 prints which layers were initialised
    """

    def __init__(self, init_batch: int | None = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.init_batch = init_batch
        self.initialised_layers: list[str] = []

    @property
    def _pending(self) -> bool:
        policy = self.model.policy
        return isinstance(policy, NormPolicyMixin) and policy.needs_data_init

    def _n(self) -> int:
        return self.init_batch or self.model.policy.init_batch  # type: ignore[union-attr]

    def _off_policy_warmup(self) -> bool:
        return isinstance(self.model, OffPolicyAlgorithm) and self.model.learning_starts >= 2

    def _on_training_start(self) -> None:
        if self._pending and not self._off_policy_warmup():
            self._init(self._collect_from_env(self._n()))

    def _on_step(self) -> bool:
        if self._pending and self._off_policy_warmup() \
                and self.model.num_timesteps >= self.model.learning_starts:
            self._init(self._from_replay_buffer(self._n()))
        return True

    def _init(self, observations: Any) -> None:
        self.initialised_layers = self.model.policy.data_init(observations)  # type: ignore[union-attr]
        if self.verbose:
            n = len(next(iter(observations.values())) if isinstance(observations, dict) else observations)
            print(f"data-dependent init on {n} observations: {', '.join(self.initialised_layers)}")

    def _collect_from_env(self, n: int) -> Any:
        model, env = self.model, self.training_env
        obs = model._last_obs
        batches, dones = [obs], np.zeros(env.num_envs, dtype=bool)
        while sum(len(b) if not isinstance(b, dict) else len(next(iter(b.values())))
                  for b in batches) < n:
            actions, _ = model.policy.predict(obs, deterministic=False)
            obs, _, dones, _ = env.step(actions)
            batches.append(obs)
        model._last_obs = obs
        model._last_episode_starts = dones
        if isinstance(model, OffPolicyAlgorithm) and model._vec_normalize_env is not None:
            model._last_original_obs = model._vec_normalize_env.get_original_obs()
        return _concat(batches)

    def _from_replay_buffer(self, n: int) -> Any:
        buf = self.model.replay_buffer  # type: ignore[attr-defined]
        upper = buf.buffer_size if buf.full else buf.pos
        stored = buf.observations
        if isinstance(stored, dict):
            obs = {k: v[:upper].reshape(-1, *v.shape[2:]) for k, v in stored.items()}
            size = len(next(iter(obs.values())))
        else:
            obs = stored[:upper].reshape(-1, *stored.shape[2:])
            size = len(obs)
        if size > n:  # an evenly spread subset of the warm-up
            idx = np.linspace(0, size - 1, n).astype(int)
            obs = {k: v[idx] for k, v in obs.items()} if isinstance(obs, dict) else obs[idx]
        venv = self.model._vec_normalize_env  # type: ignore[attr-defined]
        if isinstance(venv, VecNormalize):
            obs = venv.normalize_obs(obs)
        return obs

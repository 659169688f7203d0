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

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs

from wnrl.policies.base import NormPolicyMixin
from wnrl.policies.spaces import batch_size as _size

__all__ = ["DataInitCallback"]

_Obs = np.ndarray | dict[str, np.ndarray]


def _checked(obs: VecEnvObs | None) -> _Obs:
    if obs is None or isinstance(obs, tuple):
        raise TypeError(f"DataInitCallback needs array or dict observations, got {type(obs).__name__}")
    return obs


def _shape(space: spaces.Space) -> tuple[int, ...]:
    assert space.shape is not None, f"{space} has no shape"
    return space.shape


def _concat(batches: list[_Obs]) -> _Obs:
    first = batches[0]
    if isinstance(first, dict):
        return {k: np.concatenate([b[k] for b in batches]) for k in first}
    return np.concatenate([np.asarray(b) for b in batches])


class DataInitCallback(BaseCallback):
    """Run the policy's data-dependent init before the first update.

    :param init_batch: observations to initialise from (default: the policy's ``init_batch``)
    :param verbose: 1 prints which layers were initialised
    """

    def __init__(self, init_batch: int | None = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.init_batch = init_batch
        self.initialised_layers: list[str] = []

    def _pending_policy(self) -> NormPolicyMixin | None:
        """The model's policy if it is a normalized one still waiting for its init."""
        policy = self.model.policy
        return policy if isinstance(policy, NormPolicyMixin) and policy.needs_data_init else None

    def _warmup_model(self) -> OffPolicyAlgorithm | None:
        """The model if it is off-policy with a replay warm-up to initialise from."""
        model = self.model
        return model if isinstance(model, OffPolicyAlgorithm) and model.learning_starts >= 2 else None

    def _on_training_start(self) -> None:
        policy = self._pending_policy()
        if policy is not None and self._warmup_model() is None:
            self._init(policy, self._collect_from_env(self.init_batch or policy.init_batch))

    def _on_step(self) -> bool:
        policy, model = self._pending_policy(), self._warmup_model()
        if policy is not None and model is not None and model.num_timesteps >= model.learning_starts:
            self._init(policy, self._from_replay_buffer(model, self.init_batch or policy.init_batch))
        return True

    def _init(self, policy: NormPolicyMixin, observations: _Obs) -> None:
        self.initialised_layers = policy.data_init(observations)
        if self.verbose:
            print(f"data-dependent init on {_size(observations)} observations: {', '.join(self.initialised_layers)}")

    def _collect_from_env(self, n: int) -> _Obs:
        model, env = self.model, self.training_env
        obs = _checked(model._last_obs)
        batches, dones = [obs], np.zeros(env.num_envs, dtype=bool)
        while sum(_size(b) for b in batches) < n:
            actions, _ = model.policy.predict(obs, deterministic=False)
            step_obs, _, dones, _ = env.step(actions)
            obs = _checked(step_obs)
            batches.append(obs)
        model._last_obs = obs
        model._last_episode_starts = dones
        if isinstance(model, OffPolicyAlgorithm) and model._vec_normalize_env is not None:
            model._last_original_obs = model._vec_normalize_env.get_original_obs()
        return _concat(batches)

    @staticmethod
    def _from_replay_buffer(model: OffPolicyAlgorithm, n: int) -> _Obs:
        buf = model.replay_buffer
        if buf is None:
            raise RuntimeError("DataInitCallback: the off-policy model has no replay buffer yet")
        upper = buf.buffer_size if buf.full else buf.pos
        stored: _Obs = buf.observations
        space = model.observation_space
        obs: _Obs
        # (steps, n_envs, *buffer shape) -> (N, *space shape): the buffer keeps Discrete as (1,)
        if isinstance(stored, dict):
            assert isinstance(space, spaces.Dict)
            obs = {k: v[:upper].reshape(-1, *_shape(space[k])) for k, v in stored.items()}
        else:
            obs = stored[:upper].reshape(-1, *_shape(space))
        size = _size(obs)
        if size > n:  # an evenly spread subset of the warm-up
            idx = np.linspace(0, size - 1, n).astype(int)
            obs = {k: v[idx] for k, v in obs.items()} if isinstance(obs, dict) else obs[idx]
        venv = model._vec_normalize_env
        if isinstance(venv, VecNormalize):
            obs = venv.normalize_obs(obs)
        return obs

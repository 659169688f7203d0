"""Noise wrappers: statistics, seeding, validation (real gymnasium envs, no mocks)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from wnrl.envs import (
    NOISE_ORDER,
    GaussianActionNoise,
    GaussianObservationNoise,
    GaussianRewardNoise,
    ObservationDropout,
    RewardSignFlip,
    StickyActions,
    apply_noise,
)


class EchoEnv(gym.Env):
    """Observation = the executed action (as float32), reward = 1, never ends."""

    def __init__(self, discrete: bool = True, n: int = 5, dim: int = 3, bound: float = 2.0) -> None:
        self.discrete = discrete
        if discrete:
            self.action_space = spaces.Discrete(n)
            shape = (1,)
        else:
            self.action_space = spaces.Box(-bound, bound, shape=(dim,), dtype=np.float32)
            shape = (dim,)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.full(self.observation_space.shape, -1.0, dtype=np.float32), {}

    def step(self, action):
        obs = np.asarray(action, dtype=np.float32).reshape(self.observation_space.shape)
        return obs, 1.0, False, False, {}


class ConstObsEnv(EchoEnv):
    """Observation = ones(16) (float32) or ones uint8, for dropout counting."""

    def __init__(self, dtype=np.float32) -> None:
        super().__init__(discrete=True)
        self.observation_space = spaces.Box(0, 255, shape=(16,), dtype=dtype)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(16, dtype=self.observation_space.dtype), {}

    def step(self, action):
        return np.ones(16, dtype=self.observation_space.dtype), 1.0, False, False, {}


class Recorder(gym.ObservationWrapper):
    """Remembers the last clean observation coming up from below."""

    def observation(self, observation):
        self.last = np.array(observation, copy=True)
        return observation


def test_gaussian_obs_noise_statistics_cartpole():
    std = 0.5
    env = GaussianObservationNoise(Recorder(gym.make("CartPole-v1")), std)
    assert env.observation_space == env.env.observation_space
    obs, _ = env.reset(seed=0)
    diffs = [obs - env.env.last]
    env.action_space.seed(0)
    for _ in range(2000):
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
        assert obs.dtype == np.float32
        diffs.append(obs - env.env.last)
        if term or trunc:
            obs, _ = env.reset()
            diffs.append(obs - env.env.last)
    d = np.concatenate(diffs).astype(np.float64)
    assert abs(d.mean()) < 4 * std / math.sqrt(d.size)
    assert d.std() == pytest.approx(std, rel=0.05)


def test_noise_leaves_underlying_dynamics_untouched():
    noisy = apply_noise(Recorder(gym.make("CartPole-v1")), obs_std=0.3, obs_dropout=0.2, reward_std=1.0)
    clean = gym.make("CartPole-v1")
    noisy.reset(seed=3)
    c_obs, _ = clean.reset(seed=3)
    np.testing.assert_array_equal(noisy.unwrapped.state, clean.unwrapped.state)
    for t in range(50):
        a = t % 2
        noisy.step(a)
        c_obs, _, term, _, _ = clean.step(a)
        np.testing.assert_array_equal(noisy.get_wrapper_attr("last"), c_obs)
        if term:
            break


def test_obs_noise_rejects_integer_observations():
    with pytest.raises(ValueError, match="float Box"):
        GaussianObservationNoise(ConstObsEnv(dtype=np.uint8), 0.1)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_dropout_fraction(dtype):
    p = 0.3
    env = ObservationDropout(ConstObsEnv(dtype=dtype), p)
    env.reset(seed=1)
    obs = np.stack([env.step(0)[0] for _ in range(1000)])
    assert obs.dtype == dtype
    assert set(np.unique(obs)) <= {0, 1}
    assert (obs == 0).mean() == pytest.approx(p, abs=0.015)


def test_reward_flip_fraction_and_gaussian_reward_noise():
    p = 0.3
    env = RewardSignFlip(EchoEnv(), p)
    env.reset(seed=2)
    r = np.array([env.step(0)[1] for _ in range(4000)])
    assert set(np.unique(r)) == {-1.0, 1.0}
    assert (r < 0).mean() == pytest.approx(p, abs=0.03)

    env = GaussianRewardNoise(EchoEnv(), 0.7)
    env.reset(seed=2)
    r = np.array([env.step(0)[1] for _ in range(4000)])
    assert r.mean() == pytest.approx(1.0, abs=4 * 0.7 / math.sqrt(r.size))
    assert r.std() == pytest.approx(0.7, rel=0.05)


def test_sticky_discrete_repeat_fraction():
    p, n = 0.25, 5
    env = StickyActions(EchoEnv(discrete=True, n=n), p)
    env.reset(seed=4)
    prev, repeats, steps = None, 0, 3000
    for _ in range(steps):
        new = 0 if prev is None else (prev + 1) % n  # always differs from the previous executed action
        executed = int(env.step(new)[0][0])
        assert executed in (new, prev)
        repeats += executed == prev
        prev = executed
    assert repeats / steps == pytest.approx(p, abs=0.025)


def test_sticky_resets_previous_action_and_works_for_box():
    env = StickyActions(EchoEnv(discrete=False), 1.0)  # p = 1: always repeat once one exists
    env.reset(seed=0)
    first = np.array([0.5, -0.5, 1.0], dtype=np.float32)
    np.testing.assert_array_equal(env.step(first)[0], first)
    np.testing.assert_array_equal(env.step(np.zeros(3, np.float32))[0], first)
    env.reset()
    second = np.array([1.5, 0.0, -1.0], dtype=np.float32)
    np.testing.assert_array_equal(env.step(second)[0], second)  # no previous action after reset


def test_gaussian_action_noise_definition_and_clipping():
    std, bound = 0.1, 2.0  # half range = 2 -> executed noise std = 0.2
    env = GaussianActionNoise(EchoEnv(discrete=False, bound=bound), std)
    env.reset(seed=5)
    a = np.zeros(3, dtype=np.float32)
    d = np.stack([env.step(a)[0] for _ in range(2000)])
    assert d.dtype == np.float32
    assert d.std() == pytest.approx(std * bound, rel=0.05)
    edge = np.full(3, bound, dtype=np.float32)
    e = np.stack([env.step(edge)[0] for _ in range(200)])
    assert e.max() <= bound and (e < bound).any()


def test_action_noise_rejects_discrete():
    with pytest.raises(ValueError, match="Box"):
        GaussianActionNoise(gym.make("CartPole-v1"), 0.1)


def _rollout(env: gym.Env, seed: int, steps: int = 30) -> np.ndarray:
    out = [env.reset(seed=seed)[0]]
    for t in range(steps):
        obs, r, *_ = env.step(np.full(3, np.sin(t), dtype=np.float32))
        out.append(np.append(obs, r))
    return np.concatenate(out)


def test_same_seed_same_trajectory_different_seed_differs():
    kw = dict(obs_std=0.1, obs_dropout=0.1, reward_std=0.5, reward_flip=0.2, sticky=0.3, action_std=0.2)
    a = _rollout(apply_noise(EchoEnv(discrete=False), **kw), seed=7)
    b = _rollout(apply_noise(EchoEnv(discrete=False), **kw), seed=7)
    c = _rollout(apply_noise(EchoEnv(discrete=False), **kw), seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    env = apply_noise(EchoEnv(discrete=False), **kw)
    _rollout(env, seed=7)
    np.testing.assert_array_equal(_rollout(env, seed=7), a)  # reseeding reproduces too


def test_noise_does_not_touch_global_numpy_rng():
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    _rollout(apply_noise(EchoEnv(discrete=False), obs_std=0.1, reward_flip=0.5, sticky=0.5, action_std=0.1), 0)
    assert np.random.random() == expected


def test_apply_noise_order_and_identity():
    base = EchoEnv(discrete=False)
    assert apply_noise(base) is base
    env = apply_noise(
        EchoEnv(discrete=False),
        obs_std=0.1,
        obs_dropout=0.1,
        reward_std=0.1,
        reward_flip=0.1,
        sticky=0.1,
        action_std=0.1,
    )
    chain = []
    while isinstance(env, gym.Wrapper):
        chain.append(type(env))
        env = env.env
    assert chain[::-1] == [cls for _, cls in NOISE_ORDER]
    only = apply_noise(EchoEnv(), reward_flip=0.5)
    assert isinstance(only, RewardSignFlip) and isinstance(only.env, EchoEnv)


@pytest.mark.parametrize(
    "name,value",
    [
        ("obs_std", -0.1),
        ("obs_std", float("nan")),
        ("reward_std", float("inf")),
        ("action_std", -1),
        ("obs_dropout", 1.5),
        ("reward_flip", -0.1),
        ("sticky", float("nan")),
        ("sticky", "abc"),
    ],
)
def test_apply_noise_validation_names_parameter(name, value):
    with pytest.raises(ValueError, match=name):
        apply_noise(EchoEnv(discrete=False), **{name: value})


@pytest.mark.parametrize(
    "wrapper,value",
    [
        (GaussianObservationNoise, -1.0),
        (ObservationDropout, 2.0),
        (GaussianRewardNoise, float("nan")),
        (RewardSignFlip, 1.1),
        (StickyActions, -0.5),
        (GaussianActionNoise, -0.2),
    ],
)
def test_wrappers_validate(wrapper, value):
    with pytest.raises(ValueError):
        wrapper(EchoEnv(discrete=False), value)

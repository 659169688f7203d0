"""Composable noise wrappers for gymnasium environments (noisy observations, rewards and actions).

Randomness: every wrapper draws from its own ``numpy.random.Generator`` (``noise_rng``), never from
the global numpy RNG. ``reset(seed=s)`` reseeds it from ``SeedSequence([s, salt])``, where ``salt``
is a constant per wrapper class, so:

* the same seed gives the same noisy trajectory, different seeds give different ones;
* the noise streams of different wrappers are independent of each other;
* the wrapped env's own ``np_random`` is left untouched, so a noisy env and a clean env reset with
  the same seed follow the same underlying dynamics (handy as a control), and envs whose ``reset``
  does not seed ``np_random`` (e.g. MinAtar) are still reproducible.

Until the first seeded reset the generator is seeded from OS entropy, like an unseeded gymnasium env.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = [
    "GaussianObservationNoise",
    "ObservationDropout",
    "GaussianRewardNoise",
    "RewardSignFlip",
    "StickyActions",
    "GaussianActionNoise",
    "apply_noise",
    "check_noise_kwargs",
    "NOISE_ORDER",
]


def _check_std(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` unless it is finite and >= 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def _check_prob(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` unless it is in [0, 1]."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}") from None
    if not (0.0 <= v <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return v


class _NoiseRNG:
    """Mixin: a per-wrapper generator, reseeded by ``reset(seed=...)``. Put it before the gym wrapper."""

    _rng: np.random.Generator | None = None

    @property
    def noise_rng(self) -> np.random.Generator:
        """The generator all of this wrapper's noise is drawn from."""
        if self._rng is None:
            self._rng = np.random.default_rng()
        return self._rng

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if seed is not None:
            salt = zlib.crc32(type(self).__name__.encode())
            self._rng = np.random.default_rng(np.random.SeedSequence([int(seed), salt]))
        return super().reset(seed=seed, options=options)  # type: ignore[misc]


class GaussianObservationNoise(_NoiseRNG, gym.ObservationWrapper):
    """Additive Gaussian observation noise: ``o' = o + std * ε``, ``ε ~ N(0, I)``.

    Float ``Box`` observations only; the result keeps the space's dtype (float32 stays float32).
    The observation space is unchanged (noisy values may leave its bounds).

    :param env: Environment to wrap.
    :param std: Standard deviation of the noise, in observation units (>= 0).
    """

    def __init__(self, env: gym.Env, std: float) -> None:
        super().__init__(env)
        self.std = _check_std("std", std)
        space = env.observation_space
        if not (isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.floating)):
            raise ValueError(f"GaussianObservationNoise needs a float Box observation space, got {space}")

    def observation(self, observation: np.ndarray) -> np.ndarray:
        noise = self.noise_rng.standard_normal(np.shape(observation))
        return (observation + self.std * noise).astype(self.observation_space.dtype, copy=False)


class ObservationDropout(_NoiseRNG, gym.ObservationWrapper):
    """Observation dropout: ``o'_i = m_i * o_i``, ``m_i ~ Bernoulli(1 - p)`` independently per element.

    Works for any ``Box`` observation space (dtype kept; zero is "dropped"). No rescaling by
    ``1/(1-p)``: a dropped sensor reads zero.

    :param env: Environment to wrap.
    :param p: Probability that each observation element is zeroed, in [0, 1].
    """

    def __init__(self, env: gym.Env, p: float) -> None:
        super().__init__(env)
        self.p = _check_prob("p", p)
        if not isinstance(env.observation_space, spaces.Box):
            raise ValueError(f"ObservationDropout needs a Box observation space, got {env.observation_space}")

    def observation(self, observation: np.ndarray) -> np.ndarray:
        observation = np.asarray(observation)
        keep = self.noise_rng.random(observation.shape) >= self.p
        return np.where(keep, observation, np.zeros_like(observation))


class GaussianRewardNoise(_NoiseRNG, gym.RewardWrapper):
    """Additive Gaussian reward noise: ``r' = r + std * ε``, ``ε ~ N(0, 1)``.

    :param env: Environment to wrap.
    :param std: Standard deviation of the noise, in reward units (>= 0).
    """

    def __init__(self, env: gym.Env, std: float) -> None:
        super().__init__(env)
        self.std = _check_std("std", std)

    def reward(self, reward: SupportsFloat) -> float:
        return float(reward) + self.std * float(self.noise_rng.standard_normal())


class RewardSignFlip(_NoiseRNG, gym.RewardWrapper):
    """Perturbed rewards (Wang, Liu & Li 2020): ``r' = -r`` with probability ``p``, else ``r' = r``.

    :param env: Environment to wrap.
    :param p: Flip probability, in [0, 1].
    """

    def __init__(self, env: gym.Env, p: float) -> None:
        super().__init__(env)
        self.p = _check_prob("p", p)

    def reward(self, reward: SupportsFloat) -> float:
        r = float(reward)
        return -r if self.noise_rng.random() < self.p else r


class StickyActions(_NoiseRNG, gym.ActionWrapper):
    """Sticky actions (Machado et al. 2018): ``a_exec_t = a_exec_{t-1}`` with probability ``p``,
    else ``a_exec_t = a_t`` (the agent's action).

    "Previous action" is the previously *executed* action; there is none right after ``reset()``,
    so the first step of each episode always executes the agent's action. Discrete and Box spaces.

    :param env: Environment to wrap.
    :param p: Repeat probability, in [0, 1].
    """

    def __init__(self, env: gym.Env, p: float) -> None:
        super().__init__(env)
        self.p = _check_prob("p", p)
        self.last_action: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self.last_action = None
        return super().reset(seed=seed, options=options)

    def action(self, action: Any) -> Any:
        # Draw every step (also the first) so the noise stream does not depend on episode boundaries.
        repeat = self.noise_rng.random() < self.p
        if repeat and self.last_action is not None:
            action = self.last_action
        self.last_action = np.copy(action) if isinstance(action, np.ndarray) else action
        return action


class GaussianActionNoise(_NoiseRNG, gym.ActionWrapper):
    """Gaussian actuator noise on continuous actions, with ``std`` in units of half the action range:
    ``a' = clip(a + std * (high - low) / 2 * ε, low, high)``, ``ε ~ N(0, I)``.

    So ``std=0.1`` on a ``[-1, 1]`` action space adds ``N(0, 0.1²)``. ``Box`` action spaces with
    finite bounds only (``ValueError`` otherwise, e.g. for ``Discrete``).

    :param env: Environment to wrap.
    :param std: Noise standard deviation as a fraction of half the action range (>= 0).
    """

    def __init__(self, env: gym.Env, std: float) -> None:
        super().__init__(env)
        self.std = _check_std("std", std)
        space = env.action_space
        if not isinstance(space, spaces.Box):
            raise ValueError(f"GaussianActionNoise needs a continuous (Box) action space, got {space}")
        if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
            raise ValueError("GaussianActionNoise needs finite action bounds (std is relative to the range)")
        self._half_range = (space.high.astype(np.float64) - space.low) / 2.0

    def action(self, action: np.ndarray) -> np.ndarray:
        space = self.action_space
        assert isinstance(space, spaces.Box)  # checked in __init__
        noise = self.std * self._half_range * self.noise_rng.standard_normal(space.shape)
        return np.clip(np.asarray(action) + noise, space.low, space.high).astype(space.dtype)


#: Order in which ``apply_noise`` wraps, innermost first: (keyword, wrapper class).
NOISE_ORDER: tuple[tuple[str, type[gym.Wrapper]], ...] = (
    ("action_std", GaussianActionNoise),
    ("sticky", StickyActions),
    ("reward_flip", RewardSignFlip),
    ("reward_std", GaussianRewardNoise),
    ("obs_std", GaussianObservationNoise),
    ("obs_dropout", ObservationDropout),
)
_IS_STD = {"action_std", "reward_std", "obs_std"}


def check_noise_kwargs(**noise: Any) -> dict[str, float]:
    """Validate ``apply_noise`` keyword arguments; return them as floats.

    :raises ValueError: on an unknown keyword, a negative/NaN/infinite std or a probability outside [0, 1].
    """
    valid = [k for k, _ in NOISE_ORDER]
    out = {}
    for key, value in noise.items():
        if key not in valid:
            raise ValueError(f"unknown noise parameter {key!r}; valid: {', '.join(valid)}")
        out[key] = _check_std(key, value) if key in _IS_STD else _check_prob(key, value)
    return out


def apply_noise(
    env: gym.Env,
    obs_std: float = 0.0,
    obs_dropout: float = 0.0,
    reward_std: float = 0.0,
    reward_flip: float = 0.0,
    sticky: float = 0.0,
    action_std: float = 0.0,
) -> gym.Env:
    """Wrap ``env`` with the noise wrappers whose parameter is non-zero.

    Fixed order, innermost first (each wrapper sees the output of the ones below it):
    ``GaussianActionNoise`` → ``StickyActions`` → ``RewardSignFlip`` → ``GaussianRewardNoise`` →
    ``GaussianObservationNoise`` → ``ObservationDropout``. So the agent's action is first made sticky
    (the env may keep the previous command), then actuator noise is added to what is executed; the
    true reward is sign-flipped, then Gaussian noise is added; observations get additive noise, then
    dropout (a dropped element reads exactly 0).

    :param env: Environment to wrap.
    :param obs_std: Std of additive Gaussian observation noise.
    :param obs_dropout: Probability of zeroing each observation element.
    :param reward_std: Std of additive Gaussian reward noise.
    :param reward_flip: Probability of flipping the reward's sign.
    :param sticky: Probability of repeating the previous executed action.
    :param action_std: Std of Gaussian action noise, in units of half the action range (Box only).
    :return: The wrapped env (``env`` itself when every parameter is 0).
    :raises ValueError: on invalid values (the message names the parameter).
    """
    params = check_noise_kwargs(
        obs_std=obs_std,
        obs_dropout=obs_dropout,
        reward_std=reward_std,
        reward_flip=reward_flip,
        sticky=sticky,
        action_std=action_std,
    )
    for key, wrapper in NOISE_ORDER:
        if params[key] > 0.0:
            env = wrapper(env, params[key])  # type: ignore[call-arg]
    return env

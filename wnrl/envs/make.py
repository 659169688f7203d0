"""Environment factories: vectorised (noisy) training envs and evaluation envs.

Wrapper stack of each sub-env, innermost first::

    gym.make(env_id, **env_kwargs)
    -> Monitor                       (SB3; sees the true reward and the true episode end)
    -> AtariWrapper | MinAtarObservation   (preprocessing, when applicable)
    -> noise wrappers (``apply_noise``, see ``wnrl.envs.noise.NOISE_ORDER``)

and of the vectorised env: ``DummyVecEnv | SubprocVecEnv -> VecFrameStack -> VecTransposeImage ->
VecNormalize`` (each only when applicable). Because ``Monitor`` sits below the noise (and below
Atari's reward clipping and life-loss episodes), the returns it logs, and therefore the returns
SB3 reports in ``rollout/ep_rew_mean`` and ``evaluate_policy``, are the *clean* returns of full
episodes, even when the agent learns from noisy rewards.

Env ids, custom ``module:id`` ids and the optional families are resolved by
:mod:`wnrl.envs.registration`.

Seeding: sub-env ``i`` is reset with seed ``seed + i`` at the first ``reset()`` (``VecEnv.seed``),
which also seeds its noise wrappers; its action and observation spaces are seeded with ``seed + i``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.atari_wrappers import AtariWrapper
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecFrameStack,
    VecNormalize,
    VecTransposeImage,
    unwrap_vec_normalize,
)

from wnrl.envs.noise import apply_noise, check_noise_kwargs
from wnrl.envs.registration import (
    EnvError,
    MissingExtraError,
    describe_exception,
    ensure_registered,
    env_family,
    raised_at,
    split_env_id,
)

__all__ = [
    "MinAtarObservation",
    "make_vec_env",
    "make_eval_env",
    "sync_normalization",
]


class MinAtarObservation(gym.ObservationWrapper):
    """MinAtar observations (10, 10, C) bool -> float32 channel-first (C, 10, 10), for CNN policies.

    :param env: A MinAtar environment.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        shape = env.observation_space.shape
        assert shape is not None and len(shape) == 3, shape
        h, w, c = shape
        self.observation_space = spaces.Box(0.0, 1.0, shape=(c, h, w), dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.transpose(observation, (2, 0, 1)), dtype=np.float32)


def _gym_make(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env:
    """``gym.make`` of the id; an error of the env's constructor is one :class:`EnvError` line.

    A ``TypeError`` about a keyword argument is left as it is: it is about ``env.kwargs``, and the
    caller names that key.

    :param env_id: Gymnasium environment id, or "module:id".
    :param env_kwargs: Keyword arguments for ``gym.make``.
    :raises EnvError: the constructor raised (or called ``sys.exit``).
    """
    try:
        return gym.make(split_env_id(env_id)[1], **env_kwargs)
    except TypeError as exc:
        if "keyword argument" in str(exc):
            raise
        raise EnvError(_build_failure(env_id, exc)) from exc
    except (Exception, SystemExit) as exc:  # the env's own code: one line, not a traceback
        raise EnvError(_build_failure(env_id, exc)) from exc


def _build_failure(env_id: str, exc: BaseException) -> str:
    return (
        f"environment {env_id!r} failed to build ({describe_exception(exc)}{raised_at(exc)}); "
        "fix the environment or env.kwargs"
    )


def _make_env_fn(
    env_id: str,
    rank: int,
    seed: int,
    env_kwargs: dict[str, Any],
    noise: dict[str, float],
    atari: dict[str, Any] | None,
    minatar: bool,
    monitor_dir: str | None,
) -> Callable[[], gym.Env]:
    def _init() -> gym.Env:
        ensure_registered(env_id)  # needed again in subprocesses (imports a "module:id" id's module)
        env = _gym_make(env_id, env_kwargs)
        env.action_space.seed(seed + rank)
        env.observation_space.seed(seed + rank)
        monitor_path = None
        if monitor_dir is not None:
            os.makedirs(monitor_dir, exist_ok=True)
            monitor_path = os.path.join(monitor_dir, str(rank))
        env = Monitor(env, filename=monitor_path)
        if atari is not None:
            env = AtariWrapper(env, **atari)
        if minatar:
            env = MinAtarObservation(env)
        return apply_noise(env, **noise)

    return _init


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    seed: int = 0,
    vec_env: str = "dummy",
    env_kwargs: dict[str, Any] | None = None,
    noise: dict[str, float] | None = None,
    frame_stack: int | None = None,
    atari_wrapper: bool | dict[str, Any] | None = None,
    normalize_obs: bool = False,
    normalize_reward: bool = False,
    gamma: float = 0.99,
    monitor_dir: str | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """Build a seeded, optionally noisy and normalised SB3 ``VecEnv`` (see the module doc for the stack).

    Atari ids (``ALE/...``, ``...NoFrameskip-v4``) get SB3's ``AtariWrapper`` (noop reset, frame skip 4
    with max-pooling, life loss = episode end for learning, fire reset, 84x84 gray, reward clipping),
    ``frameskip=1`` in ``gym.make`` so the wrapper does the skipping, and ALE's own sticky actions
    (``repeat_action_probability``, 0.25 for ``ALE/`` ids unless ``env_kwargs`` overrides it; so the
    ``sticky`` noise key is refused for Atari). Frames are stacked (4 by default) and made channel-first:
    observations are (4, 84, 84) uint8. MinAtar observations become float32 (C, 10, 10).

    :param env_id: Gymnasium environment id, or "module:id" (the module is imported first, here and in
        each subprocess; see ``import_env_module``).
    :param n_envs: Number of sub-environments.
    :param seed: Sub-env ``i`` is seeded with ``seed + i`` (env at first reset, action/observation spaces now).
    :param vec_env: "dummy" (``DummyVecEnv``) or "subproc" (``SubprocVecEnv``).
    :param env_kwargs: Keyword arguments for ``gym.make``.
    :param noise: Keyword arguments of ``wnrl.envs.apply_noise`` (None: no noise).
    :param frame_stack: Frames to stack with ``VecFrameStack`` (None: 4 for Atari, none otherwise; 0/1: none).
    :param atari_wrapper: Use ``AtariWrapper``: None auto-detects Atari ids; a dict enables it with
        these ``AtariWrapper`` keyword arguments (e.g. ``{"clip_reward": False}``).
    :param normalize_obs: Normalise observations with ``VecNormalize``.
    :param normalize_reward: Normalise rewards with ``VecNormalize`` (discounted-return scaling).
    :param gamma: Discount used by ``VecNormalize`` for reward normalisation.
    :param monitor_dir: Directory for ``Monitor`` CSV files (``<dir>/<i>.monitor.csv``); None: no files.
    :param vec_env_kwargs: Extra keyword arguments for the ``VecEnv`` class (e.g. ``start_method``).
    :return: The vectorised environment.
    :raises EnvError, UnknownEnvError, MissingExtraError: see ``ensure_registered``.
    :raises ValueError: on invalid arguments or noise parameters.
    """
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    vec_classes = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}
    if vec_env not in vec_classes:
        raise ValueError(f"vec_env must be one of {sorted(vec_classes)}, got {vec_env!r}")
    noise_kwargs = check_noise_kwargs(**(noise or {}))
    ensure_registered(env_id)
    bare = split_env_id(env_id)[1]
    family = env_family(bare)
    kwargs = dict(env_kwargs or {})

    if atari_wrapper is None:
        use_atari = family == "atari"
    else:
        use_atari = isinstance(atari_wrapper, dict) or bool(atari_wrapper)
    if use_atari and family != "atari":
        raise ValueError(
            f"atari_wrapper: needs an Atari (ALE) environment such as ALE/Breakout-v5, and {env_id!r} is "
            "not one; remove env.atari_wrapper"
        )
    atari = None
    if use_atari:
        atari = dict(atari_wrapper) if isinstance(atari_wrapper, dict) else {}
        try:
            import cv2  # noqa: F401  (AtariWrapper's frame resizing)
        except ImportError as exc:
            raise MissingExtraError(
                f"environment {env_id!r} with the Atari wrapper needs OpenCV, part of the "
                f'atari extra: pip install "wnrl[atari]"'
            ) from exc
        if kwargs.setdefault("frameskip", 1) != 1:
            raise ValueError("with the Atari wrapper (frame skip 4), pass frameskip=1 to gym.make (the default)")
        if bare.startswith("ALE/"):
            kwargs.setdefault("repeat_action_probability", 0.25)
        if noise_kwargs.get("sticky", 0.0) > 0:
            raise ValueError(
                "for Atari, set sticky actions with env_kwargs={'repeat_action_probability': p} "
                "(ALE's own, per frame) instead of noise['sticky']"
            )
    if frame_stack is None:
        frame_stack = 4 if use_atari else 0

    if vec_env == "subproc":  # a worker's constructor error is a traceback in another process: one here first
        _gym_make(env_id, kwargs).close()
    fns = [
        _make_env_fn(env_id, i, seed, kwargs, noise_kwargs, atari, family == "minatar", monitor_dir)
        for i in range(n_envs)
    ]
    venv: VecEnv = vec_classes[vec_env](fns, **(vec_env_kwargs or {}))
    venv.seed(seed)
    if frame_stack > 1:
        order = "first" if family == "minatar" else ("last" if use_atari else None)
        venv = VecFrameStack(venv, frame_stack, channels_order=order)
    obs_space = venv.observation_space
    if (
        isinstance(obs_space, spaces.Box)
        and is_image_space(obs_space, check_channels=False)
        and not is_image_space_channels_first(obs_space)
    ):
        venv = VecTransposeImage(venv)
    if normalize_obs or normalize_reward:
        venv = VecNormalize(venv, norm_obs=normalize_obs, norm_reward=normalize_reward, gamma=gamma)
    return venv


def make_eval_env(
    env_id: str,
    n_envs: int = 1,
    seed: int = 10_000,
    noise: dict[str, float] | None = None,
    train_env: VecEnv | None = None,
    **kwargs: Any,
) -> VecEnv:
    """Build an evaluation env: same factory as ``make_vec_env``, clean unless ``noise`` is given.

    If ``train_env`` is (wrapped in) a ``VecNormalize``, the eval env gets a ``VecNormalize`` with
    ``training=False`` (statistics frozen), ``norm_reward=False`` (raw rewards) and the same
    ``norm_obs``, with the training statistics copied. The statistics keep changing during training:
    call ``sync_normalization(train_env, eval_env)`` before each evaluation (SB3's ``EvalCallback``
    does the equivalent itself). Returns are clean either way (``Monitor`` sits below the noise).

    :param env_id: Gymnasium environment id, or "module:id" (see ``import_env_module``).
    :param n_envs: Number of sub-environments.
    :param seed: Base seed (keep it away from training seeds; default 10000).
    :param noise: ``apply_noise`` keyword arguments, or None for a clean env.
    :param train_env: The training env, to mirror its observation normalisation.
    :param kwargs: Further ``make_vec_env`` arguments (``normalize_obs``/``normalize_reward`` are taken
        from ``train_env``, not from here).
    :return: The evaluation env.
    """
    for key in ("normalize_obs", "normalize_reward"):
        if key in kwargs:
            raise ValueError(f"make_eval_env takes {key} from train_env, not as an argument")
    venv = make_vec_env(env_id, n_envs=n_envs, seed=seed, noise=noise, **kwargs)
    train_norm = unwrap_vec_normalize(train_env) if train_env is not None else None
    if train_norm is not None:
        venv = VecNormalize(
            venv, training=False, norm_obs=train_norm.norm_obs, norm_reward=False, gamma=train_norm.gamma
        )
        sync_normalization(train_env, venv)  # type: ignore[arg-type]
    return venv


def sync_normalization(train_env: VecEnv, eval_env: VecEnv) -> None:
    """Copy the ``VecNormalize`` statistics (obs and return running stats) of ``train_env`` to ``eval_env``.

    Unlike SB3's ``sync_envs_normalization`` the two wrapper chains need not have the same shape.
    A no-op when ``train_env`` has no ``VecNormalize``.

    :param train_env: The training env.
    :param eval_env: The evaluation env.
    :raises ValueError: if ``train_env`` normalises but ``eval_env`` has no ``VecNormalize``.
    """
    src = unwrap_vec_normalize(train_env)
    if src is None:
        return
    dst = unwrap_vec_normalize(eval_env)
    if dst is None:
        raise ValueError("train_env is a VecNormalize but eval_env is not: build it with make_eval_env(train_env=...)")
    if hasattr(src, "obs_rms"):
        dst.obs_rms = deepcopy(src.obs_rms)
    dst.ret_rms = deepcopy(src.ret_rms)

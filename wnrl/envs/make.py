"""Environment factories: registration of optional env families, vectorised (noisy) envs, eval envs.

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

Custom environments: an id ``"my_pkg.envs:MyEnv-v0"`` (gymnasium's ``module:id`` convention) imports
``my_pkg.envs`` (which registers ``MyEnv-v0``) before the id is looked up, in every process that builds
the env (``import_env_module``): the config keeps the full string, so sweep workers import it too.

Headless machines: ``SDL_AUDIODRIVER`` (and, without ``DISPLAY``/``WAYLAND_DISPLAY``, ``SDL_VIDEODRIVER``)
default to ``dummy``, so rendering with pygame (``render_mode="rgb_array"``, ``wnrl eval --video``)
does not print SDL's ``XDG_RUNTIME_DIR is invalid or not set`` line (see ``_quiet_sdl``).

Seeding: sub-env ``i`` is reset with seed ``seed + i`` at the first ``reset()`` (``VecEnv.seed``),
which also seeds its noise wrappers; its action and observation spaces are seeded with ``seed + i``.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import traceback
from collections.abc import Callable
from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec, parse_env_id
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
from wnrl.envs.sb3_envs import register_sb3_envs

__all__ = [
    "EnvError",
    "UnknownEnvError",
    "MissingExtraError",
    "import_env_module",
    "env_family",
    "ensure_registered",
    "MinAtarObservation",
    "make_vec_env",
    "make_eval_env",
    "sync_normalization",
]


class EnvError(ValueError):
    """Base class of environment-construction errors."""


class UnknownEnvError(EnvError):
    """The environment id is not registered (the message suggests close matches)."""


class MissingExtraError(EnvError):
    """The environment needs an optional dependency that is not installed (the message names the extra)."""


def _quiet_sdl() -> None:
    """Keep SDL (used by pygame for rendering) quiet on headless machines; called on import.

    Without a display SDL's video init tries Wayland, whose client library prints
    ``error: XDG_RUNTIME_DIR is invalid or not set in the environment.`` on every process that
    renders (``wnrl eval --video``, each ``SubprocVecEnv`` worker). So, only where the variable is not
    set already: ``SDL_VIDEODRIVER=dummy`` when neither ``DISPLAY`` nor ``WAYLAND_DISPLAY`` is set
    (``render_mode="human"`` windows keep working on desktops), ``SDL_AUDIODRIVER=dummy`` (wnrl plays
    no sound) and ``PYGAME_HIDE_SUPPORT_PROMPT=1`` (pygame's greeting on import). Offscreen
    ``rgb_array`` rendering is unchanged. Child processes inherit the settings.
    """
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


_quiet_sdl()
register_sb3_envs()


def _split_env_id(env_id: str) -> tuple[str | None, str]:
    """``"pkg.mod:Name-v0"`` -> ``("pkg.mod", "Name-v0")``; ``"Name-v0"`` -> ``(None, "Name-v0")``.

    :param env_id: Gymnasium environment id, or "module:id".
    """
    module, sep, bare = env_id.partition(":")
    return (module, bare) if sep else (None, env_id)


def _import_failure(module: str, env_id: str, exc: BaseException) -> str:
    """The one-line message for a failed import of an env id's module, with the cause and what to do.

    :param module: The module that failed to import.
    :param env_id: The full "module:id".
    :param exc: What the import raised.
    """
    lines = str(exc).strip().splitlines()
    what = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    head = f"cannot import module {module!r} of env id {env_id!r} ({what})"
    if isinstance(exc, ModuleNotFoundError):
        missing = exc.name or ""
        if not missing or module == missing or module.startswith(missing + "."):
            return f"{head}; install it or put it on PYTHONPATH"
        return f"{head}; it imports {missing!r}: install that"
    if isinstance(exc, SyntaxError):
        return head
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{head}, raised at {frames[-1].filename}:{frames[-1].lineno}" if frames else head


def import_env_module(env_id: str) -> str:
    """Import the module of a ``module:id`` env id (gymnasium's convention), which registers the id.

    It imports in the calling process; ``ensure_registered`` and ``make_vec_env`` (so
    ``make_eval_env``, sub-env subprocesses and sweep workers too) call it with the full id.

    :param env_id: A Gymnasium id ("CartPole-v1") or "module:id" ("my_pkg.envs:MyEnv-v0").
    :return: The id without the module ("MyEnv-v0"); ``env_id`` itself when it names no module.
    :raises EnvError: if the id is malformed or the module cannot be imported (one line, with the cause).
    """
    module, bare = _split_env_id(env_id)
    if module is None:
        return env_id
    if not module.strip() or not bare.strip() or ":" in bare:
        raise EnvError(f"malformed environment id {env_id!r}: write MODULE:ID, e.g. 'my_pkg.envs:MyEnv-v0'")
    try:
        importlib.import_module(module)
    except Exception as exc:  # the module's own errors too: reported in one line, not a traceback
        raise EnvError(_import_failure(module, env_id, exc)) from exc
    return bare


_BOX2D = {"LunarLander", "LunarLanderContinuous", "BipedalWalker", "BipedalWalkerHardcore", "CarRacing"}
_MUJOCO = {
    "Ant",
    "HalfCheetah",
    "Hopper",
    "Humanoid",
    "HumanoidStandup",
    "InvertedDoublePendulum",
    "InvertedPendulum",
    "Pusher",
    "Reacher",
    "Swimmer",
    "Walker2d",
}


def env_slug(env_id: str) -> str:
    """An env id as a directory-name part: ``CartPole-v1`` → ``cartpole``, ``MinAtar/Breakout-v1``
    → ``minatar-breakout``, ``my_pkg.envs:Toy-v0`` → ``toy`` (no version, no module: run ids add a
    hash of the whole config, which tells those apart).

    :param env_id: Gymnasium environment id, or "module:id".
    """
    name = re.sub(r"-v\d+$", "", _split_env_id(env_id)[1])
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "env"


def env_family(env_id: str) -> str | None:
    """The optional family (= pip extra) an env id belongs to: "atari", "minatar", "box2d", "mujoco" or None.

    A ``module:id`` id is judged by its id part (the module is not imported here).

    :param env_id: Gymnasium environment id, or "module:id".
    """
    env_id = _split_env_id(env_id)[1]
    if env_id.startswith("ALE/") or env_id.endswith("NoFrameskip-v4"):
        return "atari"
    if env_id.startswith("MinAtar/"):
        return "minatar"
    try:
        _, name, _ = parse_env_id(env_id)
    except gym.error.Error:
        return None
    if name in _BOX2D:
        return "box2d"
    if name in _MUJOCO:
        return "mujoco"
    entry = str(getattr(gym.registry.get(env_id), "entry_point", ""))
    for family, prefix in (("atari", "ale_py"), ("box2d", "gymnasium.envs.box2d"), ("mujoco", "gymnasium.envs.mujoco")):
        if entry.startswith(prefix):
            return family
    return None


def _register_atari() -> None:
    import ale_py

    gym.register_envs(ale_py)


def _register_minatar() -> None:
    import minatar.gym

    if "MinAtar/Breakout-v1" not in gym.registry:  # registering twice logs "Overriding environment"
        minatar.gym.register_envs()


_IMPORTERS: dict[str, Callable[[], Any]] = {
    "atari": _register_atari,
    "minatar": _register_minatar,
    "box2d": lambda: importlib.import_module("Box2D"),
    "mujoco": lambda: importlib.import_module("mujoco"),
}


def _suggestion(module: str | None, env_id: str) -> str:
    """``env_id`` as the user would write it: with ``module:`` when that module's package registers it.

    :param module: The module part of the id the user wrote (None: none).
    :param env_id: A registered id.
    """
    if module is None:
        return env_id
    entry = getattr(gym.registry.get(env_id), "entry_point", None)
    where = entry if isinstance(entry, str) else str(getattr(entry, "__module__", ""))
    return f"{module}:{env_id}" if where.split(".")[0].split(":")[0] == module.split(".")[0] else env_id


def _unknown(env_id: str, reason: str) -> UnknownEnvError:
    module, bare = _split_env_id(env_id)
    for importer in (_register_atari, _register_minatar):  # widen the suggestions to optional families
        try:
            importer()
        except ImportError:
            pass
    ids = list(gym.registry)
    by_lower = {i.lower(): i for i in ids}
    close = difflib.get_close_matches(bare.lower(), list(by_lower), n=3, cutoff=0.6)
    reason = reason.split(" Did you mean")[0].rstrip(". ")
    if module is not None:
        reason = f"imported {module!r}; {reason}"
    hint = f" Did you mean {', '.join(repr(_suggestion(module, by_lower[c])) for c in close)}?" if close else ""
    return UnknownEnvError(f"unknown environment {env_id!r} ({reason}).{hint}")


def ensure_registered(env_id: str) -> EnvSpec:
    """Import the id's module (``module:id``) and the optional family it belongs to; check the id exists.

    :param env_id: Gymnasium environment id, e.g. "CartPole-v1", "ALE/Breakout-v5", "MinAtar/Breakout-v1",
        or "module:id", e.g. "my_pkg.envs:MyEnv-v0" (see ``import_env_module``).
    :return: The id's ``EnvSpec``.
    :raises EnvError: if the id's module cannot be imported.
    :raises MissingExtraError: if the family's package cannot be imported (message names the pip extra).
    :raises UnknownEnvError: if the id is not registered (message suggests close ids).
    """
    bare = import_env_module(env_id)
    family = env_family(bare)
    if family is not None:
        try:
            _IMPORTERS[family]()
        except ImportError as exc:
            raise MissingExtraError(
                f'environment {env_id!r} needs the {family} extra: pip install "wnrl[{family}]"'
            ) from exc
    try:
        return gym.spec(bare)
    except gym.error.Error as exc:
        if bare not in gym.registry and family is None:
            try:  # an ALE id like "Breakout-v4" is only registered once ale_py is imported
                _register_atari()
                if bare in gym.registry:
                    return gym.spec(bare)
            except ImportError:
                pass
        raise _unknown(env_id, str(exc)) from exc


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
        env = gym.make(_split_env_id(env_id)[1], **env_kwargs)
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
    bare = _split_env_id(env_id)[1]
    family = env_family(bare)
    kwargs = dict(env_kwargs or {})

    if atari_wrapper is None:
        use_atari = family == "atari"
    else:
        use_atari = isinstance(atari_wrapper, dict) or bool(atari_wrapper)
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

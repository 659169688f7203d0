"""Environment ids: registration of the optional families (Atari, MinAtar, Box2D, MuJoCo) and of
``module:id`` custom ids, with one-line errors that say what to install or which id was meant.

Custom environments: an id ``"my_pkg.envs:MyEnv-v0"`` (gymnasium's ``module:id`` convention) imports
``my_pkg.envs`` (which registers ``MyEnv-v0``) before the id is looked up, in every process that builds
the env (``import_env_module``): the config keeps the full string, so sweep workers import it too.

Headless machines: ``SDL_AUDIODRIVER`` (and, without ``DISPLAY``/``WAYLAND_DISPLAY``, ``SDL_VIDEODRIVER``)
default to ``dummy``, so rendering with pygame (``render_mode="rgb_array"``, ``wnrl eval --video``)
does not print SDL's ``XDG_RUNTIME_DIR is invalid or not set`` line (see ``_quiet_sdl``).
"""

from __future__ import annotations

import difflib
import importlib
import os
import traceback
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec, parse_env_id

from wnrl.config.names import env_slug, split_env_id
from wnrl.envs.sb3_envs import register_sb3_envs

__all__ = [
    "EnvError",
    "UnknownEnvError",
    "MissingExtraError",
    "split_env_id",
    "import_env_module",
    "env_slug",
    "env_family",
    "ensure_registered",
    "describe_exception",
    "raised_at",
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


def _import_failure(module: str, env_id: str, exc: BaseException) -> str:
    """The one-line message for a failed import of an env id's module, with the cause and what to do.

    :param module: The module that failed to import.
    :param env_id: The full "module:id".
    :param exc: What the import raised.
    """
    head = f"cannot import module {module!r} of env id {env_id!r} ({describe_exception(exc)})"
    if isinstance(exc, ModuleNotFoundError):
        missing = exc.name or ""
        if not missing or module == missing or module.startswith(missing + "."):
            return f"{head}; install it or put it on PYTHONPATH"
        return f"{head}; it imports {missing!r}: install that"
    if isinstance(exc, SyntaxError):
        return head
    if isinstance(exc, SystemExit):
        return f"{head}: it calls sys.exit when imported{raised_at(exc)}; importing it must only register the env"
    return head + raised_at(exc)


def describe_exception(exc: BaseException) -> str:
    """``RuntimeError: boom`` (the type and the first line of the message) of a user module's error.

    :param exc: what the user's code raised
    """
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def raised_at(exc: BaseException) -> str:
    """``, raised at FILE:LINE`` (the innermost frame of ``exc``), or nothing without a traceback.

    :param exc: what the user's code raised
    """
    frames = traceback.extract_tb(exc.__traceback__)
    return f", raised at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def import_env_module(env_id: str) -> str:
    """Import the module of a ``module:id`` env id (gymnasium's convention), which registers the id.

    It imports in the calling process; ``ensure_registered`` and ``make_vec_env`` (so
    ``make_eval_env``, sub-env subprocesses and sweep workers too) call it with the full id.

    :param env_id: A Gymnasium id ("CartPole-v1") or "module:id" ("my_pkg.envs:MyEnv-v0").
    :return: The id without the module ("MyEnv-v0"); ``env_id`` itself when it names no module.
    :raises EnvError: if the id is malformed or the module cannot be imported (one line, with the cause).
    """
    module, bare = split_env_id(env_id)
    if module is None:
        return env_id
    if not module.strip() or not bare.strip() or ":" in bare:
        raise EnvError(f"malformed environment id {env_id!r}: write MODULE:ID, e.g. 'my_pkg.envs:MyEnv-v0'")
    try:
        importlib.import_module(module)
    except (Exception, SystemExit) as exc:  # the module's own errors and sys.exit too: one line
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


def env_family(env_id: str) -> str | None:
    """The optional family (= pip extra) an env id belongs to: "atari", "minatar", "box2d", "mujoco" or None.

    A ``module:id`` id is judged by its id part (the module is not imported here).

    :param env_id: Gymnasium environment id, or "module:id".
    """
    env_id = split_env_id(env_id)[1]
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
    module, bare = split_env_id(env_id)
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

"""Names that become a directory: a sweep's or a tune's ``name`` (``sweeps/<name>``, ``tunes/<name>``),
and an env id's part of a run directory's or a run id's name (:func:`env_slug`, no gymnasium import).

One check for every such name (:func:`name_problem`): a plain, single path component, so that
``name: ..`` or ``name: a/b`` can never put a sweep's files outside the directory it names.
"""

from __future__ import annotations

import re

from wnrl.config.schema import NAME_PATTERN

__all__ = ["MAX_NAME_LENGTH", "env_slug", "name_problem", "split_env_id"]

#: The longest name (a directory name; file systems stop at 255 bytes, and run ids add to it).
MAX_NAME_LENGTH = 100
_NAME = re.compile(NAME_PATTERN)


def name_problem(name: object) -> str | None:
    """What keeps ``name`` from naming a directory, as a message to follow ``KEY:`` (``None``: nothing).

    A name is a plain single path component: letters, digits, ``_``, ``.``, ``-``, at most
    :data:`MAX_NAME_LENGTH` characters, and neither ``.`` nor ``..`` (which name the current
    directory and its parent).

    :param name: the name
    """
    if not isinstance(name, str) or not _NAME.match(name):
        return f"{name!r} must use only letters, digits, '_', '.', '-' (it names a directory)"
    if name in (".", ".."):
        return f"{name!r} names the current or the parent directory, not a directory of its own; give a plain name"
    if len(name) > MAX_NAME_LENGTH:
        return f"{len(name)} characters is more than {MAX_NAME_LENGTH} (it names a directory); give a shorter name"
    return None


def split_env_id(env_id: str) -> tuple[str | None, str]:
    """``"pkg.mod:Name-v0"`` -> ``("pkg.mod", "Name-v0")``; ``"Name-v0"`` -> ``(None, "Name-v0")``.

    :param env_id: Gymnasium environment id, or "module:id".
    """
    module, sep, bare = env_id.partition(":")
    return (module, bare) if sep else (None, env_id)


def env_slug(env_id: str) -> str:
    """An env id as a directory-name part: ``CartPole-v1`` → ``cartpole``, ``MinAtar/Breakout-v1``
    → ``minatar-breakout``, ``my_pkg.envs:Toy-v0`` → ``toy`` (no version, no module: run ids add a
    hash of the whole config, which tells those apart).

    :param env_id: Gymnasium environment id, or "module:id".
    """
    name = re.sub(r"-v\d+$", "", split_env_id(env_id)[1])
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "env"

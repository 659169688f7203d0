"""Names that become a directory: a sweep's or a tune's ``name`` (``sweeps/<name>``, ``tunes/<name>``).

One check for every such name (:func:`name_problem`): a plain, single path component, so that
``name: ..`` or ``name: a/b`` can never put a sweep's files outside the directory it names.
"""

from __future__ import annotations

import re

from wnrl.config.schema import NAME_PATTERN

__all__ = ["MAX_NAME_LENGTH", "name_problem"]

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

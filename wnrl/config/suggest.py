"""The one "did you mean" of wnrl, for every name a user writes (a key, an algorithm, a norm, a
shipped config): a close match if there is one, else the valid names.

It imports nothing of wnrl, so every layer may use it (config validation, ``agents/``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["suggest"]


def suggest(name: str, valid: Iterable[str], what: str = "valid values", show_all: bool = False) -> str:
    """The one "did you mean" of wnrl: ``did you mean 'x'?`` for a close match, else the list.

    :param name: what the user wrote
    :param valid: the valid names
    :param what: how to introduce the list
    :param show_all: give the (quoted) list even when a name is close (for short enumerations,
        where a close spelling may still be the wrong word)
    """
    valid = list(valid)
    close = difflib.get_close_matches(str(name), valid, n=1)
    listed = f"{what}: {', '.join(repr(v) if show_all else v for v in valid)}"
    if not close:
        return listed
    return f"did you mean {close[0]!r}?" + (f" {listed}" if show_all else "")

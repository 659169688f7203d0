"""The values of sweep and tune files that both validate the same way: ``name``, ``seeds``, a
grid of dotted keys to values, and :func:`show`, a grid value as run ids, messages and reports
write it. Imports neither torch nor SB3."""

from __future__ import annotations

import json
from typing import Any

from wnrl.config.keys import check_key
from wnrl.config.names import name_problem

__all__ = ["LR_KEY", "MAX_SEEDS", "checked_name", "grid_values", "seed_list", "show"]

#: An upper bound that catches a typo (``seeds: 1000000``) before a minute of silent expansion.
MAX_SEEDS = 10_000
#: The learning rate's key: a grid may vary it, a tune file's default space searches it.
LR_KEY = "agent.hyperparams.learning_rate"


def show(v: Any) -> str:
    """A grid value as run ids, messages and reports write it: strings as they are, anything else
    as JSON.

    :param v: the value
    """
    return v if isinstance(v, str) else json.dumps(v)


def checked_name(v: str | None) -> str | None:
    """A sweep's or a tune file's ``name`` (``None``: none given), if it can name a directory.

    :param v: the name
    :raises ValueError: what keeps it from naming a directory (:func:`wnrl.config.names.name_problem`)
    """
    problem = None if v is None else name_problem(v)
    if problem:
        raise ValueError(problem)
    return v


def seed_list(v: Any, what: str = "seeds") -> list[int]:
    """The seeds of a sweep or a tune file's ``seeds`` entry: a count ``n`` means ``0..n-1``.

    :param v: a count or a list of distinct non-negative integers
    :param what: what the seeds are, for the message on a count below 1
    :raises ValueError: one line saying what to give
    """
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 1:
            raise ValueError(f"must be at least 1 (the number of {what}), got {v}")
        if v > MAX_SEEDS:
            raise ValueError(f"{v} seeds is more than {MAX_SEEDS}; give fewer seeds")
        return list(range(v))
    if isinstance(v, list) and v and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v):
        if len(set(v)) != len(v):
            raise ValueError(f"{v} repeats a seed; give each seed once")
        return list(v)
    raise ValueError(f"give a number of seeds (e.g. 5) or a list of non-negative integers (e.g. [0, 1, 2]), got {v!r}")


def grid_values(v: Any, where: str, example: str, key_example: str = "train.total_timesteps") -> dict[str, list[Any]]:
    """A mapping of dotted config keys to non-empty lists of values (a sweep's ``grid``, a tune
    file's ``variants``, ``groups`` and ``tasks``); ``None`` is empty.

    :param v: the entry as written
    :param where: the entry's name
    :param example: an example value of the entry, for the message
    :param key_example: a third example key of an unknown-key message
    :raises ValueError: one line naming the key and a fix
    """
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError(f"must map dotted config keys to lists of values, e.g. {where}: {example}")
    for key, values in v.items():
        check_key(key, where, key_example)
        if not isinstance(values, list) or not values:
            raise ValueError(f"{key}: give a non-empty list of values, e.g. {key}: [{show(values)}]")
    return v

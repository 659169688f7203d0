"""Lazy exports: a package whose names are imported on first use.

A leaf like :mod:`wnrl.registry`: it imports nothing of wnrl and nothing heavy, so that
``import wnrl.harness`` or ``import wnrl.train`` stays cheap (no torch until a name needs it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, Iterable[str]]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for a package whose names are imported on
    first use (so ``import wnrl.harness`` stays cheap: no torch until a name needs it).

    :param package: the package's ``__name__``
    :param exports: module path → the names it exports
    """
    where = {name: module for module, names in exports.items() for name in names}

    def getattr_(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(where))

    return sorted(where), getattr_, dir_

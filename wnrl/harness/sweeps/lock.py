"""One writer per sweep directory: :func:`sweep_lock`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from wnrl.config import ConfigError
from wnrl.train.rundir import DirLock

__all__ = ["sweep_lock"]


@contextlib.contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``sweep_dir`` (one ``wnrl compare`` per directory at a time).

    :param sweep_dir: the sweep directory (created if needed)
    :raises ConfigError: when another process holds it, or the directory cannot be made
    """
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        lock = DirLock(sweep_dir)
        locked = lock.acquire()
    except OSError as e:
        raise ConfigError(
            f"--out {sweep_dir}: cannot create or lock the sweep directory: {e.strerror}; choose another --out"
        ) from None
    if not locked:
        raise ConfigError(
            f"--out {sweep_dir}: another `wnrl compare` is running in this sweep "
            "directory; wait for it or choose another --out"
        )
    try:
        yield
    finally:
        lock.release()

"""The paths ``wnrl compare`` and ``wnrl report`` write to, checked before anything is written.

* :func:`check_path`: a path that cannot be a directory at all: a symbolic link loop, a name longer
  than a file system takes;
* :func:`check_report_outputs`: a sweep directory the report cannot be written into: read-only,
  or ``figures`` that is not a directory, ``report.md``, ``results.csv`` or ``summary.json`` that
  is not a file.

Each problem is one :class:`~wnrl.config.ConfigError` line naming the path and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from wnrl.config import ConfigError

__all__ = ["NAME_MAX", "PATH_MAX", "REPORT_DIRS", "REPORT_FILES", "check_path", "check_report_outputs"]

#: The longest file name (bytes) and path (bytes) the usual file systems and Linux take.
NAME_MAX = 255
PATH_MAX = 4096
#: What the report writes into a sweep directory: files, and folders.
REPORT_FILES = ("report.md", "results.csv", "summary.json")
REPORT_DIRS = ("figures",)


def check_path(path: Path, label: str, fix: str) -> None:
    """Refuse a path that cannot be a directory: a symbolic link loop, a name too long.

    :param path: the path (need not exist)
    :param label: how the message names it (``--out DIR``, or the directory)
    :param fix: what to do instead (``choose another --out``)
    :raises ConfigError: one line naming the path
    """
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            raise ConfigError(
                f"{label}: the name {part[:40]}... is {size} bytes, more than the {NAME_MAX} a file name "
                f"may have; {fix}"
            )
    if len(os.fsencode(str(path.absolute()))) >= PATH_MAX:
        raise ConfigError(f"{label}: the path is longer than the {PATH_MAX} bytes a path may have; {fix}")
    try:
        path.resolve(strict=False)
    except (RuntimeError, OSError) as e:  # RuntimeError: a symlink loop (Python < 3.13)
        raise ConfigError(f"{label}: a symbolic link loop ({' '.join(str(e).split())}); {fix}") from None


def _why_not_writable(directory: Path) -> str | None:
    """Why ``directory`` cannot be written (``None``: it can)."""
    if os.access(directory, os.W_OK | os.X_OK):
        return None
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return "is on a read-only file system"
    except OSError:
        pass
    return "is not writable (no write permission)"


def check_report_outputs(sweep_dir: Path, label: str, writable: bool = True) -> None:
    """Refuse a sweep directory the report cannot be written into (nothing written).

    :param sweep_dir: an existing sweep directory
    :param label: how the message names it (``--out DIR``, or the directory)
    :param writable: check that the directory and ``figures/`` can be written too
    :raises ConfigError: one line naming the path and the fix
    """
    for name in REPORT_FILES:
        path = sweep_dir / name
        if path.exists() and not path.is_file():
            raise ConfigError(
                f"{label}: {name}: is a directory, not the report's {name}; move it out of {sweep_dir} "
                "(the report writes this file there), and run the command again"
            )
    for name in REPORT_DIRS:
        path = sweep_dir / name
        if (path.exists() or path.is_symlink()) and not path.is_dir():
            raise ConfigError(
                f"{label}: {name}: is a file, not the report's {name}/ directory; move it out of {sweep_dir} "
                "(the report writes its figures there), and run the command again"
            )
    if not writable:
        return
    for directory in (sweep_dir, *(sweep_dir / n for n in REPORT_DIRS if (sweep_dir / n).is_dir())):
        why = _why_not_writable(directory)
        if why:
            what = "" if directory == sweep_dir else f"{directory.name}/ "
            raise ConfigError(
                f"{label}: {what}{why}, so the report cannot be written there; copy the sweep "
                "directory somewhere writable and write the report of the copy (wnrl report COPY)"
            )

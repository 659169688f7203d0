"""The paths ``wnrl compare`` and ``wnrl report`` write to, checked before anything is written.

* a path that cannot be a directory at all (a symbolic link loop, a name longer than a file system
  takes, a file above it) is refused by wnrl's one check of output paths,
  :func:`wnrl.train.rundir.check_dir_path`, which the callers use directly;
* :func:`check_report_outputs`: a sweep directory the report cannot be written into: read-only,
  or ``figures`` that is not a directory, ``report.md``, ``results.csv`` or ``summary.json`` that
  is not a file.

Each problem is one :class:`~wnrl.config.ConfigError` line naming the path and the fix.
"""

from __future__ import annotations

from pathlib import Path

from wnrl.config import ConfigError
from wnrl.train.rundir import why_not_writable

__all__ = ["REPORT_DIRS", "REPORT_FILES", "check_report_outputs"]

#: What the report writes into a sweep directory: files, and folders.
REPORT_FILES = ("report.md", "results.csv", "summary.json")
REPORT_DIRS = ("figures",)


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
        why = why_not_writable(directory)
        if why:
            what = "" if directory == sweep_dir else f"{directory.name}/ "
            raise ConfigError(
                f"{label}: {what}{why}, so the report cannot be written there; copy the sweep "
                "directory somewhere writable and write the report of the copy (wnrl report COPY)"
            )

"""A run directory as a place to write: its path checked, locked while a run writes it, and
left consistent when the disk under it fails.

* :func:`check_out_path`: an ``--out`` that cannot be a directory (a file, a name too long for the
  filesystem, a symlink loop) is one line before anything is written;
* :class:`DirLock`: an exclusive ``flock`` on ``DIR/.lock`` (the primitive that every directory
  wnrl writes is held by; released by the kernel when the process ends, even by ``kill -9``);
* :class:`RunDirClaim`: what ``wnrl train`` holds while it writes a run directory: the lock, and
  what it created (removed again when the run is refused before it wrote anything);
* :func:`output_failure`: a full, read-only or failing disk during a run: temp files removed,
  ``system.json`` marked ``failed``, one line.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import IO, Any

from wnrl.config import ConfigError

__all__ = [
    "LOCK_FILE",
    "OUTPUT_ERRNOS",
    "DirLock",
    "RunDirClaim",
    "check_empty",
    "check_not_busy",
    "check_out_path",
    "output_failure",
]

LOCK_FILE = ".lock"
#: Errors of the disk under an output directory (not of wnrl's input): full, over quota,
#: read-only, file too large, I/O error.
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO})
_PATH_ERRNOS = {errno.ENAMETOOLONG: "the name is too long for the filesystem", errno.ELOOP: "a symlink loop"}


def check_out_path(path: Path, option: str = "--out") -> None:
    """Refuse a path that cannot be an output directory, before anything is written.

    :param path: the directory (need not exist)
    :param option: the option that gave it, for the message
    :raises ConfigError: a file, a symlink loop, a name too long, a folder above it that is a file
    """
    fix = f"choose another {option}"
    for p in (path, *path.parents):
        try:
            os.stat(p)
        except FileNotFoundError:
            if p.is_symlink():  # a dangling link: mkdir would fail on it
                raise ConfigError(f"{path}: {p} is a dangling symbolic link; {fix}") from None
            continue
        except NotADirectoryError:  # a file above it: named when the loop reaches it
            continue
        except OSError as e:
            why = _PATH_ERRNOS.get(e.errno or 0, e.strerror)
            raise ConfigError(f"{path}: cannot be used as a directory ({why}); {fix}") from None
        if p == path and not os.path.isdir(p):
            raise ConfigError(f"{path}: is a file, not a directory; {fix}")
        if p != path and not os.path.isdir(p):
            raise ConfigError(f"{path}: {p} is a file, not a directory; {fix}")
        return


class DirLock:
    """An exclusive, non-blocking ``flock`` on ``directory/.lock`` (the file is created if missing
    and kept, so a lock never changes what another holder sees).

    :param directory: an existing directory
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self.created = False
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock; ``False`` when another process holds it (nothing is changed then).

        :raises OSError: when the lock file cannot be created
        """
        import fcntl

        self.created = not self.path.exists()
        handle = open(self.path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self, remove: bool = False) -> None:
        """Let the lock go (``remove``: delete the lock file first, when this lock created it)."""
        if self._handle is None:
            return
        if remove and self.created:
            self.path.unlink(missing_ok=True)
        self._handle.close()
        self._handle = None


def _busy(run_dir: Path) -> ConfigError:
    return ConfigError(
        f"{run_dir}: another `wnrl train` is writing this run directory; wait for it to end, or choose another --out"
    )


def check_not_busy(run_dir: Path) -> None:
    """Refuse a run directory that another process holds locked (checked again by
    :class:`RunDirClaim`, under the lock); changes nothing.

    :param run_dir: the run directory
    :raises ConfigError: when it is locked
    """
    if not (run_dir / LOCK_FILE).is_file():
        return
    lock = DirLock(run_dir)
    if not lock.acquire():
        raise _busy(run_dir)
    lock.release()


def check_empty(run_dir: Path) -> None:
    """Refuse a directory that holds anything but a lock file, for a new run.

    :param run_dir: the run directory (need not exist)
    :raises ConfigError: when it is not empty
    """
    if run_dir.is_dir() and any(p.name != LOCK_FILE for p in run_dir.iterdir()):
        raise ConfigError(
            f"{run_dir}: already exists and is not empty; choose another --out or continue it with --resume"
        )


class RunDirClaim:
    """The right of one ``wnrl train`` to write a run directory: created if missing, locked, and
    for a new run empty (but for the lock file).

    :param run_dir: the run directory
    :param fresh: a new run (the directory must be empty) rather than a resumed one
    :raises ConfigError: when another ``wnrl train`` writes it, it is not empty, or it cannot be
        created; nothing is left behind then
    """

    def __init__(self, run_dir: Path, fresh: bool) -> None:
        self.run_dir = run_dir
        self.system: dict[str, Any] = {}  # system.json as last meant to be written
        self.created = not run_dir.exists()
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            self.lock = DirLock(run_dir)
            locked = self.lock.acquire()
        except OSError as e:
            self._undo_dir()
            raise ConfigError(
                f"{run_dir}: cannot write the run directory: {e.strerror}; choose another --out"
            ) from None
        if not locked:
            raise _busy(run_dir)
        if fresh:
            try:
                check_empty(run_dir)
            except ConfigError:
                self.abandon()
                raise

    def _undo_dir(self) -> None:
        if self.created:
            try:
                self.run_dir.rmdir()
            except OSError:
                pass

    def abandon(self) -> None:
        """Release the claim of a run that wrote nothing: what the claim created is removed."""
        self.lock.release(remove=True)
        self._undo_dir()

    def release(self) -> None:
        """Release the claim (the lock file stays, as in a sweep directory)."""
        self.lock.release()


def _temp_files(run_dir: Path) -> list[Path]:
    """The temp files of interrupted atomic writes (``.NAME.tmp*``) in a run directory, and the
    parts of a checkpoint whose zip was never written."""
    found = [p for p in run_dir.glob(".*.tmp*") if p.is_file()]
    ckpt = run_dir / "checkpoints"
    found += [p for p in ckpt.glob(".*.tmp*") if p.is_file()]
    for p in ckpt.glob("step_*_*.pkl"):
        stem = p.name.rsplit("_", 1)[0]
        if not (ckpt / f"{stem}.zip").exists():
            found.append(p)
    return found


def _write_in_place(path: Path, text: str) -> None:
    """Rewrite ``path`` (atomically when there is room for a temp file, else in place)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        with open(path, "w") as f:  # truncating frees the old blocks for the new text
            f.write(text)


def output_failure(run_dir: Path, error: OSError, system: dict[str, Any]) -> ConfigError:
    """Leave a run whose disk failed consistent, and say so in one line.

    Removes the temp files of interrupted writes, records ``system.json`` as ``failed`` (the part
    in progress too) with the error, best effort.

    :param run_dir: the run directory
    :param error: the disk's error (an errno of :data:`OUTPUT_ERRNOS`)
    :param system: the run's ``system.json`` as last written
    :returns: the one-line error to raise
    """
    for p in _temp_files(run_dir):
        p.unlink(missing_ok=True)
    what = f"{error.strerror} while writing {error.filename}" if error.filename else str(error.strerror)
    parts = [dict(p) for p in system.get("parts", [])]
    if parts and parts[-1].get("status") == "running":
        parts[-1]["status"] = "failed"
    try:
        failed = {**system, "parts": parts, "status": "failed", "error": what}
        _write_in_place(run_dir / "system.json", json.dumps(failed, indent=2))
    except OSError:
        pass  # the run's record stays as it was; the message below still tells what happened
    fixes = {errno.ENOSPC: "free space", errno.EDQUOT: "free space", errno.EFBIG: "raise the file-size limit"}
    fix = fixes.get(error.errno or 0, "make it writable")
    return ConfigError(f"{run_dir}: {what}; {fix}, then continue the run with `wnrl train --resume {run_dir}`")

"""A run directory as a place to write: its files written atomically, its path checked, locked
while a run writes it, and left consistent when the disk under it fails.

* :func:`save_atomically` and :func:`atomic_write_text`: the one atomic write of wnrl (temp file +
  ``os.replace``): a file is whole or absent, never half-written (records, texts, models,
  checkpoints, reports);
* :func:`read_json`: the read of a JSON file wnrl wrote (one line when it cannot be read or
  was cut short);
* :func:`check_dir_path`: a path that cannot be a directory at all (a symbolic link loop, a name
  longer than a file system takes, a file above it, a dangling link) is one line before anything is
  written: the one check of every output directory (``wnrl train --out``, ``--video``, ``compare``
  and ``tune --out``, the report directory); :func:`check_out_path` adds that it is not a file;
* :func:`why_not_writable`: why a directory cannot be written (a read-only file system, no
  permission);
* :class:`DirLock`: an exclusive ``flock`` on ``DIR/.lock`` (the primitive that every directory
  wnrl writes is held by; released by the kernel when the process ends, even by ``kill -9``). The
  lock file is never deleted: a process may have opened it and be about to lock it, and a new file
  in its place would let two processes hold "the" lock at once. A directory holding nothing but
  ``.lock`` counts as empty (a new run may be written there);
* :class:`RunDirClaim`: what ``wnrl train`` holds while it writes a run directory: the lock, and
  what it created (the directory is left with its lock file when the run is refused before it wrote
  anything);
* :func:`output_failure`: a full, read-only or failing disk during a run: temp files removed,
  ``system.json`` marked ``failed``, one line. It is rewritten atomically or not at all: when even
  that write fails, ``system.json`` keeps what it said last (the part in progress ``running``)
  rather than being truncated and left empty by a second failing write; the one line still says
  that the disk failed and how to continue.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from wnrl.config import ConfigError

__all__ = [
    "LOCK_FILE",
    "NAME_MAX",
    "OUTPUT_ERRNOS",
    "PATH_MAX",
    "DirLock",
    "RunDirClaim",
    "atomic_write_text",
    "check_dir_path",
    "check_empty",
    "check_not_busy",
    "check_out_path",
    "is_empty",
    "output_failure",
    "read_json",
    "save_atomically",
    "unwritable",
    "why_not_writable",
]

LOCK_FILE = ".lock"
#: Errors of the disk under an output directory (not of wnrl's input): full, over quota,
#: read-only, file too large, I/O error.
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO})
#: The longest file name (bytes) and path (bytes) the usual file systems and Linux take.
NAME_MAX = 255
PATH_MAX = 4096
_PATH_ERRNOS = {errno.ENAMETOOLONG: "the name is too long for the file system"}


def save_atomically(save: Callable[[Path], object], path: Path) -> None:
    """``save(tmp)`` then rename ``tmp`` to ``path``: the one atomic write of wnrl (texts, models,
    statistics, checkpoints). A failing write (a full disk) leaves neither a half-written ``path``
    nor the temp file (``.STEM.tmpPID.SUFFIX``: the suffix kept, as SB3's ``save`` wants ``.zip``).

    :param save: writes the content to the path it is given
    :param path: the file (its folder must exist)
    """
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`save_atomically`): never a half-written file.

    :param path: the file (its folder must exist)
    :param text: the content
    """
    save_atomically(lambda tmp: tmp.write_text(text), path)


def read_json(path: Path, problem: Callable[[str], Exception]) -> Any:
    """The JSON in ``path``, a file that wnrl wrote itself (a run's ``result.json``, a sweep's
    ``index.json``): one line when it is there but cannot be read or was cut short.

    :param path: the file
    :param problem: makes the exception to raise from what is wrong (``cannot be read (...)``,
        ``not valid JSON (truncated?)``)
    :raises FileNotFoundError: when there is no such file (the caller's ``None``: a JSON ``null``
        is a value, not an absent file)
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise problem(f"cannot be read ({e.strerror})") from None
    try:
        return json.loads(text)
    except ValueError:
        raise problem("not valid JSON (truncated?)") from None


def _check_lengths(path: Path, label: str, fix: str) -> None:
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            raise ConfigError(
                f"{label}: the name {part[:40]}... is {size} bytes, more than the {NAME_MAX} a file name "
                f"may have; {fix}"
            )
    if len(os.fsencode(str(path.absolute()))) >= PATH_MAX:
        raise ConfigError(f"{label}: the path is longer than the {PATH_MAX} bytes a path may have; {fix}")


def check_dir_path(path: Path, label: str, fix: str) -> Path | None:
    """Refuse a path that cannot be a directory at all, before anything is written: a name or path
    too long, a symbolic link loop, a file or a dangling link above it (or as it, for a link).

    :param path: the path (need not exist)
    :param label: how the message names it (the path, or ``--out DIR``)
    :param fix: what to do instead (``choose another --out``)
    :returns: the nearest existing path of ``path`` and its parents (``None``: none)
    :raises ConfigError: one line naming the path and the fix
    """
    _check_lengths(path, label, fix)
    for p in (path, *path.parents):
        try:
            os.stat(p)
        except FileNotFoundError:
            if p.is_symlink():  # a dangling link: mkdir would fail on it
                raise ConfigError(f"{label}: {p} is a dangling symbolic link; {fix}") from None
            continue
        except NotADirectoryError:  # a file above it: named when the loop reaches it
            continue
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ConfigError(f"{label}: a symbolic link loop (at {p}); {fix}") from None
            why = _PATH_ERRNOS.get(e.errno or 0, e.strerror)
            raise ConfigError(f"{label}: cannot be used as a directory ({why}); {fix}") from None
        if p != path and not os.path.isdir(p):
            raise ConfigError(f"{label}: {p} is a file, not a directory; {fix}")
        return p
    return None


def check_out_path(path: Path, option: str = "--out") -> None:
    """Refuse a path that cannot be an output directory (:func:`check_dir_path`, or a file).

    :param path: the directory (need not exist)
    :param option: the option that gave it, for the message
    :raises ConfigError: one line naming the path and the fix
    """
    fix = f"choose another {option}"
    if check_dir_path(path, str(path), fix) == path and not os.path.isdir(path):
        raise ConfigError(f"{path}: is a file, not a directory; {fix}")


def why_not_writable(directory: Path) -> str | None:
    """Why ``directory`` cannot be written (``None``: it can).

    :param directory: an existing directory
    :returns: ``is on a read-only file system`` or ``is not writable (no write permission)``
    """
    if os.access(directory, os.W_OK | os.X_OK):
        return None
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return "is on a read-only file system"
    except OSError:
        pass
    return "is not writable (no write permission)"


def unwritable(run_dir: Path, error: OSError, resume: bool = False) -> ConfigError:
    """The one line of a run directory that cannot be written (or its lock file opened).

    :param run_dir: the run directory
    :param error: the error
    :param resume: the directory was given to ``--resume`` (else to ``--out``)
    """
    fix = "make it writable, or resume a writable copy of it" if resume else "choose another --out"
    return ConfigError(f"{run_dir}: cannot write the run directory: {error.strerror or error}; {fix}")


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

    def release(self) -> None:
        """Let the lock go (the lock file stays: see the module's docstring)."""
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None


def _busy(run_dir: Path) -> ConfigError:
    return ConfigError(
        f"{run_dir}: another `wnrl train` is writing this run directory; wait for it to end, or choose another --out"
    )


def check_not_busy(run_dir: Path, resume: bool = False) -> None:
    """Refuse a run directory that another process holds locked (checked again by
    :class:`RunDirClaim`, under the lock); changes nothing.

    :param run_dir: the run directory
    :param resume: it was given to ``--resume`` (for the message)
    :raises ConfigError: when it is locked, or its lock file cannot be opened (a read-only
        directory)
    """
    if not (run_dir / LOCK_FILE).is_file():
        return
    lock = DirLock(run_dir)
    try:
        locked = lock.acquire()
    except OSError as e:
        raise unwritable(run_dir, e, resume) from None
    if not locked:
        raise _busy(run_dir)
    lock.release()


def is_empty(directory: Path) -> bool:
    """Whether ``directory`` holds nothing but a lock file (as a stopped run may leave it).

    :param directory: an existing directory
    """
    return all(p.name == LOCK_FILE for p in directory.iterdir())


def check_empty(run_dir: Path) -> None:
    """Refuse a directory that holds anything but a lock file, for a new run.

    :param run_dir: the run directory (need not exist)
    :raises ConfigError: when it is not empty
    """
    if run_dir.is_dir() and not is_empty(run_dir):
        raise ConfigError(
            f"{run_dir}: already exists and is not empty; choose another --out or continue it with --resume"
        )


class RunDirClaim:
    """The right of one ``wnrl train`` to write a run directory: created if missing, locked, and
    for a new run empty (but for the lock file).

    :param run_dir: the run directory
    :param fresh: a new run (the directory must be empty) rather than a resumed one
    :raises ConfigError: when another ``wnrl train`` writes it, it is not empty, or it cannot be
        created; nothing of the run is left behind then (a lock file may stay: see :class:`DirLock`)
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
            raise unwritable(run_dir, e, resume=not fresh) from None
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
        """Release the claim of a run that wrote nothing. The lock file stays (and with it a
        directory the claim created): a new run may still be written there (:func:`check_empty`)."""
        self.lock.release()

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


def output_failure(run_dir: Path, error: OSError, system: dict[str, Any]) -> ConfigError:
    """Leave a run whose disk failed consistent, and say so in one line.

    Removes the temp files of interrupted writes, records ``system.json`` as ``failed`` (the part
    in progress too) with the error, atomically or not at all (the old file is kept whole when
    even that write fails).

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
        atomic_write_text(run_dir / "system.json", json.dumps(failed, indent=2))
    except OSError:
        pass  # the run's record stays as it was last written; the message below tells what happened
    fixes = {errno.ENOSPC: "free space", errno.EDQUOT: "free space", errno.EFBIG: "raise the file-size limit"}
    fix = fixes.get(error.errno or 0, "make it writable")
    return ConfigError(f"{run_dir}: {what}; {fix}, then continue the run with `wnrl train --resume {run_dir}`")

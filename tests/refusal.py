"""The one-line promise as one check, shared by every test of bad input: ``wnrl ARGV`` exits with
code 2, prints one line ``wnrl: error: ...`` holding each needle, no traceback, and leaves the
directory it was given byte-identical; and :func:`read_only`, the one read-only directory of the
tests of a read-only disk."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from wnrl.cli import main


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with the SHA-1 of its bytes (``"dir"`` for a directory)."""
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def refused(capsys: pytest.CaptureFixture, root: Path | None, argv: list[str], needles: Iterable[str]) -> str:
    """Run ``wnrl ARGV`` and check the refusal; returns the line.

    :param capsys: pytest's capture fixture
    :param root: a directory that must be unchanged afterwards (``None``: none checked)
    :param argv: the command line after ``wnrl``
    :param needles: texts the line must hold
    """
    before = snapshot(root) if root is not None else None
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("wnrl: error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    if root is not None:
        assert snapshot(root) == before, "nothing is written"
    return err


def refused_here(capsys: pytest.CaptureFixture, argv: list[str], *needles: str) -> str:
    """:func:`refused` with the current directory as the one that must stay unchanged (for tests
    run in their ``tmp_path``)."""
    return refused(capsys, Path.cwd(), argv, needles)


def _a_read_only_mount() -> Path | None:
    """``/sys`` or ``/proc/sys`` where a container mounts it read-only (``/proc/mounts``), if so."""
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[1] in ("/sys", "/proc/sys") and "ro" in fields[3].split(","):
            return Path(fields[1])
    return None


@contextlib.contextmanager
def read_only(tmp: Path, content: Path | None = None) -> Iterator[Path]:
    """A directory on a read-only file system: a tmpfs mounted under ``tmp``, given a copy of
    ``content`` (nothing without), then remounted read-only. Without the right to mount: not
    root, the same directory seen read-only through its permissions (they stop a user, not root);
    root, for an empty one, a read-only mount already there (``/sys`` in a container); root with
    ``content`` fails, naming why (nothing stops root from writing there).

    :param tmp: a folder to make it in (``tmp_path``)
    :param content: a directory whose copy it holds
    """
    path = tmp / "ro"
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(path)], capture_output=True)
    root = os.geteuid() == 0
    if content is not None:
        shutil.copytree(content, path, dirs_exist_ok=True)
    dirs = [path, *(p for p in path.rglob("*") if p.is_dir())]
    try:
        if mounted.returncode == 0:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)
            yield path
        elif not root:
            for p in dirs:
                p.chmod(0o555)
            yield path
        else:
            found = _a_read_only_mount() if content is None else None
            assert found is not None, (
                f"root without the right to mount ({mounted.stderr.decode().strip()}): no read-only directory"
            )
            yield found
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", str(path)], check=True)
        elif not root:
            for p in dirs:
                p.chmod(0o755)

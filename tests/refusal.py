"""The one-line promise as one check, shared by every test of bad input: ``wnrl ARGV`` exits with
code 2, prints one line ``wnrl: error: ...`` holding each needle, no traceback, and leaves the
directory it was given byte-identical."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
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

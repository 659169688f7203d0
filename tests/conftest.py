"""Fixtures shared by the test modules (their helpers are in tests/refusal.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from refusal import read_only


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty directory on a read-only file system (:func:`refusal.read_only`)."""
    with read_only(tmp_path) as path:
        yield path


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in its own folder: a command without --out that wrote the default runs/,
    sweeps/ or tunes/ despite refusing writes there, where the refusal check's snapshot sees it,
    instead of into the repository unseen."""
    monkeypatch.chdir(tmp_path)
    return tmp_path

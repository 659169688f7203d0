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

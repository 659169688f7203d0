"""system.json's ``wnrl_revision``: the commit of the code a run ran, ``+dirty`` only when the code
(``wnrl/``, ``agents/``) differs from it; on a real git repository in a temporary directory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wnrl.train.revision import SOURCE_REVISION, source_revision

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")


def _git(root: Path, *args: str) -> str:
    cmd = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def test_commit_then_dirty_only_for_code_changes(tmp_path: Path) -> None:
    (tmp_path / "wnrl").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "wnrl" / "x.py").write_text("a = 1\n")
    (tmp_path / "docs" / "results.md").write_text("n 5\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert source_revision(tmp_path) == head
    (tmp_path / "docs" / "results.md").write_text("n 10\n")  # a sweep writing its results
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "result.json").write_text("{}")
    assert source_revision(tmp_path) == head, "results beside the code are not the code"
    (tmp_path / "wnrl" / "x.py").write_text("a = 2\n")
    assert source_revision(tmp_path) == f"{head}+dirty"


def test_not_a_checkout_is_none(tmp_path: Path) -> None:
    assert source_revision(tmp_path) is None


def test_this_process_records_the_checkout_it_imported() -> None:
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():  # an unpacked sdist: nothing to compare with
        assert SOURCE_REVISION is None
        return
    assert SOURCE_REVISION is not None
    assert SOURCE_REVISION.split("+")[0] == _git(root, "rev-parse", "HEAD")

"""The file helpers of a run directory (:mod:`wnrl.train.rundir`): the one read of a JSON file wnrl
wrote, as ``result.json`` and ``index.json`` both use it, and the one atomic write."""

from __future__ import annotations

from pathlib import Path

import pytest

from wnrl.config import ConfigError
from wnrl.harness.sweeps.index import read_index
from wnrl.train.record import RecordError, read_record
from wnrl.train.rundir import atomic_write_text, read_json


def test_read_json_reads_refuses_and_tells_an_absent_file_apart(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    with pytest.raises(FileNotFoundError):
        read_json(path, ValueError)
    atomic_write_text(path, "null")
    assert read_json(path, ValueError) is None  # a value, not an absent file
    atomic_write_text(path, '{"a": [1')
    with pytest.raises(ValueError, match=r"^not valid JSON \(truncated\?\)$"):
        read_json(path, ValueError)
    path.unlink()
    path.mkdir()
    with pytest.raises(ValueError, match=r"^cannot be read \(Is a directory\)$"):
        read_json(path, ValueError)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temp file left"


def test_a_run_record_and_a_sweep_index_that_cannot_be_read_are_one_line(tmp_path: Path) -> None:
    assert read_record(tmp_path) is None and read_index(tmp_path) is None
    (tmp_path / "result.json").mkdir()
    (tmp_path / "index.json").mkdir()
    with pytest.raises(RecordError, match=r"result.json: cannot be read \(Is a directory\)$"):
        read_record(tmp_path)
    with pytest.raises(ConfigError, match=r"index.json: cannot be read \(Is a directory\); "):
        read_index(tmp_path)


def test_a_null_record_is_not_a_run_record(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text("null")
    with pytest.raises(RecordError, match=r"result.json: not a run record \(record: "):
        read_record(tmp_path)

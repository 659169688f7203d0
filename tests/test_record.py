"""The one run record (result.json): one JSON form, atomic writes, old files still load,
corrupt files are named."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from wnrl.train.record import RESULT_FILE, Curve, RecordError, RunRecord, area_under_curve, read_record, write_record

# What the sweep executor wrote before the typed record existed (wnrl 0.1, stop 6).
OLD_RESULT = {
    "id": "ppo-none-s0-0123456789",
    "grid": {"agent.algo": "ppo", "agent.norm": "none"},
    "seed": 0,
    "env_id": "CartPole-v1",
    "algo": "ppo",
    "norm": "none",
    "status": "finished",
    "error": None,
    "traceback": None,
    "final": {"mean": 212.5, "std": 20.1, "episodes": [200.0, 225.0]},
    "auc": 131.25,
    "curve": {"steps": [10000, 20000], "mean": [50.0, 212.5], "std": [1.0, 20.1]},
    "steps": 20000,
    "seconds": 11.2,
    "wall_seconds": 14.9,
    "cpu_seconds": 14.1,
    "host": "h",
    "ended": "2026-11-20T10:00:00",
}


def test_round_trip_is_exact(tmp_path: Path) -> None:
    record = RunRecord(
        status="finished",
        env_id="CartPole-v1",
        seed=3,
        final={"mean": 1.5, "std": 0.5, "episodes": [1.0, 2.0], "lengths": [1, 2]},
        curve={"steps": [1, 2], "mean": [0.0, 1.5], "std": [0.0, 0.5]},
        auc=0.75,
        steps=2,
        grid={"agent.norm": "weight"},
    )
    write_record(tmp_path, record)
    assert read_record(tmp_path) == record
    assert not list(tmp_path.glob(".*tmp*"))  # the temp file of the atomic write is gone


def test_old_result_files_still_load(tmp_path: Path) -> None:
    (tmp_path / RESULT_FILE).write_text(json.dumps(OLD_RESULT))
    record = read_record(tmp_path)
    assert record is not None and record.finished and record.score == 212.5
    assert record.curve is not None and record.curve.auc() == pytest.approx(OLD_RESULT["auc"])
    assert record.grid == OLD_RESULT["grid"] and record.wall_seconds == 14.9


def test_overhead_is_wall_time_outside_learn_and_is_written(tmp_path: Path) -> None:
    record = RunRecord(status="finished", seconds=11.2, wall_seconds=14.9)
    assert record.overhead_seconds == pytest.approx(3.7)
    write_record(tmp_path, record)
    assert json.loads((tmp_path / RESULT_FILE).read_text())["overhead_seconds"] == pytest.approx(3.7)
    assert read_record(tmp_path) == record  # the computed key is ignored on reading
    assert RunRecord(status="failed", seconds=1.0).overhead_seconds is None


def test_a_failed_old_record_loads_without_final(tmp_path: Path) -> None:
    old = {
        **OLD_RESULT,
        "status": "failed",
        "final": None,
        "auc": None,
        "curve": None,
        "steps": None,
        "error": "TypeError: x",
        "traceback": "Traceback ...",
    }
    (tmp_path / RESULT_FILE).write_text(json.dumps(old))
    record = read_record(tmp_path)
    assert record is not None and not record.finished and record.score is None


def test_missing_is_none_and_corrupt_is_named(tmp_path: Path) -> None:
    assert read_record(tmp_path) is None
    (tmp_path / RESULT_FILE).write_text('{"status": "fini')
    with pytest.raises(RecordError, match=r"result.json: not valid JSON \(truncated\?\)"):
        read_record(tmp_path)
    (tmp_path / RESULT_FILE).write_text(json.dumps({**OLD_RESULT, "final": {"mean": "lots"}}))
    with pytest.raises(RecordError, match=r"result.json: not a run record \(final.mean"):
        read_record(tmp_path)


def test_nan_survives_the_json_form(tmp_path: Path) -> None:
    write_record(tmp_path, RunRecord(status="failed", auc=float("nan")))
    record = read_record(tmp_path)
    assert record is not None and record.auc is not None and math.isnan(record.auc)


def test_curve_auc_is_the_trapezoid_mean() -> None:
    curve = Curve(steps=[0, 1, 3], mean=[0.0, 2.0, 2.0])
    assert curve.auc() == pytest.approx(5 / 3) == area_under_curve([0, 1, 3], [0, 2, 2])
    assert math.isnan(Curve().auc())

"""What ``wnrl train --resume`` keeps, and what it refuses: a finished run is left untouched,
the CSV log is appended to, SIGTERM is an interruption that can be resumed, every part's time
counts, default checkpoints make every run resumable and are cleaned up when it finishes.

Real SB3 training on CartPole with tiny budgets; kills go to real subprocesses.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from wnrl.cli import main

CONFIG = {
    "name": "tiny",
    "env": {"id": "CartPole-v1", "n_envs": 2},
    "agent": {
        "algo": "ppo",
        "norm": "weight",
        "net_arch": [16],
        "hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 2},
    },
    "train": {
        "total_timesteps": 1024,
        "seed": 1,
        "eval_freq": 512,
        "eval_episodes": 2,
        "device": "cpu",
        "torch_threads": 1,
        "progress_bar": False,
    },
}


def _config(tmp_path: Path, **train: object) -> Path:
    data = json.loads(json.dumps(CONFIG))
    data["train"].update(train)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _digest(run_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run_dir)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("finished")
    out = tmp / "run"
    assert main(["train", str(_config(tmp)), "--out", str(out)]) == 0
    return out


def test_resuming_a_finished_run_says_so_and_changes_nothing(finished_run: Path, capsys: pytest.CaptureFixture) -> None:
    before = _digest(finished_run)
    capsys.readouterr()
    assert main(["train", "--resume", str(finished_run)]) == 0
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "already finished" in out and "nothing to do" in out
    assert _digest(finished_run) == before, "a finished run is not touched (progress.csv, system.json, ...)"


@pytest.mark.parametrize(
    "extra",
    [["--set", "train.total_timesteps=4096"], ["--out", "elsewhere"], ["CONFIG"]],
)
def test_options_that_would_change_a_resumed_run_are_refused(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str]
) -> None:
    before = _digest(finished_run)
    extra = [str(_config(tmp_path)) if e == "CONFIG" else e for e in extra]
    capsys.readouterr()
    assert main(["train", *extra, "--resume", str(finished_run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot be given with --resume" in err, err
    assert _digest(finished_run) == before


def test_default_checkpoints_are_removed_when_the_run_finishes(finished_run: Path) -> None:
    """``checkpoint_freq: auto`` keeps the newest checkpoint while training, none at the end."""
    assert yaml.safe_load((finished_run / "config.yaml").read_text())["train"]["checkpoint_freq"] == "auto"
    assert not list((finished_run / "checkpoints").glob("step_*"))


def _start(cfg: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wnrl.cli", "train", str(cfg), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_checkpoint(proc: subprocess.Popen, out: Path, step: int = 0) -> None:
    deadline = time.time() + 120
    while not any(int(p.stem.split("_")[1]) > step for p in (out / "checkpoints").glob("step_*.zip")):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no checkpoint in time"
        time.sleep(0.1)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "tb" / "progress.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_sigterm_then_resume_appends_the_log_and_counts_every_part(tmp_path: Path) -> None:
    cfg = _config(tmp_path, total_timesteps=12_000, eval_freq=2000)  # auto: a checkpoint every 1200 steps
    out = tmp_path / "run"
    proc = _start(cfg, out)
    _wait_for_checkpoint(proc, out, step=2000)
    os.killpg(proc.pid, signal.SIGTERM)  # what Slurm, Ray and `kill` send
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    system = json.loads((out / "system.json").read_text())
    assert system["status"] == "interrupted"
    assert len(system["parts"]) == 1 and system["parts"][0]["status"] == "interrupted"
    started = system["started"]
    rows_before = _rows(out)
    assert rows_before, "the first part logged rows"

    assert main(["train", "--resume", str(out), "--device", "cpu"]) == 0  # where it runs: allowed
    rows_after = _rows(out)
    assert len(rows_after) > len(rows_before), "resume appends"
    for old, new in zip(rows_before, rows_after, strict=False):
        assert {k: v for k, v in old.items() if v} == {k: v for k, v in new.items() if k in old and v}
    system = json.loads((out / "system.json").read_text())
    assert system["status"] == "finished" and system["started"] == started
    parts = system["parts"]
    assert [p["status"] for p in parts] == ["interrupted", "finished"]
    assert parts[1]["device"] == "cpu"
    assert parts[1]["from_step"] == parts[0]["to_step"] or parts[1]["from_step"] < parts[0]["to_step"]
    record = json.loads((out / "result.json").read_text())
    assert record["seconds"] == pytest.approx(sum(p["seconds"] for p in parts), abs=0.01)
    assert record["cpu_seconds"] == pytest.approx(sum(p["cpu_seconds"] for p in parts), abs=0.01)
    assert record["steps"] >= 12_000
    assert not list((out / "checkpoints").glob("step_*")), "auto checkpoints go when the run finishes"


def test_an_explicit_checkpoint_freq_keeps_every_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(_config(tmp_path, checkpoint_freq=256)), "--out", str(out)]) == 0
    steps = sorted(int(p.stem.split("_")[1]) for p in (out / "checkpoints").glob("step_*.zip"))
    assert steps == [256, 512, 768, 1024]


def test_resume_from_a_checkpoint_at_the_budget_only_evaluates(tmp_path: Path) -> None:
    """Killed after the last checkpoint, before the final files: resume writes them."""
    out = tmp_path / "run"
    assert main(["train", str(_config(tmp_path, checkpoint_freq=256)), "--out", str(out)]) == 0
    for name in ("result.json", "model.zip"):
        (out / name).unlink()
    assert main(["train", "--resume", str(out)]) == 0
    record = json.loads((out / "result.json").read_text())
    assert record["steps"] == 1024 and record["final"]["mean"] == record["curve"]["mean"][-1]

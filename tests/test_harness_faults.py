"""Sweeps and reports under faults and odd inputs (issue 29): a sweep named ``..``, a worker killed
by SIGKILL after a checkpoint, ``--add`` with other settings, a plan from one seed, output paths of
the wrong kind."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml
from refusal import read_only, refused, snapshot
from test_harness_execute import _continuing_sweep, _signal_sweep_when, worker_pids

from wnrl.cli import main
from wnrl.harness.run.task import killed
from wnrl.train.record import RESULT_FILE, RunRecord, latest_checkpoint, read_record, write_record

TINY = {
    "env": {"id": "CartPole-v1"},
    "agent": {"algo": "ppo", "net_arch": [8], "hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 1}},
    "train": {"total_timesteps": 128, "eval_freq": 0, "eval_episodes": 1, "device": "cpu"},
}


def _sweep_file(tmp: Path, stem: str = "s", **changes: Any) -> Path:
    """A one-run sweep file ``tmp/<stem>.yaml``; ``changes`` replace its top-level keys."""
    path = tmp / f"{stem}.yaml"
    path.write_text(yaml.safe_dump({"base": TINY, "grid": {"agent.norm": ["none"]}, "seeds": 1, **changes}))
    return path


def _one_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("wnrl: error: ") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("name", ["..", ".", "x" * 101])
def test_a_sweep_name_that_is_not_one_plain_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, name: str
) -> None:
    """``name: ..`` without --out wrote index.json, runs/ and .lock into the current directory
    (``sweeps/..``); ``.``, a name too long for a directory likewise get one line naming the key."""
    work = tmp_path / "work"
    work.mkdir()
    path = _sweep_file(tmp_path, "file", name=name)
    monkeypatch.chdir(work)
    assert main(["compare", str(path), "--no-report", "--workers", "1"]) == 2
    assert f"{path}: name: " in _one_error(capsys)
    assert sorted(p.name for p in work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        "file.yaml",
        "work",
    ]


# --------------------------------------------------------------------------------------------
# A worker killed from outside (SIGKILL, the OOM killer) after a checkpoint
# --------------------------------------------------------------------------------------------


def _checkpoint_at(out: Path, step: int) -> bool:
    dirs = list(out.glob("runs/*"))
    return len(dirs) == 1 and (latest_checkpoint(dirs[0] / "checkpoints") or (0,))[0] >= step


def _parts(run_dir: Path) -> list[dict[str, Any]]:
    return list(json.loads((run_dir / "system.json").read_text()).get("parts", []))


@pytest.mark.slow
def test_a_run_whose_worker_was_killed_continues_from_its_checkpoint(tmp_path: Path) -> None:
    """SIGKILL the worker (not the sweep) after a checkpoint: the sweep records the run as failed,
    killed. A plain rerun continues it from that checkpoint (before: skipped as failed); a failed
    run with a checkpoint whose failure is a training error this time is kept by a plain rerun and
    starts again from step 0 under --retry-failed (its checkpoint came from code that may have
    been fixed since)."""
    path, out = tmp_path / "cont.yaml", tmp_path / "out"
    sweep, _, _ = _continuing_sweep(tmp_path)
    train = {**sweep["base"]["train"], "total_timesteps": 3072, "eval_freq": 1024, "checkpoint_freq": 512}
    path.write_text(yaml.safe_dump({**sweep, "base": {**sweep["base"], "train": train}}))

    def recorded() -> bool:
        return any(out.glob(f"runs/*/{RESULT_FILE}"))

    err = _signal_sweep_when(
        path, out, lambda: _checkpoint_at(out, 1024), signal.SIGKILL, settled=recorded, target=worker_pids
    )
    (run_dir,) = list((out / "runs").iterdir())
    record = read_record(run_dir)
    assert record is not None and killed(record), err
    found = latest_checkpoint(run_dir / "checkpoints")
    assert found is not None and 1024 <= found[0] < 3072, err
    step = found[0]

    other = tmp_path / "other"  # the same run, failed by a training error instead
    shutil.copytree(out, other)
    other_run = other / "runs" / run_dir.name
    write_record(other_run, RunRecord(id=run_dir.name, status="failed", error="RuntimeError: boom"))

    assert main(["compare", str(path), "--out", str(out), "--workers", "1", "--no-report"]) == 0
    record = read_record(run_dir)
    assert record is not None and record.status == "finished" and record.steps == 3072
    assert [p["from_step"] for p in _parts(run_dir)] == [0, step], "continued from the checkpoint"

    assert main(["compare", str(path), "--out", str(other), "--workers", "1", "--no-report"]) == 1  # kept
    assert main(["compare", str(path), "--out", str(other), "--workers", "1", "--no-report", "--retry-failed"]) == 0
    record = read_record(other_run)
    assert record is not None and record.status == "finished" and record.steps == 3072
    assert [p["from_step"] for p in _parts(other_run)] == [0], "started again, not continued"


# --------------------------------------------------------------------------------------------
# compare --add with other settings
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sweep of one seed per setting (norm none and weight), with its report."""
    tmp = tmp_path_factory.mktemp("one_seed")
    path = _sweep_file(tmp, grid={"agent.norm": ["none", "weight"]})
    assert main(["compare", str(path), "--out", str(tmp / "out"), "--workers", "2"]) == 0
    return tmp / "out"


def _copy(sweep_dir: Path, tmp_path: Path) -> Path:
    shutil.copytree(sweep_dir, tmp_path / "out", symlinks=True)
    return tmp_path / "out"


def test_add_with_another_budget_is_refused_not_pooled(
    one_seed: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Seeds added with --add and another --set (another budget) were pooled with the runs there as
    seeds of one setting (n = 2), without a word: refused, naming the key and both values."""
    out = _copy(one_seed, tmp_path)
    more = _sweep_file(tmp_path, "more", name="s", seeds=[1], grid={"agent.norm": ["none", "weight"]})
    before = snapshot(tmp_path)
    capsys.readouterr()
    argv = ["compare", str(more), "--out", str(out), "--add", "--set", "train.total_timesteps=192", "--no-report"]
    assert main(argv) == 2
    err = _one_error(capsys)
    assert f"{more}: --add:" in err and "train.total_timesteps: 192 here, 128 there" in err
    assert "give the same --set as the runs there" in err and "choose another --out" in err
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------
# report --plan from one seed
# --------------------------------------------------------------------------------------------


def test_no_seed_plan_from_one_seed(one_seed: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """One seed per setting has no spread to resample: the plan printed widths of 0 at every count
    and recommended 3 seeds. Now one line says so and how many seeds a plan needs; the report's
    section says the same, and summary.json holds no plan."""
    out = _copy(one_seed, tmp_path)
    capsys.readouterr()
    assert main(["report", str(out), "--plan"]) == 0
    text = capsys.readouterr().out.strip()
    assert len(text.splitlines()) == 1 and "No seed plan yet" in text and "at least 2 seeds per setting" in text
    assert main(["report", str(out)]) == 0
    report = (out / "report.md").read_text()
    section = report.split("## How many seeds?")[1].split("##")[0]
    assert "No seed plan yet" in section and "|" not in section
    assert json.loads((out / "summary.json").read_text())["seed_plan"]["methods"] == []


# --------------------------------------------------------------------------------------------
# Output paths of report and compare
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [("figures", "file"), ("report.md", "dir"), ("results.csv", "dir"), ("summary.json", "dir")],
)
def test_report_outputs_of_the_wrong_kind_are_refused(
    one_seed: Path, tmp_path: Path, capsys: pytest.CaptureFixture, name: str, kind: str
) -> None:
    """``figures`` a file, ``report.md`` a directory, ...: a traceback after results.csv was
    rewritten. Now one line naming it, for report and for compare, before anything is written."""
    out = _copy(one_seed, tmp_path)
    path = out / name
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    if kind == "file":
        path.write_text("mine")
    else:
        (path / "keep").mkdir(parents=True)
    needles = [f"{name}: is a {'file' if kind == 'file' else 'directory'}", "move it out of"]
    refused(capsys, tmp_path, ["report", str(out)], [f"{out}: ", *needles])
    sweep = _sweep_file(tmp_path, grid={"agent.norm": ["none", "weight"]})
    refused(capsys, tmp_path, ["compare", str(sweep), "--out", str(out)], [f"--out {out}: ", *needles])


def test_symbolic_link_loops_and_overlong_names_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A symlink loop as --out or as the report directory, and a 300-character --out, gave a
    traceback (RuntimeError, OSError): one line each now, nothing written."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    sweep = str(_sweep_file(tmp_path))
    loop = str(tmp_path / "a")
    refused(capsys, tmp_path, ["compare", sweep, "--out", loop], [f"--out {loop}: a symbolic link loop"])
    refused(capsys, tmp_path, ["report", loop], [f"{loop}: a symbolic link loop"])
    refused(capsys, tmp_path, ["report", loop, "--plan"], [f"{loop}: a symbolic link loop"])
    long = str(tmp_path / ("d" * 300))
    refused(capsys, tmp_path, ["compare", sweep, "--out", long], ["is 300 bytes, more than the 255"])
    refused(capsys, tmp_path, ["report", long], ["is 300 bytes, more than the 255"])


def test_report_in_a_read_only_directory_is_refused(
    one_seed: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``wnrl report`` of a sweep on a read-only file system gave a traceback (OSError): one line
    naming the directory and the fix (report a writable copy)."""
    with read_only(tmp_path, one_seed) as out:
        refused(capsys, out, ["report", str(out)], [f"{out}: is ", "report cannot be written there"])


# --------------------------------------------------------------------------------------------
# wnrl list without the studies' stage files
# --------------------------------------------------------------------------------------------


def test_list_shows_no_stage_sweeps_and_each_study_keeps_its_own(capsys: pytest.CaptureFixture) -> None:
    """`wnrl list` offered 14 stage files of the committed studies (lr_study_stage1..8, ...) as
    sweeps to run; they live beside their study now (docs/results/<study>/stages/), where each one
    still names its study's sweep and directory."""
    assert main(["list"]) == 0
    assert "stage" not in capsys.readouterr().out
    root = Path(__file__).resolve().parents[1]
    stages = sorted((root / "docs" / "results").glob("**/stages/*.yaml"))
    assert len(stages) == 14
    for f in stages:
        study = f.parent.parent.relative_to(root).as_posix()
        assert f"--out {study}" in f.read_text(), f  # the command in its header writes to its study

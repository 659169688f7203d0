"""`wnrl compare` never overwrites what a directory holds by mistake (tiny real runs): another
sweep there is refused unless added with ``add=True`` (``--add``), a file or a `wnrl train` run
directory is refused, an old sweep directory (run ids without the environment) resumes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from wnrl.cli import main
from wnrl.harness.api import compare
from wnrl.train.record import RESULT_FILE

# as in test_harness_execute: runs of a second or two
TINY_BASE = {
    "env": {"id": "CartPole-v1", "n_envs": 2},
    "train": {"total_timesteps": 512, "eval_freq": 256, "eval_episodes": 2, "device": "cpu", "diagnostics_freq": 256},
}
PPO = {"algo": "ppo", "net_arch": [16, 16], "hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 2}}
ALPHA = {"name": "alpha", "base": {**TINY_BASE, "agent": PPO}, "grid": {"agent.norm": ["none", "weight"]}, "seeds": 1}
# another environment, one run
BETA = {
    "name": "beta",
    "base": {**TINY_BASE, "env": {"id": "MountainCarContinuous-v0", "n_envs": 2}, "agent": PPO},
    "grid": {"agent.norm": ["weight"]},
    "seeds": 1,
}


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (size, mtime): what a refused command must leave as it is."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def alpha(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sweep ``alpha`` (2 runs on CartPole) run once, with its report."""
    tmp = tmp_path_factory.mktemp("alpha")
    path = write(tmp / "alpha.yaml", ALPHA)
    out = tmp / "out"
    assert main(["compare", str(path), "--out", str(out), "--workers", "2"]) == 0
    return path, out


@pytest.fixture
def copy(alpha: tuple[Path, Path], tmp_path: Path) -> Path:
    """A copy of alpha's directory (same files, same mtimes) for a test to change."""
    return Path(shutil.copytree(alpha[1], tmp_path / "sweep"))


def one_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("wnrl: error: ") and "Traceback" not in err, err
    return err


def test_a_different_sweep_is_refused_and_nothing_changes(
    alpha: tuple[Path, Path], copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = snapshot(copy)
    beta = write(tmp_path / "beta.yaml", BETA)
    assert main(["compare", str(beta), "--out", str(copy)]) == 2
    err = one_line(capsys)
    assert f"--out {copy}: holds sweep 'alpha' ({alpha[0]}), not 'beta' ({beta})" in err
    assert "choose another --out, or pass --add" in err
    assert snapshot(copy) == before


def test_another_version_of_the_sweep_is_refused(copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    before = snapshot(copy)
    more_seeds = write(tmp_path / "alpha.yaml", {**ALPHA, "seeds": 2})
    assert main(["compare", str(more_seeds), "--out", str(copy)]) == 2
    err = one_line(capsys)
    assert "holds another version of the sweep 'alpha' (2 runs there, 4 in" in err and "2 in both" in err
    assert "pass --add" in err
    assert snapshot(copy) == before


def test_add_keeps_the_runs_there_and_the_report_covers_all(
    alpha: tuple[Path, Path], copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    old = {k: v for k, v in snapshot(copy).items() if k.startswith("runs/")}
    old_ids = [r["id"] for r in json.loads((copy / "index.json").read_text())["runs"]]
    beta = write(tmp_path / "beta.yaml", BETA)
    outcome = compare(beta, out=copy, workers=1, progress=False, add=True)
    assert outcome.ok and outcome.total == 1 and len(outcome.ran) == 1
    assert {k: v for k, v in snapshot(copy).items() if k in old} == old  # nothing there was touched
    index = json.loads((copy / "index.json").read_text())
    assert [r["id"] for r in index["runs"]][:2] == old_ids and len(index["runs"]) == 3
    # the environments differ: env.id becomes a grid key, filled from each run's config
    assert index["grid_keys"] == ["agent.norm", "env.id"]
    assert index["grid"] == {"agent.norm": ["none", "weight"], "env.id": ["CartPole-v1", "MountainCarContinuous-v0"]}
    assert [p["name"] for p in index["sweeps"]] == ["alpha", "beta"] and index["command"].endswith(" --add")
    text = (copy / "report.md").read_text()
    assert "- runs: 3: 3 finished" in text and "`alpha`" in text and "`beta`" in text
    assert "| MountainCarContinuous-v0 |" in text or "MountainCarContinuous-v0 |" in text
    assert len((copy / "results.csv").read_text().splitlines()) == 4
    # each sweep now resumes there without --add; the index keeps all three runs
    capsys.readouterr()
    for path in (alpha[0], beta):
        assert main(["compare", str(path), "--out", str(copy), "--no-report"]) == 0
        assert "nothing to run" in capsys.readouterr().err
        assert len(json.loads((copy / "index.json").read_text())["runs"]) == 3


def test_more_seeds_with_add_keep_the_runs_done(copy: Path, tmp_path: Path) -> None:
    old = {k: v for k, v in snapshot(copy).items() if k.startswith("runs/")}
    more_seeds = write(tmp_path / "alpha.yaml", {**ALPHA, "seeds": 2})
    outcome = compare(more_seeds, out=copy, workers=2, progress=False, add=True, write_report=False)
    assert outcome.ok and len(outcome.ran) == 2  # only the new seed
    assert {k: v for k, v in snapshot(copy).items() if k in old} == old
    index = json.loads((copy / "index.json").read_text())
    # the sweep holds every run there: the index is the sweep's own
    assert len(index["runs"]) == 4 and index["seeds"] == [0, 1] and "sweeps" not in index


def test_add_refuses_runs_that_would_count_as_one_setting(copy: Path, tmp_path: Path) -> None:
    from wnrl.config import ConfigError

    longer = {**ALPHA, "base": {**ALPHA["base"], "train": {**TINY_BASE["train"], "total_timesteps": 1024}}}
    before = snapshot(copy)
    with pytest.raises(ConfigError) as e:
        compare(write(tmp_path / "alpha.yaml", longer), out=copy, add=True, progress=False)
    message = str(e.value)
    assert re.search(r"--add: the run cartpole-none-s0-\w+ has the grid values and seed of the run cartpole-", message)
    assert "(they differ in train.total_timesteps); the report would count them as one setting" in message
    assert snapshot(copy) == before


def _old_id(run: dict[str, Any]) -> str:
    """The id that wnrl gave a run before ids named the environment: ``<grid values>-s<seed>-<hash>``."""
    return f"{run['grid']['agent.norm']}-s{run['seed']}-{run['id'].rsplit('-', 1)[1]}"


def test_an_old_sweep_directory_resumes_with_its_old_ids(
    alpha: tuple[Path, Path], copy: Path, capsys: pytest.CaptureFixture
) -> None:
    index = json.loads((copy / "index.json").read_text())
    for run in index["runs"]:
        old = _old_id(run)
        (copy / "runs" / run["id"]).rename(copy / "runs" / old)
        run["id"] = old
    (copy / "index.json").write_text(json.dumps(index))
    before = snapshot(copy / "runs")
    assert main(["compare", str(alpha[0]), "--out", str(copy), "--no-report"]) == 0
    assert "2 finished earlier; nothing to run" in capsys.readouterr().err
    assert snapshot(copy / "runs") == before
    assert [r["id"] for r in json.loads((copy / "index.json").read_text())["runs"]] == [r["id"] for r in index["runs"]]


def test_out_is_a_file_a_run_directory_or_a_damaged_sweep(
    alpha: tuple[Path, Path], copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = alpha[0]
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    run_dir = next((copy / "runs").iterdir())  # what `wnrl train` writes: config.yaml, system.json, ...
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "report.md").write_text("my report")
    for out, expected in [
        (a_file, "is a file, not a directory"),
        (run_dir, "is a `wnrl train` run directory"),
        (run_dir / "sub", f"is inside {run_dir.resolve()}, which is a `wnrl train` run directory"),
        (outputs, "holds report.md but no index.json"),
    ]:
        before = snapshot(tmp_path)
        assert main(["compare", str(path), "--out", str(out)]) == 2
        err = one_line(capsys)
        assert f"--out {out}: {expected}" in err and "choose another --out" in err, err
        assert snapshot(tmp_path) == before and not (run_dir / "sub").exists()
    (copy / "index.json").write_text('{"name": "alpha", "runs": [')  # truncated
    before = snapshot(copy)
    assert main(["compare", str(path), "--out", str(copy)]) == 2
    assert f"{copy / 'index.json'}: not valid JSON" in one_line(capsys)
    assert snapshot(copy) == before


def test_a_truncated_result_is_reported_corrupt_then_rerun(
    alpha: tuple[Path, Path], copy: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir = sorted((copy / "runs").iterdir())[0]
    (run_dir / RESULT_FILE).write_text('{"status": "finished", "final": {"mea')
    assert main(["report", str(copy), "--reps", "20"]) == 0
    text = (copy / "report.md").read_text()
    assert "1 corrupt (will be rerun)" in text and run_dir.name in text.split("## Corrupt results (1)")[1]
    assert main(["compare", str(alpha[0]), "--out", str(copy), "--no-report", "--workers", "1"]) == 0
    assert "1 with a corrupt result.json (rerun)" in capsys.readouterr().err
    assert json.loads((run_dir / RESULT_FILE).read_text())["status"] == "finished"

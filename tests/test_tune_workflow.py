"""The README's tune → confirm workflow for real, on the shipped ``cartpole_small`` tune file cut down
to seconds, and what goes around it: the tune directory's record, the confirmation directory
(refused when it holds something else, locked before anything in it is planned or deleted),
names and paths that must stay inside the output directory, the progress counter after a resume,
and the line a stopped ``wnrl tune`` prints."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from refusal import refused_here, snapshot
from test_tune_helpers import ROOT, TINY_TUNE, tune_file

from wnrl.cli import main

SHIPPED = ROOT / "configs" / "tune"
PER_FILES = sorted(p for p in SHIPPED.glob("*.yaml") if "per" in yaml.safe_load(p.read_text()))
LR, GAMMA = "agent.hyperparams.learning_rate", "agent.hyperparams.gamma"


@pytest.mark.parametrize("path", PER_FILES, ids=[p.stem for p in PER_FILES])
def test_a_shipped_tune_files_record_rebuilds_it_with_the_same_digest(path: Path) -> None:
    """Validation expands every trial at the middle of the space; it must not write those values
    into the spec that tune.json records (`compare --tuned` then failed its digest check)."""
    from wnrl.harness.tune.spec import load_tune, parse_tune

    tune = load_tune(path)
    record = json.loads(json.dumps(tune.describe()))
    assert record["spec"]["per"] == yaml.safe_load(path.read_text())["per"]  # as written, nothing added
    again = parse_tune({**record["spec"], "base": record["base"]}, record["source"])
    assert again.digest == tune.digest == record["digest"]


# --------------------------------------------------------------------------------------------
# The README's two commands, in order, on cartpole_small cut down to seconds
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where the README's `wnrl tune cartpole_small` and `wnrl compare --tuned
    tunes/cartpole_small` ran (the shipped file cut down to one variant, one trial per study and
    tiny budgets: both groups and every `per:` setting kept; one worker: a second one's start-up
    costs more than it saves here; tests/test_readme_commands.py runs the README's commands, with
    --workers 2, in order)."""
    work = tmp_path_factory.mktemp("readme")
    data = yaml.safe_load((SHIPPED / "cartpole_small.yaml").read_text())
    data["base"]["train"].update(total_timesteps=64, eval_freq=0, eval_episodes=1)
    data["variants"] = {"agent.norm": ["none"]}
    data.update(budget=1, seeds=1, confirm_seeds=1)
    (work / "cartpole_small.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        assert main(["tune", "cartpole_small.yaml", "--workers", "1", "--quiet", "--no-report"]) == 0
        assert main(["compare", "--tuned", "tunes/cartpole_small", "--workers", "1"]) == 0
    return work


pytestmark = pytest.mark.usefixtures("in_tmp_path")  # see tests/conftest.py


def test_readme_tune_then_confirm_on_the_shipped_cartpole_small(readme: Path) -> None:
    shipped = yaml.safe_load((SHIPPED / "cartpole_small.yaml").read_text())
    record = json.loads((readme / "tunes" / "cartpole_small" / "tune.json").read_text())
    assert record["spec"]["per"] == shipped["per"]  # no midpoint values written into `per:`
    tuned = yaml.safe_load((readme / "tunes" / "cartpole_small" / "tuned.yaml").read_text())
    best = {(e["variant"]["agent.norm"], e["group"]["agent.algo"]): e["params"] for e in tuned["best"]}
    assert len(best) == 2
    out = readme / "sweeps" / "cartpole_small-confirm"
    assert "Verdicts that change with tuning" in (out / "confirmation.md").read_text()
    for half in ("default", "tuned"):
        for run_dir in sorted((out / half / "runs").iterdir()):
            cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
            algo, hp = cfg["agent"]["algo"], cfg["agent"]["hyperparams"]
            assert cfg["train"]["seed"] == 1 and (run_dir / "result.json").is_file()
            assert hp["batch_size"] == shipped["per"]["agent.algo"][algo]["agent.hyperparams"]["batch_size"]
            if half == "default":  # the shared settings: the tuned values of no study
                assert "learning_rate" not in hp and "gamma" not in hp
            else:
                values = best[(cfg["agent"]["norm"], algo)]
                assert hp["learning_rate"] == pytest.approx(values[LR]) and hp["gamma"] == values[GAMMA]


def test_compare_tuned_refuses_an_out_that_is_not_a_confirmation(readme: Path, capsys: pytest.CaptureFixture) -> None:
    mine = readme / "mine"
    mine.mkdir()
    (mine / "confirmation.md").write_text("my notes\n")
    (mine / "default.sweep.yaml").write_text("my sweep\n")
    before = snapshot(mine)
    tunes = str(readme / "tunes" / "cartpole_small")
    refused_here(capsys, ["compare", "--tuned", tunes, "--out", str(mine)], str(mine), "not a confirmation directory")
    assert snapshot(mine) == before


def test_a_second_confirmation_is_refused_before_it_plans_or_deletes(
    readme: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The first confirmation holds its directory's locks while a run of it is in flight (no
    result.json yet); a second one on the same --out is refused and that run's directory stays."""
    from wnrl.harness.sweeps.lock import sweep_lock

    out = tmp_path / "confirm"
    shutil.copytree(readme / "sweeps" / "cartpole_small-confirm", out)
    in_flight = sorted((out / "default" / "runs").iterdir())[0]
    (in_flight / "result.json").unlink()
    before = snapshot(out)
    tunes = str(readme / "tunes" / "cartpole_small")
    with sweep_lock(out), sweep_lock(out / "default"):
        refused_here(capsys, ["compare", "--tuned", tunes, "--out", str(out)], "another `wnrl compare` is running")
    assert in_flight.is_dir() and snapshot(out) == before


def test_a_confirmation_refused_by_its_second_part_leaves_the_directory_as_it_was(
    readme: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Another `wnrl compare` in the tuned half: the confirmation wrote confirm.json (and took the
    root's lock) before that part's own checks refused it. Now every part is checked first."""
    from wnrl.harness.sweeps.lock import sweep_lock

    out = tmp_path / "confirm"
    shutil.copytree(readme / "sweeps" / "cartpole_small-confirm", out)
    (out / "confirm.json").unlink()  # as in a study confirmed before confirm.json existed
    before = snapshot(out)
    tunes = str(readme / "tunes" / "cartpole_small")
    with sweep_lock(out / "tuned"):
        refused_here(capsys, ["compare", "--tuned", tunes, "--out", str(out)], "another `wnrl compare` is running")
    assert snapshot(out) == before


def test_a_confirmation_runs_its_sweeps_without_reading_a_sweep_file(
    readme: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of the tuned half removed: the confirmation runs it again from the sweep it built in
    memory (no sweep file is read: it was written as YAML and read back by `compare`), and the
    half's index.json still names that sweep's file (rewritten) and the command that reruns it."""
    from wnrl.harness.sweeps import spec

    out = Path("sweeps") / "cartpole_small-confirm"  # where the README's confirmation wrote it
    shutil.copytree(readme / out, out)
    gone = sorted((out / "tuned" / "runs").iterdir())[0]
    shutil.rmtree(gone)
    before = json.loads((out / "tuned" / "index.json").read_text())
    records = {p.name: p.read_text() for p in out.glob("*.sweep.yaml")}
    for path in out.glob("*.sweep.yaml"):
        path.write_text("not: the sweep\n")

    def no_file(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a sweep file was read: {args}")

    monkeypatch.setattr(spec, "read_yaml", no_file)
    tunes = str(readme / "tunes" / "cartpole_small")
    assert main(["compare", "--tuned", tunes, "--out", str(out), "--workers", "1"]) == 0
    assert (gone / "result.json").is_file()
    after = json.loads((out / "tuned" / "index.json").read_text())
    assert [after[k] for k in ("source", "command", "runs")] == [before[k] for k in ("source", "command", "runs")]
    assert after["sessions"][:-1] == before["sessions"] and after["sessions"][-1]["ran"] == 1
    rewritten = [n for n in sorted(records) if (out / n).read_text() == records[n]]
    assert len(rewritten) == 1 and rewritten[0].startswith("tuned-")  # the record of the part that ran again


def test_rerunning_a_finished_confirmation_adds_no_record(readme: Path, tmp_path: Path) -> None:
    """Rerunning the documented confirmation into a study directory (its halves there, no
    confirm.json) left an untracked confirm.json there; only a new confirmation writes one."""
    out = tmp_path / "confirm"
    shutil.copytree(readme / "sweeps" / "cartpole_small-confirm", out)
    (out / "confirm.json").unlink()
    tunes = str(readme / "tunes" / "cartpole_small")
    assert main(["compare", "--tuned", tunes, "--out", str(out), "--workers", "1"]) == 0
    assert not (out / "confirm.json").exists()


# --------------------------------------------------------------------------------------------
# Names and paths stay inside the output directory
# --------------------------------------------------------------------------------------------


def test_a_tune_named_dot_dot_is_refused_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tune_file(tmp_path, name="up.yaml", budget=1, seeds=1, variants={"agent.norm": ["none"]})
    Path("report.md").write_text("my report\n")
    for name in ("..", ".", "a/b", "x" * 101):
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "name": name}))
        before = snapshot(tmp_path)
        refused_here(capsys, ["tune", str(path)], str(path), "name: ")
        assert snapshot(tmp_path) == before and not Path("tunes").exists()
    assert Path("report.md").read_text() == "my report\n"


def test_the_sqlite_file_stays_inside_a_tune_directory_with_odd_characters(tmp_path: Path) -> None:
    import optuna

    from wnrl.harness.tune.storage import DB_FILE, open_storage, storage_url

    for name in ("tq?x", "t%41q", "t#q"):
        tune_dir = tmp_path / name
        tune_dir.mkdir()
        optuna.create_study(storage=open_storage(storage_url(None, tune_dir), "t.yaml"), study_name="s")
        assert (tune_dir / DB_FILE).is_file(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t#q", "t%41q", "tq?x"]


# --------------------------------------------------------------------------------------------
# Progress after a resume, and the line of a stopped tune
# --------------------------------------------------------------------------------------------


def test_the_counter_counts_finished_trials_only(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two trials done and one queued again after an interruption: the next finished trial is the
    third, whatever the queue holds (before, a queued retry counted: `[13/36]` after 11 done)."""
    import optuna

    from wnrl.harness.tune.runner import Live, Tuner
    from wnrl.harness.tune.spec import parse_tune
    from wnrl.harness.tune.storage import open_studies

    tune = parse_tune({**TINY_TUNE, "budget": 4}, "tiny.yaml")
    studies = open_studies(tune, optuna.storages.InMemoryStorage())
    first, second = (studies[c.study_name] for c in tune.cells)
    for value in (1.0, 2.0):
        first.tell(first.ask(), value)
    first.enqueue_trial({LR: 1e-3, GAMMA: 0.99}, user_attrs={"wnrl_slot": 2})  # a retry, not yet run
    tuner = Tuner(tune, tmp_path, studies, pool=None, workers=1)
    trial = second.ask()
    second.tell(trial, 3.0)
    capsys.readouterr()
    info = {"number": trial.number, "state": "complete", "value": 3.0, "ci": [3.0, 3.0]}
    tuner._say(Live(tune.cells[1], trial, {LR: 1e-3}, tmp_path, []), info)
    assert capsys.readouterr().err.startswith("[3/8] ")


def _trial_lines(err: str) -> list[int]:
    return [int(line[1:].split("/")[0]) for line in err.splitlines() if line.startswith("[") and " trial " in line]


@pytest.mark.slow
def test_a_stopped_tune_says_to_rerun_it_and_the_rerun_counts_on(tmp_path: Path) -> None:
    path = tune_file(tmp_path, budget=3, seeds=1)  # two studies, 6 trials
    cmd = [sys.executable, "-m", "wnrl.cli", "tune", str(path), "--out", str(tmp_path / "t"), "--no-report"]
    proc = subprocess.Popen([*cmd, "--workers", "2"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(list(tmp_path.glob("t/studies/*/trial-*/trial.json"))) < 2 and time.time() < deadline:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("wnrl: interrupted; finished trials are kept; rerun the same `wnrl tune`")
    )
    assert "--resume" not in err and "compare" not in err.splitlines()[-1]
    done = len(list(tmp_path.glob("t/studies/*/trial-*/trial.json")))
    again = subprocess.run([*cmd, "--workers", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert _trial_lines(again.stderr) == list(range(done + 1, 7)), again.stderr  # each number once, in order


def test_a_stopped_command_says_how_to_go_on(tmp_path: Path) -> None:
    """train: --resume RUN_DIR, the run directory cmd_train chose, only when it holds the run
    (system.json; before, it printed the literal RUN_DIR without --out, and "kept" for a directory
    removed); compare: the same command again; tune: the same command again (it has no --resume;
    before, every subcommand said `resume with --resume / rerun compare`)."""
    from wnrl.cli import _interrupted, build_parser

    parse = build_parser().parse_args
    run = tmp_path / "runs" / "cartpole-ppo-weight-s0"
    for argv in (["train", "cfg.yaml"], ["train", "cfg.yaml", "--out", str(run)], ["train", "--resume", str(run)]):
        args = parse(argv)
        assert "run the same command again" in _interrupted(args) and "RUN_DIR" not in _interrupted(args)
        args.run_dir = run  # as cmd_train sets it, before the run writes anything
        assert "nothing of it was written" in _interrupted(args) and "--resume" not in _interrupted(args)
        run.mkdir(parents=True, exist_ok=True)
        (run / "system.json").write_text("{}")
        assert f"{run} is kept; continue it with `wnrl train --resume {run}`" in _interrupted(args)
        (run / "system.json").unlink()
    assert "rerun the same `wnrl compare` command" in _interrupted(parse(["compare", "demo"]))
    tune = _interrupted(parse(["tune", "t.yaml"]))
    assert "rerun the same `wnrl tune` command" in tune and "--resume" not in tune and "compare" not in tune

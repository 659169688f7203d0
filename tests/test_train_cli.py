"""`wnrl train` / `wnrl eval` end to end: run directories, determinism, resume, bad input.

Real SB3 training on CartPole, tiny budgets; the CLI runs in-process (``wnrl.cli.main``) or as a
real subprocess where a kill is needed.
"""

from __future__ import annotations

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
from wnrl.train.revision import source_revision

TINY = {
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
        "seed": 3,
        "eval_freq": 512,
        "eval_episodes": 3,
        "device": "cpu",
        "torch_threads": 1,
        "progress_bar": False,
    },
}


def _write(tmp_path: Path, data: dict, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_train_writes_a_complete_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = _write(tmp_path, TINY)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out), "--set", "agent.norm=weight_meanbn"]) == 0
    summary = capsys.readouterr().out
    assert "Finished tiny" in summary and f"tensorboard --logdir {out / 'tb'}" in summary
    for name in ("config.yaml", "system.json", "model.zip", "result.json", "curve.json"):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["agent"]["norm"] == "weight_meanbn", "the override is what was run"
    result = json.loads((out / "result.json").read_text())
    assert result["steps"] == 1024 and len(result["final"]["episodes"]) == 3
    assert result["curve"]["steps"] == [512, 1024]
    system = json.loads((out / "system.json").read_text())
    assert system["status"] == "finished"
    assert system["wnrl_revision"] == system["parts"][0]["wnrl_revision"] == source_revision(), "the code that ran"


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_final_score_is_the_last_curve_point(tmp_path: Path, algo: str) -> None:
    """The last step is a multiple of eval_freq: one evaluation there, one number everywhere
    (result.json's final, curve.json, the curve in result.json, the AUC)."""
    data = json.loads(json.dumps(TINY))
    data["agent"]["algo"] = algo
    if algo == "dqn":
        data["env"]["n_envs"] = 1
        data["agent"]["hyperparams"] = {"learning_starts": 200, "buffer_size": 10000}
    out = tmp_path / "run"
    assert main(["train", str(_write(tmp_path, data)), "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    curve = json.loads((out / "curve.json").read_text())
    assert curve == result["curve"] and curve["steps"][-1] == result["steps"] == 1024
    assert result["final"]["mean"] == curve["mean"][-1] and result["final"]["std"] == curve["std"][-1]
    steps, means = curve["steps"], curve["mean"]
    auc = sum((means[i] + means[i + 1]) / 2 * (steps[i + 1] - steps[i]) for i in range(len(steps) - 1))
    assert result["auc"] == pytest.approx(auc / (steps[-1] - steps[0]))


def test_same_config_and_seed_give_the_same_evaluation(tmp_path: Path) -> None:
    cfg = _write(tmp_path, TINY)
    for out in ("a", "b"):
        assert main(["train", str(cfg), "--out", str(tmp_path / out)]) == 0
    a, b = (json.loads((tmp_path / o / "result.json").read_text()) for o in ("a", "b"))
    assert a["final"]["episodes"] == b["final"]["episodes"]
    assert a["curve"] == b["curve"]
    assert main(["train", str(cfg), "--out", str(tmp_path / "c"), "--set", "train.seed=4"]) == 0
    c = json.loads((tmp_path / "c" / "result.json").read_text())
    assert c["curve"] != a["curve"], "a different seed must give a different run"


def test_eval_under_noise_and_clean(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = _write(tmp_path, TINY)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "2"]) == 0
    assert "over 2 episodes (clean)" in capsys.readouterr().out
    assert main(["eval", str(out), "--episodes", "2", "--noise", "obs_std=0.3"]) == 0
    assert "(obs_std=0.3)" in capsys.readouterr().out
    assert main(["eval", str(out), "--noise", "obs_std=-1"]) == 2
    assert "obs_std" in capsys.readouterr().err


def _run_cli(*args: str, cwd: Path | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wnrl.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kw,
    )


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_resume_after_kill_ends_where_an_uninterrupted_run_would(tmp_path: Path, algo: str) -> None:
    data = json.loads(json.dumps(TINY))
    data["agent"]["algo"] = algo
    if algo == "dqn":
        data["env"]["n_envs"] = 1
        data["agent"]["hyperparams"] = {"learning_starts": 200, "buffer_size": 10000, "train_freq": 4}
    data["train"].update(total_timesteps=6000, checkpoint_freq=1000, eval_freq=1000, eval_episodes=2)
    cfg = _write(tmp_path, data)
    out = tmp_path / "run"
    proc = _run_cli("train", str(cfg), "--out", str(out))
    deadline = time.time() + 120
    while not list((out / "checkpoints").glob("step_*.zip")):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no checkpoint in time"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "model.zip").exists(), "killed before the end"
    assert main(["train", "--resume", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    # An uninterrupted run ends after the rollout that crosses 6000 steps (PPO: 47 × 128).
    expected = 6000 if algo == "dqn" else 6016
    assert result["steps"] == expected
    steps = result["curve"]["steps"]
    assert steps == sorted(set(steps)) and steps[-1] == expected and 1000 in steps
    if algo == "dqn":  # the replay buffer came back with the checkpoint
        assert list((out / "checkpoints").glob("step_*_replay.pkl"))


def _fails_cleanly(capsys: pytest.CaptureFixture, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.mark.parametrize(
    ("mutation", "needles"),
    [
        ({"train": {"total_timesteps": -5}}, ["train.total_timesteps", "greater than 0"]),
        ({"train": {"total_timsteps": 5}}, ["train.total_timsteps", "did you mean 'total_timesteps'"]),
        ({"agent": {"norm": "weigth"}}, ["agent.norm", "'weight'"]),
        ({"agent": {"algo": "sax"}}, ["agent.algo", "'sac'"]),
        ({"agent": {"hyperparams": {"learning_rate": float("nan")}}}, ["learning_rate", "finite"]),
        ({"train": {"seed": "abc"}}, ["train.seed", "integer"]),
        ({"env": {"id": "CartPol-v1"}}, ["env.id", "CartPole-v1"]),
        (
            {"env": {"id": "Pendulum-v1"}, "agent": {"algo": "dqn", "hyperparams": {}}},
            ["DQN needs a Discrete action space", "ppo"],
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture, mutation: dict, needles: list[str]
) -> None:
    data = json.loads(json.dumps(TINY))
    for section, values in mutation.items():
        data[section].update(values)
    cfg = _write(tmp_path, data)
    out = tmp_path / "run"
    _fails_cleanly(capsys, ["train", str(cfg), "--out", str(out)], str(cfg), *needles)
    assert not out.exists(), "a failed start leaves no run directory"


def test_bad_files_and_existing_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _fails_cleanly(capsys, ["train", str(tmp_path / "missing.yaml")], "missing.yaml", "no such config file")
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: {id: CartPole-v1\nagent: [")
    _fails_cleanly(capsys, ["train", str(bad)], "bad.yaml", "invalid YAML", "line")
    _fails_cleanly(capsys, ["train", str(_write(tmp_path, TINY)), "--set", "agent.norm"], "KEY=VALUE")
    # An existing run directory is never overwritten.
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    _fails_cleanly(capsys, ["train", str(_write(tmp_path, TINY)), "--out", str(out)], "already exists")
    assert (out / "precious.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1
    _fails_cleanly(capsys, ["train", "--resume", str(tmp_path)], "not a wnrl run directory")


def test_missing_extra_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ale_py", None)  # a real ImportError for ale_py
    data = json.loads(json.dumps(TINY))
    data["env"]["id"] = "ALE/Pong-v5"
    _fails_cleanly(capsys, ["train", str(_write(tmp_path, data))], "atari", 'pip install "wnrl[atari]"')


def test_yaml_is_never_evaluated(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A python tag in YAML is rejected by the safe loader, not executed."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    _fails_cleanly(capsys, ["train", str(evil)], "evil.yaml", "invalid YAML")
    assert not marker.exists()


def test_scientific_notation_is_a_number_in_files_and_overrides(tmp_path: Path) -> None:
    """YAML 1.1 reads `1e-3` as a string; wnrl's loader reads it as the float users mean."""
    from wnrl.config import load_config

    cfg = tmp_path / "sci.yaml"
    cfg.write_text(
        "env: {id: CartPole-v1}\nagent:\n  algo: ppo\n  hyperparams: {learning_rate: 3e-4}\n"
        "train: {total_timesteps: 1e4}\n".replace("1e4", "10000")
    )
    config = load_config(cfg, ["agent.hyperparams.ent_coef=1e-2"])
    assert config.agent.hyperparams == {"learning_rate": 3e-4, "ent_coef": 0.01}

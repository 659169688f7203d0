"""What a user expects from a command line: ``--version``, ``list``, shipped configs by name from
any folder, run directories named after the environment, progress lines in logs, and budget
warnings that are printed and kept in the run's record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import wnrl
from wnrl.cli import main

TINY = [
    "--set",
    "train.total_timesteps=256",
    "--set",
    "train.eval_freq=0",
    "--set",
    "train.eval_episodes=1",
    "--set",
    "env.n_envs=2",
    "--set",
    "agent.hyperparams.n_steps=32",
    "--set",
    "agent.hyperparams.batch_size=64",
    "--set",
    "agent.net_arch=[8]",
    "--set",
    "train.device=cpu",
]


def _wnrl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wnrl.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_version(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"wnrl {wnrl.__version__}"


def test_list_names_every_kind_of_name_without_importing_torch() -> None:
    code = (
        "import sys; from wnrl.cli import main; main(['list']); "
        "print('HEAVY', sorted(m for m in ('torch', 'stable_baselines3', 'gymnasium') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for needle in ("cartpole_ppo", "minatar_breakout_dqn", "demo", "noisy_classic", "weight_meanbn", "ppo", "tanh"):
        assert needle in out, needle
    assert "Optional extras" in out and "[x] minatar" in out  # installed by the dev extra
    assert "HEAVY []" in out


def test_a_shipped_config_by_name_from_any_folder_named_after_its_env(tmp_path: Path) -> None:
    """From a folder with no configs/ (an installed wnrl), ``cartpole_ppo`` is the shipped file;
    the run directory is named after the environment actually run, not the config's name."""
    done = _wnrl("train", "cartpole_ppo", *TINY, "--set", "env.id=Acrobot-v1", "--set", "train.seed=4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs" / "acrobot-ppo-weight-s4" / "result.json").is_file()
    assert "runs/acrobot-ppo-weight-s4" in done.stdout
    # Not a terminal: plain progress lines (10% ... 100%) instead of a bar.
    lines = [line for line in done.stderr.splitlines() if line.startswith("wnrl: cartpole ")]
    assert lines and "100%" in lines[-1] and "steps/s" in lines[0], done.stderr
    assert "\r" not in done.stderr, "no progress bar in a log"


def test_budget_warnings_are_printed_and_recorded(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    argv = ["train", "cartpole_ppo", *TINY, "--set", "train.total_timesteps=48", "--set", "train.eval_freq=1000"]
    assert main([*argv, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    record = json.loads((out / "result.json").read_text())
    assert len(record["warnings"]) == 2
    assert "less than one rollout" in record["warnings"][0] and "trains 64 steps" in record["warnings"][0]
    assert "train.eval_freq=1000" in record["warnings"][1]
    for warning in record["warnings"]:
        assert f"wnrl: warning: {warning}" in err
    assert record["steps"] == 64


def test_learning_starts_past_the_budget_is_warned(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    argv = ["train", "cartpole_dqn", "--set", "train.total_timesteps=200", "--set", "train.eval_freq=0"]
    argv += ["--set", "agent.hyperparams.learning_starts=500", "--set", "train.eval_episodes=1"]
    assert main([*argv, "--set", "train.device=cpu", "--out", str(out)]) == 0
    record = json.loads((out / "result.json").read_text())
    assert any("no gradient step will ever happen" in w for w in record["warnings"]), record["warnings"]
    assert "learning_starts=500" in capsys.readouterr().err


def test_a_shipped_sweep_by_name() -> None:
    from wnrl.harness.sweeps.spec import load_sweep

    sweep = load_sweep("demo")
    assert sweep.runs and sweep.name == "demo"


def test_mechanism_diagnostics_are_summarised_in_the_record(tmp_path: Path) -> None:
    """The run's record carries the mechanism diagnostics (docs/diagnostics.md), Q-value bias
    included for an off-policy value learner."""
    out = tmp_path / "run"
    argv = ["train", "cartpole_dqn", "--set", "train.total_timesteps=1200", "--set", "train.eval_freq=0"]
    argv += ["--set", "agent.hyperparams.learning_starts=200", "--set", "train.diagnostics_freq=500"]
    assert main([*argv, "--set", "train.eval_episodes=1", "--set", "train.device=cpu", "--out", str(out)]) == 0
    diagnostics = json.loads((out / "result.json").read_text())["diagnostics"]
    assert "q_bias" in diagnostics and "q_bias:mean" in diagnostics, sorted(diagnostics)
    assert any(k.endswith("srank") for k in diagnostics) and any("dormant" in k for k in diagnostics)

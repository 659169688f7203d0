"""docs/extending.md, exercised: one agent module plus one registry entry make a new
algorithm that ``wnrl train`` and ``wnrl eval`` run end to end."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from wnrl.cli import main
from wnrl.registry import ALGORITHMS, AlgoSpec

ALGOS = '''
from stable_baselines3 import PPO


class MyPPO(PPO):
    """PPO that logs the rollout buffer's mean advantage."""

    def train(self) -> None:
        self.logger.record("train/mean_advantage", float(self.rollout_buffer.advantages.mean()))
        super().train()
'''

AGENT = """
from typing import Any

from wnrl.agents.common import build_model
from wnrl.registry import ALGORITHMS


def make(env: Any, **config: Any):
    return build_model(ALGORITHMS["myppo"], env, **config)
"""


@pytest.fixture
def myppo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "src" / "mypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "algos.py").write_text(textwrap.dedent(ALGOS))
    (pkg / "myppo_agent.py").write_text(textwrap.dedent(AGENT))  # stands for agents/myppo.py
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setitem(
        ALGORITHMS,
        "myppo",
        AlgoSpec(
            "myppo",
            "mypkg.algos:MyPPO",
            "wnrl.policies:NormActorCriticPolicy",
            "mypkg.myppo_agent",
            defaults={"n_steps": 64},
            summary="PPO with an advantage log line",
        ),
    )
    yield
    for name in [m for m in sys.modules if m.startswith("mypkg")]:
        del sys.modules[name]


def test_a_registered_algorithm_trains_and_evaluates(
    myppo: None, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "env": {"id": "CartPole-v1", "n_envs": 2},
                "agent": {
                    "algo": "myppo",
                    "norm": "weight",
                    "net_arch": [16],
                    "hyperparams": {"batch_size": 64, "n_epochs": 1},
                },
                "train": {"total_timesteps": 256, "eval_freq": 128, "eval_episodes": 2, "device": "cpu"},
            }
        )
    )
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["algo"] == "myppo" and result["steps"] == 256  # 2 rollouts of 2 × 64 (the default)
    progress = (out / "tb" / "progress.csv").read_text()
    assert "train/mean_advantage" in progress.splitlines()[0]  # MyPPO really ran
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "2"]) == 0
    assert "over 2 episodes" in capsys.readouterr().out


def test_a_registered_algorithm_checks_its_own_hyperparams(
    myppo: None, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "env: {id: CartPole-v1}\nagent: {algo: myppo, hyperparams: {n_step: 3}}\ntrain: {total_timesteps: 64}\n"
    )
    assert main(["train", str(cfg), "--out", str(tmp_path / "run")]) == 2
    assert "unknown key 'agent.hyperparams.n_step'; did you mean 'n_steps'?" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()

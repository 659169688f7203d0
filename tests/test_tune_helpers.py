"""Shared pieces of the tune tests (no tests here): a tiny CartPole tune file, runs of a few hundred steps."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

TINY_BASE: dict[str, Any] = {
    "env": {"id": "CartPole-v1", "n_envs": 2},
    "agent": {"algo": "ppo", "net_arch": [16, 16], "hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 2}},
    "train": {"total_timesteps": 512, "eval_freq": 128, "eval_episodes": 2, "device": "cpu", "diagnostics_freq": 0},
}
TINY_TUNE: dict[str, Any] = {
    "name": "tiny",
    "base": TINY_BASE,
    "variants": {"agent.norm": ["none", "weight"]},
    "space": {
        "agent.hyperparams.learning_rate": {"type": "log_uniform", "low": 1.0e-4, "high": 1.0e-2},
        "agent.hyperparams.gamma": {"type": "categorical", "choices": [0.98, 0.99]},
    },
    "budget": 3,
    "seeds": 2,
    "confirm_seeds": 2,
}


def tune_file(tmp: Path, name: str = "tiny.yaml", **changes: Any) -> Path:
    """Write the tiny tune file with top-level ``changes`` (``None`` removes a key)."""
    data = copy.deepcopy(TINY_TUNE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def tune_cmd(*args: str) -> list[str]:
    """The command line of ``wnrl tune`` in a subprocess."""
    return [sys.executable, "-m", "wnrl.cli", "tune", *args]


def run_tune(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``wnrl tune`` in a subprocess and wait for it."""
    return subprocess.run(tune_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def studies(tune_dir: Path, storage: str | None = None) -> dict[str, Any]:
    """The Optuna studies of a tune directory, by name."""
    import optuna

    url = storage or f"sqlite:///{tune_dir / 'optuna.db'}"
    from wnrl.harness.tune.storage import open_storage

    store = open_storage(url, "test")
    return {
        s.study_name: optuna.load_study(study_name=s.study_name, storage=store)
        for s in optuna.get_all_study_summaries(store)
    }

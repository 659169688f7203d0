"""The README's commands, run as a newcomer would: in the order the README gives them, on
cut-down budgets.

Every fenced ``bash`` block's ``wnrl`` lines and every ``python`` block run in one scratch
directory, each command against the state the earlier ones left (``wnrl eval`` reads the run
``wnrl train`` wrote, ``compare --tuned`` the tune ``wnrl tune`` wrote). What is changed, and
only that:

* each config, sweep or tune file a command names gets a cut-down copy at the same relative path
  (a shipped name such as ``cartpole_ppo`` becomes ``cartpole_ppo.yaml``): every budget 256 steps,
  2 evaluation episodes, 2 seeds, the first two norms of a grid and the first value of its other
  keys, 2 trials of 1 seed;
* ``--workers N`` becomes ``--workers 2`` and ``--address auto`` (a running Ray cluster) is
  dropped, so Ray starts a local one;
* ``.learn(N`` in Python blocks becomes ``.learn(256``.

``make demo`` and ``make test`` are not run here (``.ci/run`` runs ``make test``; ``make demo`` is
``wnrl compare configs/sweeps/demo.yaml``, which the cut sweep test covers); non-``wnrl`` lines
(``tensorboard``) are checked to be installed commands.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from wnrl.config.load import SHIPPED, resolve_path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BUDGET = 256
WNRL = str(Path(sys.executable).parent / "wnrl")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block of a Markdown text, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)]


def readme_steps() -> list[tuple[str, str]]:
    """The README's commands in order: ``("bash", line)`` for each shell line (its comment cut),
    ``("python", block)`` for each Python block."""
    steps: list[tuple[str, str]] = []
    for lang, body in fenced_blocks(README.read_text()):
        if lang == "python":
            steps.append(("python", body))
        elif lang == "bash":
            lines = [line.split("  #")[0].split(" # ")[0].strip() for line in body.splitlines()]
            steps += [("bash", line) for line in lines if line and not line.startswith("#")]
    return steps


def _cut_run(config: dict[str, Any]) -> None:
    """Cut one run config's budgets in place (also a sweep's ``base`` or a ``per`` entry)."""
    for key, value in list(config.items()):
        if isinstance(value, dict):
            _cut_run(value)
        elif key == "total_timesteps" or key == "train.total_timesteps":
            config[key] = BUDGET
        elif key in ("eval_episodes", "train.eval_episodes"):
            config[key] = 2
        elif key in ("eval_freq", "train.eval_freq", "diagnostics_freq", "train.diagnostics_freq"):
            config[key] = BUDGET // 2
        elif key in ("n_steps", "learning_starts") and isinstance(value, int):
            config[key] = min(value, 32)


def cut(data: dict[str, Any], kind: str) -> dict[str, Any]:
    """A cut-down copy of a config (``kind`` "config file"), sweep or tune file."""
    _cut_run(data)
    if kind == "sweep file":
        data["seeds"] = 2
        data["grid"] = {key: values[: 2 if key == "agent.norm" else 1] for key, values in data["grid"].items()}
        for key, by_value in data.get("per", {}).items():  # `per:` entries of the values cut away go too
            data["per"][key] = {v: patch for v, patch in by_value.items() if v in data["grid"].get(key, [v])}
    if kind == "tune file":
        data.update(budget=2, seeds=1, confirm_seeds=2)
        data["variants"] = {key: values[:2] for key, values in data["variants"].items()}
    return data


def _kind(argv: list[str]) -> str:
    return {"compare": "sweep file", "tune": "tune file"}.get(argv[0], "config file")


def rewrite(line: str, cwd: Path) -> list[str]:
    """The argv a README line runs here (see the module docstring for what changes)."""
    argv = shlex.split(line)
    assert argv[0] == "wnrl", line
    args = argv[1:]
    if "--workers" in args:
        args[args.index("--workers") + 1] = "2"
    if "--address" in args:
        at = args.index("--address")
        del args[at : at + 2]
    if args[0] in ("train", "compare", "tune") and len(args) > 1 and not args[1].startswith("-"):
        kind = _kind(args)
        source = resolve_path(args[1], kind) if Path(args[1]).parent == Path(".") else ROOT / args[1]
        target = Path(args[1] if args[1].endswith(".yaml") else f"{args[1]}.yaml")
        (cwd / target).parent.mkdir(parents=True, exist_ok=True)
        (cwd / target).write_text(yaml.safe_dump(cut(yaml.safe_load(source.read_text()), kind)))
        args[1] = str(target)
    return [WNRL, *args]


def test_readme_lists_the_workflow() -> None:
    """The steps this test runs are the README's: train, eval, resume, compare, report, tune,
    confirm (a README that lost one would make the test below vacuous for it)."""
    lines = [body for lang, body in readme_steps() if lang == "bash"]
    for needed in ("make demo", "make test", "wnrl train ", "wnrl eval ", "wnrl train --resume", "wnrl compare ",
                   "wnrl report ", "wnrl tune ", "wnrl compare --tuned"):  # fmt: skip
        assert any(line.startswith(needed) for line in lines), needed
    assert set(SHIPPED) == {"config file", "sweep file", "tune file"}


@pytest.mark.slow
def test_readme_commands_run_in_order(tmp_path: Path) -> None:
    """Each README command exits 0 on the state the ones before it left, and the files the README
    promises are there."""
    for lang, body in readme_steps():
        if lang == "python":
            code = re.sub(r"\.learn\([\d_]+", f".learn({BUDGET}", body)
            done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
            assert done.returncode == 0, f"README python block failed:\n{body}\n{done.stderr[-2000:]}"
            continue
        if body.startswith("make "):
            continue
        if not body.startswith("wnrl "):
            assert shutil.which(body.split()[0], path=str(Path(sys.executable).parent)), body
            continue
        done = subprocess.run(rewrite(body, tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"README command failed: {body}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, body
    promised = [
        "runs/cartpole-ppo-weight-s0/model.zip",
        "videos/cartpole-ppo-weight-s0-episode_0.gif",
        "sweeps/noisy_classic/report.md",
        "sweeps/lr_robustness/report.md",
        "tunes/cartpole_small/tuned.yaml",
    ]
    missing = [p for p in promised if not (tmp_path / p).is_file()]
    assert not missing, f"the README promises {missing}; found {sorted(map(str, tmp_path.glob('*/*')))}"

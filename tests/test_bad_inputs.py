"""The one-line promise, as one table: every bad input to ``wnrl train``, ``eval``, ``compare``
and ``report`` exits with code 2 and one line on stderr naming the file or option, the key and
the fix, with no traceback, and writes nothing (the directory is byte-identical afterwards).

Each row is a case a user or an adversarial tester hit; the needles are what the line must say.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from refusal import refused, snapshot

from wnrl.cli import main

BASE = {
    "name": "tiny",
    "env": {"id": "CartPole-v1", "n_envs": 2},
    "agent": {"algo": "ppo", "norm": "weight", "net_arch": [8], "hyperparams": {"n_steps": 32, "batch_size": 64}},
    "train": {"total_timesteps": 256, "eval_freq": 0, "eval_episodes": 2, "device": "cpu", "progress_bar": False},
}


def _merge(data: dict, patch: dict) -> dict:
    out = json.loads(json.dumps(data))
    for key, value in patch.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished tiny run, for the ``eval`` rows."""
    tmp = tmp_path_factory.mktemp("run")
    cfg = tmp / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(BASE))
    assert main(["train", str(cfg), "--out", str(tmp / "run")]) == 0
    return tmp / "run"


# (config patch, needles): `wnrl train cfg.yaml --out run` must refuse each.
CONFIG_CASES: list[tuple[dict, list[str]]] = [
    ({"agent.hyperparams.n_steps": 0}, ["agent.hyperparams.n_steps", "integer ≥ 1", "got 0"]),
    ({"agent.hyperparams.batch_size": 1}, ["agent.hyperparams.batch_size", "integer ≥ 2"]),
    ({"agent.hyperparams.n_epochs": -1}, ["agent.hyperparams.n_epochs", "integer ≥ 1"]),
    ({"agent.hyperparams.gamma": "abc"}, ["agent.hyperparams.gamma", "number in [0, 1]", "'abc'"]),
    ({"agent.hyperparams.gamma": 1.5}, ["agent.hyperparams.gamma", "number in [0, 1]"]),
    ({"agent.hyperparams.n_steps": True}, ["agent.hyperparams.n_steps", "True"]),
    ({"agent.hyperparams.n_steps": 1, "env.n_envs": 1}, ["agent.hyperparams", "n_steps * n_envs"]),
    ({"env.kwargs": {"foo": 1}}, ["env.kwargs", "foo"]),
    ({"agent.policy_kwargs": {"foo": 1}}, ["agent.policy_kwargs.foo", "NormActorCriticPolicy takes"]),
    ({"agent.policy_kwargs": {"net_arch": [4]}}, ["agent.policy_kwargs.net_arch", "set agent.net_arch instead"]),
    ({"agent.policy_kwargs": {"norm": "batch"}}, ["agent.policy_kwargs.norm", "set agent.norm instead"]),
    ({"train.total_timesteps": True}, ["train.total_timesteps", "integer", "True"]),
    ({"train.total_timesteps": 1e29}, ["train.total_timesteps", "less than or equal to"]),
    ({"train.total_timesteps": 1.5}, ["train.total_timesteps", "integer"]),
    ({"agent.hyperparams.n_timesteps": 100}, ["agent.hyperparams.n_timesteps", "train.total_timesteps"]),
    ({"agent.hyperparams.normalize": True}, ["agent.hyperparams.normalize", "env.normalize_obs"]),
    ({"n_timesteps": 100}, ["'n_timesteps'", "train.total_timesteps"]),
    ({"env.normalize": True}, ["env.normalize", "env.normalize_obs"]),
    ({"agent.total_timesteps": 100}, ["agent.total_timesteps", "write train.total_timesteps"]),
    ({"train.checkpoint_freq": "often"}, ["train.checkpoint_freq"]),
    ({"agent.hyperparams.ent_coef": "auto"}, ["agent.hyperparams.ent_coef", "for sac, crossq only, not ppo"]),
    ({"train.seed": 2**32}, ["train.seed", "below 2**32"]),
    ({"env.atari_wrapper": True}, ["env.atari_wrapper", "needs an Atari (ALE) environment", "'CartPole-v1'"]),
]


@pytest.mark.parametrize(("patch", "needles"), CONFIG_CASES, ids=[",".join(c[0]) for c in CONFIG_CASES])
def test_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, patch: dict, needles: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # what a refusal wrote to the default runs/ would be seen too
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(_merge(BASE, patch)))
    refused(capsys, tmp_path, ["train", str(cfg), "--out", str(tmp_path / "run")], [str(cfg), *needles])


def _file(tmp: Path) -> str:
    (tmp / "afile").write_text("not a directory")
    return str(tmp / "afile")


def _yaml(tmp: Path, text: str) -> str:
    (tmp / "tune.yaml").write_text(text)
    return str(tmp / "tune.yaml")


def _cfg(tmp: Path) -> str:
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(BASE))
    return str(tmp / "cfg.yaml")


def _damaged(tmp: Path, run: Path, name: str = "", data: bytes = b"", config: dict | None = None) -> str:
    """A copy of the finished run with ``name`` replaced by ``data``, or ``config.yaml`` patched."""
    copy = tmp / "damaged"
    shutil.copytree(run, copy)
    if name:
        (copy / name).write_bytes(data)
    if config:
        old = yaml.safe_load((copy / "config.yaml").read_text())
        (copy / "config.yaml").write_text(yaml.safe_dump(_merge(old, config)))
    return str(copy)


def _without_policy(run: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(run / "model.zip") as zin, zipfile.ZipFile(buf, "w") as zout:
        for item in zin.namelist():
            if item != "policy.pth":
                zout.writestr(item, zin.read(item))
    return buf.getvalue()


def _stopped_on_a_damaged_checkpoint(tmp: Path, run: Path) -> str:
    """A copy of the finished run as if it stopped after a checkpoint that was then truncated."""
    copy = Path(_damaged(tmp, run))
    for name in ("result.json", "model.zip"):
        (copy / name).unlink()
    (copy / "checkpoints").mkdir(exist_ok=True)
    (copy / "checkpoints" / "step_128.zip").write_bytes((run / "model.zip").read_bytes()[:3000])
    return str(copy)


def _loop(tmp: Path) -> str:
    os.symlink("loop", tmp / "loop")
    return str(tmp / "loop")


def _bytes(tmp: Path, data: bytes) -> str:
    (tmp / "raw.yaml").write_bytes(data)
    return str(tmp / "raw.yaml")


#: A config whose second ``train:`` section would silently replace the first.
TWO_TRAINS = yaml.safe_dump(BASE, sort_keys=False) + "train: {total_timesteps: 100000}\n"
#: The billion-laughs document (aliases expanding to 9⁹ values).
BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)


def _tune_yaml(tmp: Path, **changes: object) -> str:
    """A tiny tune file (``changes``: top-level keys)."""
    data = {"name": "tiny", "base": BASE, "variants": {"agent.norm": ["none"]}, "budget": 1, "seeds": 1}
    return _yaml(tmp, yaml.safe_dump({**data, **changes}))


#: tuned.yaml of the tiny tune file (its one study at a learning rate).
TUNED = "best: [{study: tiny/none, params: {agent.hyperparams.learning_rate: 0.001}, objective: 1.0}]\n"


def _tune_dir(tmp: Path, record: str = "", tuned: str = "best: []\n") -> str:
    """A tune directory of the tiny tune file: ``tune.json`` as wnrl writes it (or ``record``), ``tuned``."""
    from wnrl.harness.tune.spec import load_tune

    d = tmp / "tuned"
    d.mkdir()
    (d / "tune.json").write_text(record or json.dumps(load_tune(_tune_yaml(tmp)).describe()))
    (d / "tuned.yaml").write_text(tuned)
    return str(d)


# (argv builder from tmp_path and the finished run, needles)
Argv = Callable[[Path, Path], list[str]]
COMMAND_CASES: list[tuple[str, Argv, list[str]]] = [
    ("train a directory", lambda t, r: ["train", str(t)], ["is a directory"]),
    ("train a missing file", lambda t, r: ["train", str(t / "nope.yaml")], ["no such config file"]),
    ("train a misspelt shipped name", lambda t, r: ["train", "cartpole_pp"], ["did you mean 'cartpole_ppo'"]),
    ("train --out a file", lambda t, r: ["train", _cfg(t), "--out", _file(t)], ["afile", "is a file"]),
    ("train --resume a non-run", lambda t, r: ["train", "--resume", str(t)], ["not a wnrl run directory"]),
    (
        "train --resume with --set",
        lambda t, r: ["train", "--resume", str(r), "--set", "train.seed=2"],
        ["--set", "cannot be given with --resume"],
    ),
    ("eval --episodes 0", lambda t, r: ["eval", str(r), "--episodes", "0"], ["--episodes", "at least 1"]),
    ("eval --video a file", lambda t, r: ["eval", str(r), "--video", _file(t)], ["afile", "is a file"]),
    ("eval a non-run", lambda t, r: ["eval", str(t)], ["not a wnrl run directory"]),
    ("eval bad noise", lambda t, r: ["eval", str(r), "--noise", "obs_sd=0.1"], ["--noise", "obs_std"]),
    ("eval an empty model.zip", lambda t, r: ["eval", _damaged(t, r, "model.zip")], ["model.zip", "not a complete"]),
    (
        "eval a text model.zip",
        lambda t, r: ["eval", _damaged(t, r, "model.zip", b"not a zip\n")],
        ["model.zip", "not a complete model", "restore it"],
    ),
    (
        "eval a truncated model.zip",
        lambda t, r: ["eval", _damaged(t, r, "model.zip", (r / "model.zip").read_bytes()[:3000])],
        ["model.zip", "not a complete model"],
    ),
    (
        "eval a model.zip without policy.pth",
        lambda t, r: ["eval", _damaged(t, r, "model.zip", _without_policy(r))],
        ["model.zip", "not a complete model"],
    ),
    (
        "eval a corrupt vecnormalize.pkl",
        lambda t, r: ["eval", _damaged(t, r, "vecnormalize.pkl", b"garbage")],
        ["vecnormalize.pkl", "not readable", "restore it"],
    ),
    (
        "eval a config.yaml edited to another algo",
        lambda t, r: ["eval", _damaged(t, r, config={"agent.algo": "a2c", "agent.hyperparams": {"n_steps": 32}})],
        ["config.yaml: agent.algo: 'a2c', but the run was trained with 'ppo'", "restore"],
    ),
    (
        "eval a config.yaml edited to another env",
        lambda t, r: ["eval", _damaged(t, r, config={"env.id": "Acrobot-v1"})],
        ["config.yaml: env.id: 'Acrobot-v1', but the run was trained with 'CartPole-v1'"],
    ),
    (
        "train --resume a truncated checkpoint",
        lambda t, r: ["train", "--resume", _stopped_on_a_damaged_checkpoint(t, r)],
        ["step_128.zip", "not a complete model", "no earlier complete checkpoint"],
    ),
    (
        "train --out 300 characters",
        lambda t, r: ["train", _cfg(t), "--out", str(t / ("x" * 300))],
        ["is 300 bytes, more than the 255", "choose another --out"],
    ),
    ("train --out a symlink loop", lambda t, r: ["train", _cfg(t), "--out", _loop(t)], ["loop: a symbolic link loop"]),
    (
        "eval --video a symlink loop",
        lambda t, r: ["eval", str(r), "--video", _loop(t)],
        ["loop: a symbolic link loop", "--video"],
    ),
    ("train /dev/zero", lambda t, r: ["train", "/dev/zero"], ["/dev/zero: more than 10 MB", "too large"]),
    ("compare a missing sweep", lambda t, r: ["compare", str(t / "nope.yaml")], ["no such sweep file"]),
    ("compare a directory", lambda t, r: ["compare", str(t)], ["is a directory"]),
    ("report a non-sweep", lambda t, r: ["report", str(t)], ["not a sweep directory"]),
    ("report a run directory", lambda t, r: ["report", str(r)], ["run directory"]),
    ("compare --out a run directory", lambda t, r: ["compare", "demo", "--out", str(r)], ["run directory"]),
    (
        "compare --seeds without --tuned",
        lambda t, r: ["compare", "demo", "--seeds", "2-6"],
        ["--seeds", "only with --tuned"],
    ),
    (
        "compare --tuned --seeds unreadable",
        lambda t, r: ["compare", "--tuned", str(t), "--seeds", "2-x"],
        ["--seeds 2-x", "e.g. --seeds 2-6"],
    ),
    (
        "compare --tuned --seeds repeated",
        lambda t, r: ["compare", "--tuned", str(t), "--seeds", "2-4,3"],
        ["--seeds 2-4,3", "distinct"],
    ),
    ("tune a missing file", lambda t, r: ["tune", str(t / "nope.yaml")], ["no such tune file"]),
    ("tune a directory", lambda t, r: ["tune", str(t)], ["is a directory"]),
    ("tune a misspelt shipped name", lambda t, r: ["tune", "cartpole_smal"], ["did you mean 'cartpole_small'"]),
    ("tune a bad file", lambda t, r: ["tune", _yaml(t, "budget: 0")], ["tune.yaml"]),
    (
        "tune sampler seed -1",
        lambda t, r: ["tune", _tune_yaml(t, sampler={"seed": -1}), "--out", str(t / "tq")],
        ["tune.yaml: sampler.seed", "greater than or equal to 0"],
    ),
    ("tune named ..", lambda t, r: ["tune", _tune_yaml(t, name=".."), "--out", str(t / "tq")], ["name: '..'"]),
    ("tune named a/b", lambda t, r: ["tune", _tune_yaml(t, name="a/b"), "--out", str(t / "tq")], ["name: 'a/b'"]),
    (
        "tune --out with a damaged tune.json",
        lambda t, r: ["tune", _tune_yaml(t), "--out", _tune_dir(t, "[]")],
        ["tune.json: not a record of `wnrl tune`", "remove it and rerun `wnrl tune"],
    ),
    (
        "compare --tuned tune.json []",
        lambda t, r: ["compare", "--tuned", _tune_dir(t, "[]")],
        ["tune.json: not a record of `wnrl tune`", "remove it and rerun `wnrl tune"],
    ),
    (
        "compare --tuned tune.json {}",
        lambda t, r: ["compare", "--tuned", _tune_dir(t, "{}")],
        ["tune.json: not a record of `wnrl tune` (no valid source, digest, spec, base)"],
    ),
    (
        "compare --tuned tuned.yaml without best",
        lambda t, r: ["compare", "--tuned", _tune_dir(t, tuned="tune: tiny\n")],
        ["tuned.yaml: best: not a list", "rerun `wnrl tune"],
    ),
    (
        "compare --tuned tuned.yaml best not a list",
        lambda t, r: ["compare", "--tuned", _tune_dir(t, tuned="best: 3\n")],
        ["tuned.yaml: best: not a list", "rerun `wnrl tune"],
    ),
    (
        "tune --out a 300-character name",
        lambda t, r: ["tune", _tune_yaml(t), "--out", str(t / ("x" * 300))],
        ["--out", "is 300 bytes, more than the 255", "choose another --out"],
    ),
    (
        "compare --tuned --out a symlink loop",
        lambda t, r: ["compare", "--tuned", _tune_dir(t, tuned=TUNED), "--out", _loop(t)],
        ["loop", "a symbolic link loop", "choose another --out"],
    ),
    (
        "compare --tuned tuned.yaml of another tune",
        lambda t, r: ["compare", "--tuned", _tune_dir(t, tuned=TUNED.replace("tiny/none", "other/none"))],
        ["tuned.yaml: best: other/none is not a study of", "rerun `wnrl tune"],
    ),
    (
        "compare --tuned tuned.yaml best without the values",
        lambda t, r: ["compare", "--tuned", _tune_dir(t, tuned="best: [{study: tiny/none, params: {x: 1}}]\n")],
        ["tuned.yaml: best: tiny/none: needs params", "rerun `wnrl tune"],
    ),
    ("train a key given twice", lambda t, r: ["train", _yaml(t, TWO_TRAINS)], ["tune.yaml: train: given twice"]),
    ("tune a key given twice", lambda t, r: ["tune", _yaml(t, "budget: 1\nbudget: 2\n")], ["budget: given twice"]),
    ("train an alias bomb", lambda t, r: ["train", _yaml(t, BOMB)], ["tune.yaml: aliases (*name) expand to"]),
    ("compare an alias bomb", lambda t, r: ["compare", _yaml(t, BOMB)], ["tune.yaml: aliases (*name) expand to"]),
    (
        "train a latin-1 config",
        lambda t, r: ["train", _bytes(t, b"name: caf\xe9\n")],
        ["raw.yaml: not UTF-8 text (byte 9 is 0xe9)", "save it as UTF-8"],
    ),
    ("no subcommand", lambda t, r: [], ["required: command", "see `wnrl --help`"]),
    ("list with an argument", lambda t, r: ["list", "sweeps"], ["wnrl list", "unrecognized", "sweeps"]),
    ("train an unknown option", lambda t, r: ["train", "--episodes", "3"], ["wnrl train", "--episodes", "--help"]),
    ("compare --workers not a number", lambda t, r: ["compare", "--workers", "x"], ["--workers", "invalid int"]),
    ("report --reps not a number", lambda t, r: ["report", str(t), "--reps", "x"], ["--reps", "wnrl report --help"]),
    ("eval --device unknown", lambda t, r: ["eval", str(r), "--device", "tpu"], ["--device", "invalid choice"]),
    (
        "compare a sweep named ..",
        lambda t, r: ["compare", _yaml(t, yaml.safe_dump({"name": "..", "base": BASE, "seeds": 1})), "--out", str(t)],
        ["tune.yaml: name: '..' names the current or the parent directory"],
    ),
    ("compare --out a symlink loop", lambda t, r: ["compare", "demo", "--out", _loop(t)], ["a symbolic link loop"]),
    ("report a symlink loop", lambda t, r: ["report", _loop(t)], ["loop: a symbolic link loop"]),
    ("compare --out of 300 characters", lambda t, r: ["compare", "demo", "--out", str(t / ("d" * 300))], ["300 bytes"]),
]


@pytest.mark.parametrize(("argv", "needles"), [c[1:] for c in COMMAND_CASES], ids=[c[0] for c in COMMAND_CASES])
def test_bad_command(
    tmp_path: Path,
    run_dir: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    argv: Argv,
    needles: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # rows without --out would write sweeps/, runs/, tunes/ here: seen
    args = argv(tmp_path, run_dir)
    before_run = snapshot(run_dir)
    refused(capsys, tmp_path, args, needles)
    assert snapshot(run_dir) == before_run, "the finished run is untouched"

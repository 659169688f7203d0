"""The YAML every config, sweep and tune file goes through, and the values checked per algorithm.

One safe loader (:mod:`wnrl.config.safe_yaml`, read by :func:`wnrl.config.read_yaml`) refuses a
key given twice and an alias bomb in each kind of file, naming the file, the key and the lines;
it reads UTF-8 from regular files, named pipes and standard input and says what is wrong with the
bytes otherwise. Per algorithm: ``ent_coef: auto`` only where SB3 learns it; ``train_freq:
[N, step]`` is what SB3 gets as ``(N, "step")``; ``train.seed`` below 2**32 in runs and sweeps;
``train.device: cuda`` refused where there is no CUDA device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from refusal import refused_here

from wnrl.cli import main
from wnrl.config import ConfigError, load_config, parse_overrides, read_yaml, validate
from wnrl.config.device import check_device, check_devices, cuda_available
from wnrl.config.safe_yaml import MAX_EXPANDED

RUN = """\
name: tiny
env: {id: CartPole-v1, n_envs: 2}
agent:
  algo: ppo
  norm: weight
  net_arch: [8]
  hyperparams: {n_steps: 32, batch_size: 64}
train: {total_timesteps: 64, eval_freq: 0, eval_episodes: 1, device: cpu, progress_bar: false}
"""

SWEEP = """\
name: dups
base:
  env: {id: CartPole-v1}
  agent: {algo: ppo, net_arch: [8]}
  train: {total_timesteps: 64, eval_freq: 0, device: cpu}
grid:
  agent.norm: [none, weight]
seeds: 1
"""

TUNE = """\
name: duptune
base:
  env: {id: CartPole-v1}
  agent: {algo: ppo, net_arch: [8]}
  train: {total_timesteps: 64, eval_freq: 0, device: cpu}
variants:
  agent.norm: [none]
space:
  agent.hyperparams.learning_rate: {type: log_uniform, low: 1.0e-4, high: 1.0e-2}
budget: 2
"""

#: The billion-laughs document: nine lines whose aliases expand to 9⁹ values.
BOMB = "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join([f'*{chr(96 + i)}'] * 9) if i else ', '.join(['lol'] * 9)}]\n"
    for i in range(9)
)


# --- duplicate keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        (RUN.replace("  norm: weight\n", "  norm: weight\n  norm: batch\n"), "agent.norm", (5, 6)),
        (RUN + "train: {total_timesteps: 100000}\n", "train", (8, 9)),
        (RUN.replace("n_steps: 32,", "n_steps: 32, n_steps: 64,"), "agent.hyperparams.n_steps", (7, 7)),
    ],
    ids=["nested key", "second section", "flow mapping"],
)
def test_a_config_key_given_twice_is_refused_naming_both_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str, key: str, lines: tuple[int, int]
) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    refused_here(
        capsys,
        ["train", str(cfg), "--out", str(tmp_path / "run")],
        f"{cfg}: {key}: given twice (lines {lines[0]} and {lines[1]}); keep one",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"]


pytestmark = pytest.mark.usefixtures("in_tmp_path")  # see tests/conftest.py


def test_a_sweep_and_a_tune_file_key_given_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP + "grid:\n  agent.norm: [batch]\n")
    refused_here(
        capsys, ["compare", str(sweep), "--out", str(tmp_path / "out")], f"{sweep}: grid: given twice (lines 6 and 9)"
    )
    tune = tmp_path / "tune.yaml"
    tune.write_text(TUNE + "budget: 3\n")
    refused_here(
        capsys, ["tune", str(tune), "--out", str(tmp_path / "t")], f"{tune}: budget: given twice (lines 10 and 11)"
    )
    base = tmp_path / "base.yaml"  # a base file is read by the same loader
    base.write_text(RUN + "name: other\n")
    sweep.write_text("base: base.yaml\ngrid: {agent.norm: [none, weight]}\nseeds: 1\n")
    refused_here(
        capsys, ["compare", str(sweep), "--out", str(tmp_path / "out")], f"{base}: name: given twice (lines 1 and 9)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.yaml", "sweep.yaml", "tune.yaml"]


def test_a_tuned_yaml_with_a_key_given_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``compare --tuned`` reads tuned.yaml with the same loader."""
    from wnrl.harness.tune.spec import load_tune

    tune = tmp_path / "tune.yaml"
    tune.write_text(TUNE)
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    (tuned / "tune.json").write_text(json.dumps(load_tune(tune).describe()))
    (tuned / "tuned.yaml").write_text("best: []\nbest: 5\n")
    refused_here(
        capsys,
        ["compare", "--tuned", str(tuned)],
        f"{tuned / 'tuned.yaml'}: cannot be read (best: given twice (lines 1 and 2)",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tune.yaml", "tuned"]


def test_merge_keys_and_repeated_keys_in_other_mappings_are_not_duplicates(tmp_path: Path) -> None:
    """``<<: *defaults`` with an override is YAML's own way of writing a default; the same key
    in two mappings is two keys."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "defaults: &d {algo: ppo, norm: weight}\n"
        "env: {id: CartPole-v1, kwargs: {norm: 1}}\n"
        "agent:\n  <<: *d\n  norm: batch\n"
        "train: {total_timesteps: 64}\n"
    )
    data = read_yaml(cfg)
    assert data["agent"] == {"algo": "ppo", "norm": "batch"} and data["env"]["kwargs"] == {"norm": 1}


def test_a_set_value_with_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(RUN)
    with pytest.raises(ConfigError, match=r"^--set 'agent.hyperparams=\{a: 1, a: 2\}': a: given twice"):
        load_config(cfg, ["agent.hyperparams={a: 1, a: 2}"])
    assert parse_overrides(["name=[1"]) == [("name", "[1")]  # text that is not YAML stays text


# --- aliases -------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "compare", "tune"])
def test_an_alias_bomb_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture, command: str) -> None:
    """The billion-laughs file ran 1-2 minutes into a MemoryError; now one line, at once."""
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    started = time.perf_counter()
    refused_here(
        capsys, [command, str(path), "--out", str(tmp_path / "out")], f"{path}: aliases (*name) expand to", "more than"
    )
    assert time.perf_counter() - started < 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.yaml"]


def test_aliases_within_the_bound_and_recursive_ones(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n")  # a few aliases: read as usual
    assert read_yaml(path) == {"a": [1, 2, 3], "b": [[1, 2, 3]] * 3}
    width = int(MAX_EXPANDED**0.5) + 1
    path.write_text(f"a: &a [{', '.join(['1'] * width)}]\nb: [{', '.join(['*a'] * width)}]\n")
    with pytest.raises(ConfigError, match=f"more than the {MAX_EXPANDED}"):
        read_yaml(path)
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=r"ok.yaml: line 1: an alias refers to the anchor it is inside"):
        read_yaml(path)


# --- bytes and kinds of file ---------------------------------------------------------------------


def test_a_latin1_config_is_named_not_utf8_with_the_byte_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_bytes(RUN.replace("name: tiny", "name: caf\xe9").encode("latin-1"))
    refused_here(capsys, ["train", str(cfg)], f"{cfg}: not UTF-8 text (byte 9 is 0xe9); save it as UTF-8", "iconv")
    cfg.write_bytes(b"name: x\x00\x01")
    refused_here(capsys, ["train", str(cfg)], f"{cfg}: not a text file (byte 7 is 0x00)")
    cfg.write_bytes(RUN.replace("name: tiny", "name: cafe  # café").encode())  # UTF-8: read
    assert load_config(cfg).name == "cafe"


def test_a_named_pipe_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "cfg.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as f:
            f.write(RUN)

    writer = threading.Thread(target=write, daemon=True)  # a read that never opens the pipe must not hang pytest
    writer.start()
    try:
        assert load_config(fifo).name == "tiny"
    finally:
        writer.join(timeout=10)


@pytest.mark.parametrize("path", ["-", "/dev/stdin"])
def test_a_config_piped_to_standard_input_is_read(tmp_path: Path, path: str) -> None:
    """``wnrl train - < cfg.yaml`` and ``cat cfg.yaml | wnrl train /dev/stdin`` (a pipe, not a
    regular file: it was "no such config file" plus the list of every shipped config)."""
    code = f"from wnrl.config import load_config; print(load_config({path!r}).name)"
    out = subprocess.run(
        [sys.executable, "-c", code], input=RUN, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0 and out.stdout.strip() == "tiny", out.stderr


# --- values per algorithm ------------------------------------------------------------------------


def _data(**patch: object) -> dict:
    data = yaml.safe_load(RUN)
    for key, value in patch.items():
        section, leaf = key.split("__")
        node = data["agent"]["hyperparams"] if section == "hp" else data[section]
        node[leaf] = value
    return data


def test_ent_coef_auto_only_for_the_algorithms_that_learn_it() -> None:
    with pytest.raises(
        ConfigError, match=r"x.yaml: agent.hyperparams.ent_coef: auto .* is for sac, crossq only, not ppo"
    ):
        validate(_data(hp__ent_coef="auto"), "x.yaml")
    with pytest.raises(ConfigError, match="not a2c"):
        validate(_data(agent__algo="a2c", hp__ent_coef="auto_0.1"), "x.yaml")
    for algo in ("sac", "crossq"):
        for value in ("auto", "auto_0.1", 0.05):
            data = _data(agent__algo=algo, hp__ent_coef=value)
            data["agent"]["hyperparams"] = {"ent_coef": value}
            assert validate(data).agent.hyperparams["ent_coef"] == value
    with pytest.raises(ConfigError, match="ent_coef: must be a number ≥ 0, auto or auto_<start>"):
        validate(_data(agent__algo="sac", hp__ent_coef="auto_x"))


def test_a_sweep_of_ppo_with_ent_coef_auto_is_refused_before_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP.replace("net_arch: [8]}", "net_arch: [8], hyperparams: {ent_coef: auto}}"))
    refused_here(
        capsys, ["compare", str(sweep), "--out", str(tmp_path / "out")], "agent.hyperparams.ent_coef", "not ppo"
    )
    assert not (tmp_path / "out").exists()


def test_train_freq_as_n_and_unit_trains_dqn(tmp_path: Path) -> None:
    """``train_freq: [4, step]`` (the form wnrl's message gives) reaches SB3 as ``(4, "step")``;
    the run's config.yaml keeps the list."""
    cfg = tmp_path / "cfg.yaml"
    data = yaml.safe_load(RUN)
    data["env"]["n_envs"] = 1
    data["agent"] = {
        "algo": "dqn",
        "net_arch": [8],
        "hyperparams": {"train_freq": [4, "step"], "learning_starts": 16, "buffer_size": 200},
    }
    cfg.write_text(yaml.safe_dump(data))
    assert load_config(cfg).agent.hyperparams["train_freq"] == (4, "step")
    assert main(["train", str(cfg), "--out", str(tmp_path / "run")]) == 0
    stored = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert stored["agent"]["hyperparams"]["train_freq"] == [4, "step"]
    data["agent"]["hyperparams"]["train_freq"] = [4, "steps"]
    with pytest.raises(ConfigError, match=r"train_freq: must be an integer ≥ 1 or \[N, step\]"):
        validate(data)


def test_a_seed_beyond_numpys_range_is_refused_in_a_run_and_in_a_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert validate(_data(train__seed=2**32 - 1)).train.seed == 2**32 - 1
    with pytest.raises(ConfigError, match=r"x.yaml: train.seed: must be below 2\*\*32"):
        validate(_data(train__seed=2**32), "x.yaml")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP.replace("seeds: 1", f"seeds: [0, {2**32}]"))
    refused_here(capsys, ["compare", str(sweep), "--out", str(tmp_path / "out")], "train.seed: must be below 2**32")
    assert not (tmp_path / "out").exists()


# --- train.device --------------------------------------------------------------------------------


def test_cuda_is_refused_exactly_where_torch_sees_no_cuda_device() -> None:
    """The one check (``wnrl train`` and local sweeps): on a CPU-only machine it refuses ``cuda``
    naming train.device; on a GPU machine it lets it through. auto and cpu pass everywhere."""
    import torch

    assert cuda_available() == torch.cuda.is_available()
    check_devices(["auto", "cpu"], "x.yaml")
    if torch.cuda.is_available():
        check_device("cuda", "x.yaml")
    else:
        with pytest.raises(ConfigError, match=r"^x.yaml: train.device: cuda requested but no CUDA device"):
            check_devices(["cpu", "cuda"], "x.yaml")


def _devices(kind: str, path: Path) -> set[str]:
    """The ``train.device`` of every run a sweep file (``compare``) or a tune's first trial (``tune``) expands to."""
    if kind == "compare":
        from wnrl.harness.sweeps.spec import load_sweep

        return {r.config.train.device for r in load_sweep(path).runs}
    from wnrl.harness.tune.spec import load_tune

    loaded = load_tune(path)
    return {r.config.train.device for r in loaded.trial_sweep(loaded.cells[0], {}, [0]).runs}


@pytest.mark.parametrize(("kind", "text"), [("compare", SWEEP), ("tune", TUNE)])
def test_a_local_sweep_or_tune_asking_for_cuda_without_a_device_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, kind: str, text: str
) -> None:
    """``compare`` and ``tune`` check their runs' device before writing (every run failed)."""
    import torch

    path = tmp_path / f"{kind}.yaml"
    path.write_text(text.replace("device: cpu", "device: cuda"))
    if torch.cuda.is_available():  # the check lets it through: the runs expand as usual
        assert _devices(kind, path) == {"cuda"}
        return
    refused_here(capsys, [kind, str(path), "--out", str(tmp_path / "out")], f"{path}: train.device: cuda requested")
    assert not (tmp_path / "out").exists()

"""Sweep files: expansion, stable ids, per-value settings, validation errors (no training here)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from wnrl.cli import main
from wnrl.config import ConfigError
from wnrl.config.schema import NAME_PATTERN
from wnrl.harness.sweeps.agent_args import HYPERPARAMS, POLICY_KWARGS
from wnrl.harness.sweeps.spec import demo_sweep, expand_sweep, load_sweep

ROOT = Path(__file__).resolve().parents[1]

SWEEP = {
    "name": "unit",
    "base": {
        "env": {"id": "CartPole-v1"},
        "agent": {"algo": "ppo", "net_arch": [16]},
        "train": {"total_timesteps": 256, "device": "cpu"},
    },
    "grid": {"agent.norm": ["none", "weight"], "env.noise.obs_std": [0.0, 0.2]},
    "seeds": 2,
}


def write(tmp_path: Path, data: dict, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_grid_times_seeds_in_order() -> None:
    sweep = expand_sweep(copy.deepcopy(SWEEP), "unit.yaml")
    assert len(sweep.runs) == 2 * 2 * 2
    assert [(r.grid["agent.norm"], r.grid["env.noise.obs_std"], r.seed) for r in sweep.runs[:3]] == [
        ("none", 0.0, 0),
        ("none", 0.0, 1),
        ("none", 0.2, 0),
    ]
    run = sweep.runs[-1]
    c = run.config
    assert (c.agent.norm, c.env.noise.obs_std, c.train.seed) == ("weight", 0.2, 1)
    assert c.train.progress_bar is False and c.train.torch_threads == 1 and c.name == "unit"
    index = sweep.index()
    assert index["grid_keys"] == ["agent.norm", "env.noise.obs_std"] and index["seeds"] == [0, 1]
    assert [r["id"] for r in index["runs"]] == [r.id for r in sweep.runs]


def test_explicit_seed_list() -> None:
    sweep = expand_sweep({**copy.deepcopy(SWEEP), "seeds": [3, 7]}, "unit.yaml")
    assert sorted({r.seed for r in sweep.runs}) == [3, 7]
    assert {r.config.train.seed for r in sweep.runs} == {3, 7}


def test_ids_stable_readable_and_sensitive_to_the_config() -> None:
    a = [r.id for r in expand_sweep(copy.deepcopy(SWEEP), "unit.yaml").runs]
    b = [r.id for r in expand_sweep(copy.deepcopy(SWEEP), "other.yaml").runs]
    assert a == b and len(set(a)) == len(a)
    assert a[0].startswith("cartpole-none-obs_std0.0-s0-")
    renamed = [r.id for r in expand_sweep({**copy.deepcopy(SWEEP), "name": "renamed"}, "unit.yaml").runs]
    assert renamed == a  # the name is not part of what a run does
    longer = copy.deepcopy(SWEEP)
    longer["base"]["train"]["total_timesteps"] = 512
    assert not set(r.id for r in expand_sweep(longer, "unit.yaml").runs) & set(a)
    # the same run reached from a different grid has the same id
    narrow = {**copy.deepcopy(SWEEP), "grid": {"agent.norm": ["weight"], "env.noise.obs_std": [0.2]}, "seeds": [1]}
    assert expand_sweep(narrow, "unit.yaml").runs[0].id == a[-1]


def test_run_ids_name_the_environment() -> None:
    data = copy.deepcopy(SWEEP)
    data["base"]["env"]["id"] = "MountainCarContinuous-v0"
    data["grid"] = {"agent.algo": ["ppo"], "agent.norm": ["weight"]}
    run = expand_sweep(data, "unit.yaml").runs[0]
    assert re.fullmatch(r"mountaincarcontinuous-ppo-weight-s0-[0-9a-f]{10}", run.id), run.id
    # an env.id grid value is not repeated; every id is unique and a valid name
    sweep = load_sweep(ROOT / "configs" / "sweeps" / "noisy_classic.yaml")
    ids = [r.id for r in sweep.runs]
    assert ids[0].startswith("cartpole-obs_std0.0-none-s0-") and any(i.startswith("acrobot-obs_std") for i in ids)
    assert len(set(ids)) == len(ids) and all(re.fullmatch(NAME_PATTERN, i) for i in ids)
    minatar = load_sweep(ROOT / "configs" / "sweeps" / "minatar_dqn.yaml").runs[0]
    assert minatar.id.startswith("minatar-breakout-none-s0-")


def test_per_value_settings_and_set_overrides() -> None:
    data = copy.deepcopy(SWEEP)
    data["grid"] = {"agent.algo": ["ppo", "dqn"], "agent.norm": ["none"]}
    data["base"]["agent"].pop("algo")
    data["per"] = {
        "agent.algo": {
            "ppo": {"env.n_envs": 4, "agent.hyperparams": {"n_steps": 32}},
            "dqn": {"agent.hyperparams": {"buffer_size": 1000}},
        }
    }
    sweep = expand_sweep(data, "unit.yaml", overrides=["train.total_timesteps=1000", "agent.hyperparams.gamma=0.9"])
    ppo, dqn = sweep.runs[0].config, sweep.runs[2].config
    assert ppo.env.n_envs == 4 and ppo.agent.hyperparams == {"n_steps": 32, "gamma": 0.9}
    assert dqn.env.n_envs == 1 and dqn.agent.hyperparams == {"buffer_size": 1000, "gamma": 0.9}
    assert ppo.train.total_timesteps == dqn.train.total_timesteps == 1000
    with pytest.raises(ConfigError, match=r"--set agent.norm: agent.norm is a grid key"):
        expand_sweep(copy.deepcopy(data), "unit.yaml", overrides=["agent.norm=batch"])


def test_base_from_a_file_and_floats_like_1e_minus_3(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "base.yaml").write_text(yaml.safe_dump(SWEEP["base"]))
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: f\nbase: runs/base.yaml\nseeds: 1\ngrid:\n  agent.hyperparams.learning_rate: [1e-3, 3.0e-4]\n"
    )
    sweep = load_sweep(path)
    assert [r.config.agent.hyperparams["learning_rate"] for r in sweep.runs] == [0.001, 0.0003]


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            {"grid": {"agent.norm": ["none", "weigth"]}},
            r"agent\.norm: .*weigth.*\(in the run agent.norm=weigth, seed=0\)",
        ),
        ({"grid": {"agent.nrom": ["none"]}}, r"grid: unknown key 'agent.nrom'; did you mean 'agent.norm'\?"),
        ({"grid": {"agent.norm": "none"}}, r"grid: agent.norm: give a non-empty list"),
        ({"grid": {"train.seed": [1, 2]}}, r"train.seed: the seeds come from `seeds`"),
        ({"seeds": 0}, r"seeds: must be at least 1"),
        ({"seeds": [1, 1]}, r"seeds: .* repeats a seed"),
        ({"seeds": 1000000}, r"seeds: 1000000 seeds is more than 10000; give fewer seeds"),
        ({"seed": 3}, r"unknown key 'seed'; did you mean 'seeds'\?"),
        ({"per": {"agent.algo": {"dqn": {}}}}, r"per: agent.algo: not a grid key"),
        ({"per": {"agent.norm": {"batch": {"env.n_envs": 2}}}}, r"per: agent.norm: 'batch' is not one of"),
        ({"per": {"agent.norm": {"none": {"env.n_env": 2}}}}, r"per: agent.norm: none: unknown key 'env.n_env'"),
        (
            {"base": {"env": {"id": "CartPole-v1"}, "agent": {"algo": "ppo"}}},
            r"train.total_timesteps: required key is missing",
        ),
        (
            {"base": {**SWEEP["base"], "agent": {"algo": "ppo", "hyperparams": {"n_step": 3}}}},
            r"unknown key 'agent.hyperparams.n_step'; did you mean 'n_steps'\?",
        ),
        (
            {"base": {**SWEEP["base"], "agent": {"algo": "ppo", "policy_kwargs": {"ortho_int": False}}}},
            r"unknown key 'agent.policy_kwargs.ortho_int'; did you mean 'ortho_init'\?",
        ),
        (
            {"base": {**SWEEP["base"], "agent": {"algo": "ppo", "hyperparams": {"clip_range": "lin_x"}}}},
            r"agent.hyperparams.clip_range: 'lin_x' is not a schedule; write lin_<number>",
        ),
        (
            {"base": {**SWEEP["base"], "agent": {"algo": "dqn", "hyperparams": {"n_epochs": 3}}}},
            r"unknown key 'agent.hyperparams.n_epochs'",
        ),
        ({"base": "missing.yaml"}, r"base: .*missing.yaml: no such config file"),
        ({"grid": {"agent.norm": ["none", "none"]}}, r"have the same config; remove the duplicate value"),
        ({"base": {**SWEEP["base"], "env": {"id": "CartPol-v1"}}}, r"env.id: unknown environment 'CartPol-v1'"),
    ],
)
def test_bad_sweeps_fail_on_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, change: dict, expected: str
) -> None:
    path = write(tmp_path, {**copy.deepcopy(SWEEP), **change})
    out = tmp_path / "out"
    assert main(["compare", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"wnrl: error: {path}: "), err
    assert re.search(expected, err), err
    assert not out.exists()  # nothing started


def test_bad_command_line_values_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write(tmp_path, copy.deepcopy(SWEEP))
    for args, expected in [
        (["--workers", "0"], "--workers 0: must be at least 1"),
        (["--set", "agent.norm=batch"], "is a grid key"),
        (["--set", "agent.hyperparams.n_step=3"], "unknown key 'agent.hyperparams.n_step'"),
        (["--address", "auto"], "--address: only used with --backend ray"),
    ]:
        assert main(["compare", str(path), "--out", str(tmp_path / "o"), *args]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err
    assert main(["compare", str(tmp_path / "nope.yaml")]) == 2
    assert "no such sweep file" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("name: x\ngrid: [a\n")
    assert main(["compare", str(tmp_path / "bad.yaml")]) == 2
    assert "invalid YAML at line" in capsys.readouterr().err


def test_every_sweep_file_in_configs_expands() -> None:
    files = sorted((ROOT / "configs" / "sweeps").glob("*.yaml"))
    assert {f.stem for f in files} >= {"demo", "noisy_classic", "lr_robustness", "minatar_dqn"}
    for f in files:
        sweep = load_sweep(f)
        assert sweep.runs and len({r.id for r in sweep.runs}) == len(sweep.runs), f


def test_every_documented_command_names_a_file_that_is_there() -> None:
    """The stage files moved from configs/sweeps/ to docs/results/<study>/stages/, but the headers
    of configs/sweeps/minatar_dqn_150k.yaml and noisy_cartpole_dqn_default.yaml still gave
    `wnrl compare configs/sweeps/<stage>.yaml`: every `wnrl compare/tune/train FILE.yaml` in a
    config's header, the README and docs/*.md names a file in the repository."""
    files = [*ROOT.glob("configs/**/*.yaml"), *ROOT.glob("docs/results/*/stages/*.yaml"), *ROOT.glob("docs/*.md")]
    missing = [
        f"{f.relative_to(ROOT)}: {m.group(1)}"
        for f in [*files, ROOT / "README.md"]
        for m in re.finditer(r"wnrl (?:compare|tune|train) ((?:configs|docs)/\S+?\.yaml)", f.read_text())
        if not (ROOT / m.group(1)).is_file()
    ]
    assert not missing, missing


def test_stage_files_of_a_sweep_reuse_its_runs() -> None:
    """Sweep files sharing a name (a study's stages, e.g. docs/results/continuous_pendulum/stages/
    continuous_pendulum_stage1.yaml .. configs/sweeps/continuous_pendulum_10seeds.yaml) must give
    the same runs the same ids: every file's runs are a subset of the largest one's, so `--add` into
    the study's directory resumes it instead of rerunning it. An edit to one stage file alone (a
    base key, the grid order) fails here."""
    by_name: dict[str, list[tuple[Path, set[str]]]] = {}
    stages = sorted((ROOT / "docs" / "results").glob("**/stages/*.yaml"))
    for f in sorted((ROOT / "configs" / "sweeps").glob("*.yaml")) + stages:
        sweep = load_sweep(f)
        by_name.setdefault(sweep.name, []).append((f, {r.id for r in sweep.runs}))
    staged = {name: files for name, files in by_name.items() if len(files) > 1}
    assert {"continuous_pendulum", "lr_robustness", "noisy_cartpole_dqn-default"} <= set(staged)
    for files in staged.values():
        largest = max((ids for _, ids in files), key=len)
        for f, ids in files:
            assert ids <= largest, f


def test_builtin_demo_is_configs_sweeps_demo() -> None:
    builtin, file = load_sweep(None), load_sweep(ROOT / "configs" / "sweeps" / "demo.yaml")
    assert [r.id for r in builtin.runs] == [r.id for r in file.runs]
    assert len(builtin.runs) == 36 and builtin.name == demo_sweep()["name"] == "demo"
    algos = {r.grid["agent.algo"]: r.config for r in builtin.runs}
    assert algos["ppo"].env.n_envs == 8 and algos["ppo"].agent.hyperparams["n_epochs"] == 20
    assert algos["dqn"].agent.hyperparams["gradient_steps"] == 128


def test_agent_names_known_without_sb3_are_the_ones_sb3_and_the_policies_take() -> None:
    """Sweep validation accepts these names without importing SB3: they must be exactly what the
    SB3 constructors and the wnrl policies take (after an SB3 upgrade or a new policy argument,
    update ``wnrl/harness/sweeps/agent_args.py`` to the names this test prints)."""
    from importlib.metadata import version

    from wnrl.agents.common import hyperparam_names, policy_kwarg_names
    from wnrl.harness.sweeps.agent_args import MADE_WITH, tables_current
    from wnrl.registry import ALGORITHMS

    installed = {dist: version(dist) for dist in MADE_WITH}
    assert tables_current() == (installed == dict(MADE_WITH))

    assert set(HYPERPARAMS) == set(POLICY_KWARGS) == set(ALGORITHMS)
    for algo in ALGORITHMS:
        assert HYPERPARAMS[algo] == set(hyperparam_names(algo)), (algo, sorted(hyperparam_names(algo)))
        assert POLICY_KWARGS[algo] == set(policy_kwarg_names(algo)), (algo, policy_kwarg_names(algo))

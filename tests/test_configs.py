"""The ready run configs in ``configs/*.yaml`` (not ``configs/sweeps/``): each one validates, says
where its hyperparameters come from, and builds its env and model (without training) wherever its
optional extra is installed. Builds use one sub-env and, for DQN, a small replay buffer.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from wnrl.config import load_config
from wnrl.envs import MissingExtraError, ensure_registered, env_family, make_vec_env
from wnrl.nn import MeanOnlyBatchNorm, WeightNormMixin
from wnrl.policies import NORMS
from wnrl.train.run import _make_model, build_env

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))  # not recursive: configs/sweeps/ holds sweeps
IDS = [p.stem for p in CONFIGS]

# What the configs must cover: (env id, algorithm).
EXPECTED = {
    (env, algo)
    for env in (
        "CartPole-v1",
        "Acrobot-v1",
        "LunarLander-v3",
        "MinAtar/Breakout-v1",
        "MinAtar/Seaquest-v1",
        "MinAtar/SpaceInvaders-v1",
        "ALE/Breakout-v5",
        "ALE/Enduro-v5",
        "ALE/Seaquest-v5",
        "ALE/SpaceInvaders-v5",
    )
    for algo in ("dqn", "ppo")
} | {("HalfCheetah-v5", "ppo"), ("FrozenLake-v1", "dqn"), ("SimpleMultiObs-v0", "ppo")}
EXPECTED |= {
    (env, algo)
    for env in ("Pendulum-v1", "HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
    for algo in ("sac", "td3", "crossq")
}

SOURCES = ("rl-baselines3-zoo", "MinAtar", "CrossQ paper")
# A string that YAML 1.1 (PyYAML) did not read as a number but that is meant as one, e.g. 3e-4.
NUMBER_LIKE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
# Stand-ins with the same kind of spaces, for configs whose extra is not installed.
STAND_INS = {"mujoco": "Pendulum-v1", "box2d": "CartPole-v1"}
PPO_BATCH_WARNING = "ignore:You have specified a mini-batch size:UserWarning"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _header(path: Path) -> str:
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def _suggested_overrides(path: Path) -> list[str]:
    """The ``--set`` overrides on the header's command lines (``#   --set KEY=VALUE ...``),
    except the norm switch."""
    out = []
    for line in _header(path).splitlines():
        command = line.lstrip("# ")
        if not command.startswith("--set "):
            continue
        words = shlex.split(command)
        out += [v for k, v in zip(words, words[1:]) if k == "--set" and "|" not in v]
    return out


def _build_overrides(path: Path) -> list[str]:
    overrides = ["env.n_envs=1", "train.device=cpu"]
    if load_config(path).agent.algo in ("dqn", "sac", "td3", "crossq"):
        overrides.append("agent.hyperparams.buffer_size=1000")
    return overrides


def test_the_configs_cover_every_environment_and_algorithm() -> None:
    found = {(c.env.id, c.agent.algo) for c in map(load_config, CONFIGS)}
    assert EXPECTED <= found, f"missing configs for {sorted(EXPECTED - found)}"


def test_no_two_configs_share_a_run_directory_name() -> None:
    from wnrl.envs import env_slug

    keys = [(env_slug(c.env.id), c.agent.algo) for c in map(load_config, CONFIGS)]
    assert len(keys) == len(set(keys)), "runs/<env>-<algo>-<norm>-s<seed> would collide"


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_validates_and_documents_its_source(path: Path) -> None:
    config = load_config(path)
    header = _header(path)
    assert header, f"{path.name}: starts without a header comment"
    assert any(s in header for s in SOURCES), (
        f"{path.name}: the header must say where the hyperparameters come from ({SOURCES})"
    )
    assert "--set agent.norm=" in header, f"{path.name}: the header must show the norm switch"
    assert config.agent.norm in ("weight", "weight_proj_brn"), "weight norm is the default of every ready config"
    assert 0 < config.train.eval_freq <= config.train.total_timesteps
    for key, value in config.agent.hyperparams.items():
        assert not (isinstance(value, str) and NUMBER_LIKE.match(value)), (
            f"{path.name}: hyperparams.{key}={value!r} is a string; write it with a dot (e.g. 3.0e-4)"
        )
    hp = config.agent.hyperparams
    if config.agent.algo == "ppo":
        rollout = hp.get("n_steps", 2048) * config.env.n_envs
        assert rollout % hp.get("batch_size", 64) == 0, (
            f"{path.name}: batch_size should divide n_steps * n_envs = {rollout}"
        )
    suggested = _suggested_overrides(path)
    if suggested:  # what the header tells users to --set must be valid
        load_config(path, suggested)
    if hp.get("optimize_memory_usage"):
        assert hp.get("replay_buffer_kwargs", {}).get("handle_timeout_termination") is False, (
            "SB3 refuses optimize_memory_usage with handle_timeout_termination"
        )


@pytest.mark.filterwarnings(PPO_BATCH_WARNING)
@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_builds_its_env_and_model(path: Path) -> None:
    config = load_config(path, _build_overrides(path))
    family = env_family(config.env.id)
    try:
        ensure_registered(config.env.id)
    except MissingExtraError as e:
        assert family is not None and f"wnrl[{family}]" in str(e), str(e)
        if family not in STAND_INS:
            pytest.skip(f"{path.name}: {e}")
        # The agent settings still have to build a model on an env with the same kind of spaces.
        e_cfg = config.env
        env = make_vec_env(
            STAND_INS[family], n_envs=1, normalize_obs=e_cfg.normalize_obs, normalize_reward=e_cfg.normalize_reward
        )
    else:
        env = build_env(config)
    try:
        model = _make_model(config, env, path.name)
        assert type(model).__name__.lower() == config.agent.algo
        assert model.policy.norm == config.agent.norm
        assert any(isinstance(m, WeightNormMixin) for m in model.policy.modules())
        if config.agent.activation == "relu":
            assert any(isinstance(m, nn.ReLU) for m in model.policy.modules())
        for key, value in config.agent.policy_kwargs.items():
            assert getattr(model.policy, key) == value, key
        action, _ = model.predict(env.reset(), deterministic=True)
        assert env.action_space.contains(action[0])
        if isinstance(env.action_space, spaces.Discrete):
            assert np.issubdtype(np.asarray(action).dtype, np.integer)
    finally:
        env.close()


@pytest.mark.parametrize("norm", NORMS)
def test_norm_switch_builds_every_norm(norm: str) -> None:
    path = CONFIG_DIR / "cartpole_dqn.yaml"
    config = load_config(path, _build_overrides(path) + [f"agent.norm={norm}"])
    env = build_env(config)
    try:
        model = _make_model(config, env, path.name)
    finally:
        env.close()
    assert model.policy.norm == norm
    modules = list(model.policy.q_net.modules())
    kinds = {"weight": WeightNormMixin, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm, "meanbn": MeanOnlyBatchNorm}
    expected = {
        "none": set(),
        "batch": {"batch"},
        "layer": {"layer"},
        "weight": {"weight"},
        "weight_meanbn": {"weight", "meanbn"},
        "weight_proj": {"weight"},
        "batch_renorm": set(),
        "spectral": set(),
        "spectral_last": set(),
        "weight_proj_brn": {"weight"},
    }[norm]
    found = {k for k, cls in kinds.items() if any(isinstance(m, cls) for m in modules)}
    assert found == expected


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_norm_switch_on_an_image_config(norm: str) -> None:
    path = CONFIG_DIR / "minatar_breakout_dqn.yaml"
    try:
        ensure_registered("MinAtar/Breakout-v1")
    except MissingExtraError as e:
        pytest.skip(str(e))
    config = load_config(path, _build_overrides(path) + [f"agent.norm={norm}"])
    env = build_env(config)
    try:
        model = _make_model(config, env, path.name)
        model.predict(env.reset(), deterministic=True)
    finally:
        env.close()
    modules = list(model.policy.q_net.modules())
    assert not any(isinstance(m, WeightNormMixin) for m in modules)
    assert any(isinstance(m, nn.BatchNorm2d) for m in modules) == (norm == "batch")


def test_paper_optimizer_settings_from_the_atari_dqn_header() -> None:
    """The override the Atari DQN headers suggest for the paper's step size and momentum."""
    path = CONFIG_DIR / "atari_breakout_dqn.yaml"
    overrides = _suggested_overrides(path)
    assert len(overrides) == 2, overrides  # learning rate and betas
    config = load_config(path, overrides + _build_overrides(path))
    assert config.agent.hyperparams["learning_rate"] == pytest.approx(3e-4)
    assert config.agent.policy_kwargs["optimizer_kwargs"] == {"betas": [0.5, 0.999]}
    try:
        ensure_registered(config.env.id)
    except MissingExtraError as e:
        pytest.skip(str(e))
    env = build_env(config)
    try:
        model = _make_model(config, env, path.name)
    finally:
        env.close()
    assert tuple(model.policy.optimizer.defaults["betas"]) == (0.5, 0.999)
    assert model.policy.optimizer.defaults["lr"] == pytest.approx(3e-4)


def test_overrides_do_not_share_the_values_they_set() -> None:
    """A mapping set by a dotted key (a sweep's or tune's ``per:`` entry) is copied: validating the
    result must not write defaults back into its source (issue 29: tune.json's digest broke so)."""
    from wnrl.config.load import apply_overrides

    per = {"n_steps": 32}
    out = apply_overrides({"agent": {}}, [("agent.hyperparams", per)])
    out["agent"]["hyperparams"]["learning_rate"] = 1e-3
    assert per == {"n_steps": 32}

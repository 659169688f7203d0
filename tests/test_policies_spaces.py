"""wnrl's policies are drop-ins for SB3's ``MlpPolicy`` / ``CnnPolicy`` / ``MultiInputPolicy`` on
every observation space SB3 handles, for every norm and algorithm (the pattern of SB3's
``tests/test_spaces.py``, ``test_cnn.py`` and ``test_dict_env.py``).

Each case (algorithm × norm × space) builds a real SB3 model on a real env (SB3's own test envs
where possible), learns a few hundred steps with ``DataInitCallback``, predicts deterministically
and is saved; one fresh Python process then loads every saved model and must predict the same
actions. Tiny networks and few steps keep the whole matrix to about a minute on two cores.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.spaces.space import Space
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.envs import (
    FakeImageEnv,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecFrameStack, VecTransposeImage
from torch import nn

from wnrl.envs import ensure_registered, make_vec_env
from wnrl.nn import MeanOnlyBatchNorm, WeightNormConv2d, WeightNormLinear
from wnrl.policies import (
    NORMS,
    DataInitCallback,
    MinAtarCNN,
    NormActorCriticPolicy,
    NormCombinedExtractor,
    NormDQNPolicy,
    NormNatureCNN,
)

ALGOS: dict[str, type[BaseAlgorithm]] = {"dqn": DQN, "ppo": PPO, "a2c": A2C}
HYPERPARAMS: dict[str, dict[str, Any]] = {
    "dqn": dict(learning_starts=64, train_freq=16, batch_size=16, buffer_size=256, target_update_interval=32),
    "ppo": dict(n_steps=64, batch_size=32, n_epochs=1),
    "a2c": dict(n_steps=8),
}
STEPS = 128
N_OBS = 6  # observations predicted on, in this process and in the fresh one


@dataclass
class DummyEnv(gym.Env):
    """Random observations from any space (SB3's ``tests/test_spaces.py`` ``DummyEnv``)."""

    observation_space: Space
    action_space: Space

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, False, False, {}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if seed is not None:
            super().reset(seed=seed)
            self.observation_space.seed(seed)
        return self.observation_space.sample(), {}


def _vec(make: Callable[[], gym.Env], limit: int = 50) -> VecEnv:
    return DummyVecEnv([lambda: gym.wrappers.TimeLimit(make(), max_episode_steps=limit)])


def _dummy(obs_space: Space, algo: str) -> VecEnv:
    return _vec(lambda: DummyEnv(obs_space, spaces.Discrete(3)))


def _multi(identity: Callable[[], gym.Env], space: Space) -> Callable[[str], VecEnv]:
    """SB3's identity env (actions = observations) for PPO/A2C; DQN needs Discrete actions."""
    return lambda algo: _dummy(space, algo) if algo == "dqn" else _vec(identity)


def _stacked_channel_first(algo: str) -> VecEnv:
    """SB3's ``test_vec_transpose_skip``: 5 stacked channel-first frames, (50, 41, 40), which the
    channel heuristic would take for channel-last; ``VecTransposeImage(skip=True)`` keeps them."""
    env = _vec(lambda: FakeImageEnv(screen_height=41, screen_width=40, n_channels=10, channel_first=True))
    return VecTransposeImage(VecFrameStack(env, 5, channels_order="first"), skip=True)


def _minatar_raw(algo: str) -> VecEnv:
    """Raw MinAtar (bool, 10×10×C, channel-last), two frames stacked by SB3."""
    ensure_registered("MinAtar/Breakout-v1")
    return VecFrameStack(_vec(lambda: gym.make("MinAtar/Breakout-v1"), limit=200), 2)


BOX3 = spaces.Box(-1, 1, (4, 2, 2), np.float32)
DICT_VECTOR = spaces.Dict({"pos": spaces.Box(-1, 1, (3,), np.float32), "mode": spaces.Discrete(3)})

#: space name -> (env factory by algorithm, extractor class, SB3-style extractor kwargs)
SPACES: dict[str, tuple[Callable[[str], VecEnv], type, dict[str, Any]]] = {
    "box": (lambda algo: make_vec_env("CartPole-v1"), FlattenExtractor, {}),
    "image_hwc_84": (lambda algo: _vec(lambda: FakeImageEnv(n_channels=1)), NormNatureCNN, dict(features_dim=8)),
    "image_chw_64x48": (
        lambda algo: _vec(lambda: FakeImageEnv(screen_height=64, screen_width=48, n_channels=3, channel_first=True)),
        NormNatureCNN,
        dict(features_dim=8),
    ),
    "image_stacked_50x41x40": (_stacked_channel_first, NormNatureCNN, dict(features_dim=8)),
    "minatar_stack": (
        lambda algo: make_vec_env("MinAtar/Seaquest-v1", frame_stack=2),
        MinAtarCNN,
        dict(features_dim=8),
    ),
    "minatar_raw": (_minatar_raw, MinAtarCNN, dict(features_dim=8)),
    "box_4x2x2": (lambda algo: _dummy(BOX3, algo), FlattenExtractor, {}),
    "box_1x2x2": (lambda algo: _dummy(spaces.Box(0, 1, (1, 2, 2)), algo), FlattenExtractor, {}),
    "discrete": (lambda algo: make_vec_env("FrozenLake-v1"), FlattenExtractor, {}),
    "multidiscrete": (
        _multi(lambda: IdentityEnvMultiDiscrete(dim=3), spaces.MultiDiscrete([4, 3])),
        FlattenExtractor,
        {},
    ),
    "multibinary": (_multi(lambda: IdentityEnvMultiBinary(dim=4), spaces.MultiBinary(4)), FlattenExtractor, {}),
    "dict_image": (lambda algo: _vec(SimpleMultiObsEnv), NormCombinedExtractor, dict(cnn_output_dim=8)),
    "dict_vector": (lambda algo: _dummy(DICT_VECTOR, algo), NormCombinedExtractor, {}),
}

CASES = [(algo, norm, space) for algo in ALGOS for space in SPACES for norm in NORMS]
CNN_KINDS = {WeightNormConv2d: "weight", nn.BatchNorm2d: "batch", nn.GroupNorm: "layer", MeanOnlyBatchNorm: "meanbn"}
MLP_KINDS = {WeightNormLinear: "weight", nn.BatchNorm1d: "batch", nn.LayerNorm: "layer", MeanOnlyBatchNorm: "meanbn"}
EXPECTED_KINDS = {
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
}


def _kinds(module: nn.Module, kinds: dict[type, str]) -> set[str]:
    return {name for cls, name in kinds.items() if any(isinstance(m, cls) for m in module.modules())}


def _obs_batch(space: Space, n: int) -> Any:
    """``n`` observations as the env returns them (channel-last images stay channel-last)."""
    space.seed(1)
    if isinstance(space, spaces.Dict):
        return {k: np.stack([s.sample() for _ in range(n)]) for k, s in space.spaces.items()}
    return np.stack([space.sample() for _ in range(n)])


@dataclass
class Trained:
    """What a case left behind: its saved model, the inputs and the in-process actions."""

    path: str
    obs: Any
    actions: np.ndarray
    model: BaseAlgorithm
    callback: DataInitCallback


class Zoo:
    """Trains each case once (on first request) and saves it under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cases: dict[tuple[str, str, str], Trained] = {}

    def get(self, algo: str, norm: str, space: str) -> Trained:
        key = (algo, norm, space)
        if key not in self.cases:
            self.cases[key] = self._train(algo, norm, space)
        return self.cases[key]

    def _train(self, algo: str, norm: str, space: str) -> Trained:
        make_env, _, fe_kwargs = SPACES[space]
        env = make_env(algo)
        policy = NormDQNPolicy if algo == "dqn" else NormActorCriticPolicy
        policy_kwargs = dict(norm=norm, net_arch=[8], init_batch=64, features_extractor_kwargs=fe_kwargs)
        model = ALGOS[algo](policy, env, policy_kwargs=policy_kwargs, seed=0, device="cpu", **HYPERPARAMS[algo])
        callback = DataInitCallback()
        model.learn(STEPS, callback=callback)
        obs = _obs_batch(env.observation_space, N_OBS)
        actions, _ = model.predict(obs, deterministic=True)
        path = str(self.root / f"{algo}-{norm}-{space}.zip")
        model.save(path)
        env.close()
        return Trained(path, obs, actions, model, callback)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoo]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Zoo(tmp_path_factory.mktemp("zoo"))
    torch.set_num_threads(threads)


def _check_norm_layers(model: BaseAlgorithm, norm: str, extractor_cls: type) -> None:
    policy = model.policy
    extractor = policy.q_net.features_extractor if isinstance(model, DQN) else policy.features_extractor
    assert type(extractor) is extractor_cls
    hidden = policy.q_net.q_net[0] if isinstance(model, DQN) else policy.mlp_extractor
    assert _kinds(hidden, MLP_KINDS) == EXPECTED_KINDS[norm], "hidden layers"
    cnns = [extractor] if isinstance(extractor, (NormNatureCNN, MinAtarCNN)) else []
    if isinstance(extractor, NormCombinedExtractor):
        cnns = [m for m in extractor.extractors.values() if isinstance(m, (NormNatureCNN, MinAtarCNN))]
    for cnn in cnns:  # every CNN carries the norm, a Dict's sub-networks included
        assert _kinds(cnn.cnn, CNN_KINDS) == EXPECTED_KINDS[norm], "convolutions"


@pytest.mark.parametrize("algo, norm, space", CASES)
def test_every_space_builds_learns_and_predicts_deterministically(zoo: Zoo, algo: str, norm: str, space: str) -> None:
    case = zoo.get(algo, norm, space)
    model = case.model
    _check_norm_layers(model, norm, SPACES[space][1])
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())
    assert model.num_timesteps >= STEPS
    assert bool(model.policy.data_init_done)
    if norm.startswith("weight"):
        layers = case.callback.initialised_layers
        assert layers, "DataInitCallback initialises the weight-norm family"
        if SPACES[space][1] in (NormNatureCNN, MinAtarCNN) or space == "dict_image":
            assert any("features_extractor" in name for name in layers), layers
    again, _ = model.predict(case.obs, deterministic=True)
    np.testing.assert_array_equal(again, case.actions)
    assert len(case.actions) == N_OBS
    assert all(model.action_space.contains(np.asarray(a, dtype=model.action_space.dtype)) for a in case.actions)


LOADER = """
import json, pickle, sys
from stable_baselines3 import A2C, DQN, PPO
with open(sys.argv[1], "rb") as f:
    cases = pickle.load(f)
out = {}
for path, obs in cases.items():
    algo = path.rsplit("/", 1)[-1].split("-")[0]
    model = {"dqn": DQN, "ppo": PPO, "a2c": A2C}[algo].load(path, device="cpu")
    actions, _ = model.predict(obs, deterministic=True)
    p = model.policy
    out[path] = {"actions": actions.tolist(), "norm": p.norm, "done": bool(p.data_init_done),
                 "extractor": type(getattr(p, "q_net", p).features_extractor).__name__}
print(json.dumps(out))
"""


def test_fresh_process_loads_every_saved_model_with_identical_actions(zoo: Zoo, tmp_path: Path) -> None:
    """One subprocess loads all the saved models (not one process per case)."""
    trained = {key: zoo.get(*key) for key in CASES}
    with open(tmp_path / "cases.pkl", "wb") as f:
        pickle.dump({t.path: t.obs for t in trained.values()}, f)
    out = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path / "cases.pkl")], capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    for (_, norm, space), t in trained.items():
        got = loaded[t.path]
        assert got["actions"] == t.actions.tolist(), t.path
        assert got["norm"] == norm and got["done"] is True, t.path
        assert got["extractor"] == SPACES[space][1].__name__, t.path

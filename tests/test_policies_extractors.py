"""Which extractor a space gets (SB3's image rules plus MinAtar grids), what the extractors check,
data-dependent init on Dict and Discrete observations, DQN's first-minibatch init order, and the
errors wnrl shares with stock SB3 for inputs SB3 refuses."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.spaces.space import Space
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.envs import FakeImageEnv, SimpleMultiObsEnv
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from torch import nn

from wnrl.nn import WeightNormConv2d, weight_norm_layers
from wnrl.policies import (
    NORMS,
    DataInitCallback,
    MinAtarCNN,
    NormActorCriticPolicy,
    NormCombinedExtractor,
    NormDQNPolicy,
    NormNatureCNN,
    ObservationSpaceError,
    default_extractor,
)

LR = lambda _: 1e-3  # noqa: E731
U8 = np.uint8


@dataclass
class DummyEnv(gym.Env):
    """Random observations from any space (SB3's ``tests/test_spaces.py`` ``DummyEnv``)."""

    observation_space: Space
    action_space: Space

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, False, False, {}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        return self.observation_space.sample(), {}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


ROUTES = [  # (space, normalize_images, extractor)
    (spaces.Box(0, 255, (4, 84, 84), U8), True, NormNatureCNN),
    (spaces.Box(0, 255, (50, 41, 40), U8), True, NormNatureCNN),  # stacked channel-first (SB3 heuristic: last)
    (spaces.Box(0, 255, (3, 64, 48), U8), True, NormNatureCNN),
    (spaces.Box(0, 255, (1, 20, 20), U8), True, FlattenExtractor),  # below the Nature CNN's 36×36
    (spaces.Box(0, 1, (1, 36, 36), np.float32), True, FlattenExtractor),  # float: not an SB3 image
    (spaces.Box(-10, 10, (1, 36, 36), np.float32), False, NormNatureCNN),  # VecNormalize'd image
    (spaces.Box(0, 255, (4, 84, 84), np.float32), True, FlattenExtractor),
    (spaces.Box(0, 1, (20, 10, 10), np.float32), True, MinAtarCNN),  # wnrl's MinAtar, 2 frames
    (spaces.Box(0, 1, (20, 10, 10), np.float32), False, MinAtarCNN),
    (spaces.Box(0, 1, (10, 10, 4), bool), True, MinAtarCNN),  # raw MinAtar
    (spaces.Box(0, 2, (4, 10, 10), np.float32), True, FlattenExtractor),  # not 0/1
    (spaces.Box(0, 255, (4, 10, 10), U8), True, FlattenExtractor),
    (spaces.Box(-1, 1, (4, 2, 2), np.float32), True, FlattenExtractor),
    (spaces.Box(0, 1, (1, 2, 2), np.float32), False, FlattenExtractor),
    (spaces.Box(-1, 1, (4,), np.float32), True, FlattenExtractor),
    (spaces.Discrete(16), True, FlattenExtractor),
    (spaces.MultiDiscrete([4, 3]), True, FlattenExtractor),
    (spaces.MultiBinary((3, 2)), True, FlattenExtractor),
    (spaces.Dict({"img": spaces.Box(0, 255, (1, 64, 64), U8), "vec": spaces.Box(0, 1, (5,))}), True, None),
    (spaces.Dict({"a": spaces.Box(-1, 1, (2,)), "b": spaces.Discrete(3)}), True, None),
]


@pytest.mark.filterwarnings("ignore:observation space .* is not an SB3 image:UserWarning")
@pytest.mark.parametrize("space, normalize_images, expected", ROUTES, ids=lambda x: str(getattr(x, "shape", x)))
def test_default_extractor_follows_sb3s_image_rules_plus_minatar(space, normalize_images, expected) -> None:
    expected = expected or NormCombinedExtractor
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert default_extractor(space, normalize_images) is expected
    if expected is NormNatureCNN:
        assert is_image_space(space, normalized_image=not normalize_images), "an image by SB3's rule"
    image_like = isinstance(space, spaces.Box) and len(space.shape) == 3 and min(space.shape[1:]) >= 36
    advice = [
        w for w in caught if "is not an SB3 image" in str(w.message) and "normalize_images=False" in str(w.message)
    ]
    assert len(advice) == int(expected is FlattenExtractor and image_like), "flattening an image-like box is said"
    policy = NormActorCriticPolicy(space, spaces.Discrete(3), LR, normalize_images=normalize_images, norm="layer")
    assert type(policy.features_extractor) is expected
    obs = torch.as_tensor(np.stack([space.sample() for _ in range(4)])) if not isinstance(space, spaces.Dict) else None
    if obs is not None:
        assert policy.evaluate_actions(obs, torch.zeros(4))[0].shape == (4, 1)


@pytest.mark.parametrize("norm", NORMS)
def test_combined_extractor_puts_the_norm_in_every_cnn(norm: str) -> None:
    space = spaces.Dict(
        {
            "img": spaces.Box(0, 255, (3, 40, 48), U8),
            "grid": spaces.Box(0, 1, (4, 10, 10), np.float32),
            "vec": spaces.Box(-1, 1, (5,)),
            "mode": spaces.Discrete(3),
            "tiny": spaces.Box(0, 255, (1, 8, 8), U8),  # too small for the Nature CNN: flattened
        }
    )
    for cls in (NormActorCriticPolicy, NormDQNPolicy):
        policy = cls(space, spaces.Discrete(2), LR, norm=norm, features_extractor_kwargs=dict(cnn_output_dim=16))
        ext = policy.features_extractor if cls is NormActorCriticPolicy else policy.q_net.features_extractor
        assert isinstance(ext, NormCombinedExtractor) and ext.norm == norm
        subs = ext.extractors
        assert isinstance(subs["img"], NormNatureCNN) and isinstance(subs["grid"], MinAtarCNN)
        assert all(type(subs[k]) is nn.Flatten for k in ("vec", "mode", "tiny"))
        assert ext.features_dim == 16 + 16 + 5 + 3 + 64
        for key in ("img", "grid"):
            convs = [m for m in subs[key].modules() if isinstance(m, (nn.Conv2d, WeightNormConv2d))]
            assert convs and all(isinstance(c, WeightNormConv2d) == norm.startswith("weight") for c in convs), key
            assert subs[key].norm == norm
        if cls is NormActorCriticPolicy:
            assert policy.net_arch == dict(pi=[64, 64], vf=[64, 64]), "MultiInputPolicy's default net_arch"


def test_minatar_cnn_reads_raw_channel_last_grids_as_wnrls_channel_first_ones() -> None:
    torch.manual_seed(0)
    last = MinAtarCNN(spaces.Box(0, 1, (10, 10, 10), bool), norm="weight")  # raw Seaquest
    first = MinAtarCNN(spaces.Box(0, 1, (10, 10, 10), np.float32), norm="weight")  # wnrl's Seaquest
    assert last.channels_last and not first.channels_last
    first.load_state_dict(last.state_dict())
    x = torch.rand(5, 10, 10, 10) > 0.5  # (N, H, W, C)
    with torch.no_grad():
        torch.testing.assert_close(last(x), first(x.permute(0, 3, 1, 2)))
    assert not MinAtarCNN(spaces.Box(0, 1, (8, 10, 10), bool)).channels_last


def test_extractors_refuse_what_they_cannot_take() -> None:
    with pytest.raises(AssertionError, match="You should use NormNatureCNN only with images"):
        NormNatureCNN(spaces.Box(0, 1, (3, 84, 84), np.float32))  # float, as SB3's NatureCNN
    NormNatureCNN(spaces.Box(0, 1, (3, 84, 84), np.float32), normalized_image=True)  # SB3's escape hatch
    with pytest.raises(AssertionError, match="must be used with a gym.spaces.Box"):
        NormNatureCNN(spaces.Discrete(3))
    with pytest.raises(ObservationSpaceError, match="at least 36×36"):
        NormNatureCNN(spaces.Box(0, 255, (1, 20, 20), U8))
    with pytest.raises(ObservationSpaceError, match="3-d Box"):
        MinAtarCNN(spaces.Box(0, 1, (100,)))
    with pytest.raises(ObservationSpaceError, match="at least 3×3"):
        MinAtarCNN(spaces.Box(0, 1, (1, 2, 2)))
    with pytest.raises(TypeError, match="needs a Dict observation space"):
        NormCombinedExtractor(spaces.Box(0, 1, (3,)))  # type: ignore[arg-type]


def test_explicit_wnrl_extractor_gets_the_policys_norm_and_sb3s_normalized_image_flag() -> None:
    space = spaces.Box(-10, 10, (1, 36, 36), np.float32)  # a float image: needs normalized_image
    policy = NormActorCriticPolicy(
        space, spaces.Discrete(2), LR, norm="weight", normalize_images=False, features_extractor_class=NormNatureCNN
    )
    assert policy.features_extractor.norm == "weight"
    assert policy.features_extractor_kwargs == {}, "the user's kwargs, as saved with the model"
    image = spaces.Box(0, 255, (1, 36, 36), U8)
    own = NormDQNPolicy(image, spaces.Discrete(2), LR, norm="weight", features_extractor_kwargs=dict(norm="batch"))
    assert own.q_net.features_extractor.norm == "batch", "an explicit extractor norm wins"


def _unit(t: torch.Tensor) -> bool:
    dims = [0, 2, 3] if t.dim() == 4 else [0]
    return bool(t.mean(dims).abs().max() < 1e-3 and (t.std(dims, unbiased=False) - 1).abs().max() < 1e-2)


def test_data_init_on_dict_numpy_batch_transposes_images_and_gives_unit_preactivations() -> None:
    env = SimpleMultiObsEnv()  # image key channel-last (64, 64, 1): obs_to_tensor transposes it
    space = spaces.Dict({"vec": env.observation_space["vec"], "img": spaces.Box(0, 255, (1, 64, 64), U8)})
    policy = NormActorCriticPolicy(space, spaces.Discrete(4), LR, norm="weight", net_arch=[16])
    rng = np.random.default_rng(0)
    batch = {"vec": rng.random((64, 5)), "img": rng.integers(0, 256, (64, 64, 64, 1), dtype=U8)}
    names = policy.data_init(batch)
    assert names[:4] == [f"features_extractor.extractors.img.{m}" for m in ("cnn.0", "cnn.2", "cnn.4", "linear.0")]
    out: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda _, __, o, n=n: out.__setitem__(n, o)) for n, m in weight_norm_layers(policy)
    ]
    obs, _ = policy.obs_to_tensor(batch)
    policy.set_training_mode(True)
    with torch.no_grad():
        policy._ddi_forward(obs)
    for h in hooks:
        h.remove()
    assert all(_unit(out[n]) for n in names), "every initialised layer has unit pre-activations"


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "Taxi-v4"])
def test_dqn_data_init_from_replay_of_discrete_observations(env_id: str) -> None:
    model = DQN(
        NormDQNPolicy,
        env_id,
        policy_kwargs=dict(norm="weight", net_arch=[8], init_batch=64),
        learning_starts=64,
        buffer_size=200,
        seed=0,
        device="cpu",
    )
    callback = DataInitCallback()
    model.learn(64, callback=callback)
    assert callback.initialised_layers == ["q_net.0.0"]


def test_dqn_first_minibatch_init_runs_before_the_target_computes_td_targets() -> None:
    """Without DataInitCallback: DQN.train() evaluates the target first; the target must already be
    the initialised network (before the fix its first TD targets came from the uninitialised one)."""
    model = DQN(
        NormDQNPolicy,
        "CartPole-v1",
        policy_kwargs=dict(norm="weight", net_arch=[16]),
        learning_starts=64,
        train_freq=64,
        batch_size=32,
        seed=0,
        device="cpu",
    )
    policy, seen = model.policy, []

    def record(module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
        if not seen:
            seen.append((bool(policy.data_init_done), out, policy.q_net(args[0])))

    model.policy.q_net_target.register_forward_hook(record)
    with pytest.warns(RuntimeWarning, match="first training minibatch"):
        model.learn(128)  # one update, at step 128
    done, target_q, online_q = seen[0]
    assert done, "initialised before the target's first forward pass"
    torch.testing.assert_close(target_q, online_q)  # and copied to the target


def _raises(fn: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as info:
        fn()
    return info.value


def _image_env(**kw: Any) -> DummyVecEnv:
    return DummyVecEnv([lambda: FakeImageEnv(**kw)])


NESTED = spaces.Dict({"a": spaces.Dict({"b": spaces.Box(0, 1, (2,))})})
AC = NormActorCriticPolicy
# (stock SB3, wnrl): the same input, refused by both with the same kind of exception
REFUSED: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
    "cnn_on_vector": (
        lambda: PPO("CnnPolicy", "CartPole-v1"),
        lambda: PPO(AC, "CartPole-v1", policy_kwargs=dict(features_extractor_class=NormNatureCNN)),
    ),
    "cnn_on_vecnormalized_image": (  # SB3's test_image_like_input with normalize_images=True
        lambda: PPO("CnnPolicy", VecNormalize(_image_env(screen_height=36, screen_width=36, channel_first=True))),
        lambda: PPO(
            AC,
            VecNormalize(_image_env(screen_height=36, screen_width=36, channel_first=True)),
            policy_kwargs=dict(features_extractor_class=NormNatureCNN),
        ),
    ),
    "cnn_on_small_image": (
        lambda: PPO("CnnPolicy", _image_env(screen_height=20, screen_width=20)),
        lambda: PPO(
            AC,
            _image_env(screen_height=20, screen_width=20),
            policy_kwargs=dict(features_extractor_class=NormNatureCNN),
        ),
    ),
    "nested_dict": (
        lambda: PPO("MultiInputPolicy", DummyEnv(NESTED, spaces.Discrete(2))),
        lambda: PPO(AC, DummyEnv(NESTED, spaces.Discrete(2))),
    ),
    "tuple_obs": (
        lambda: A2C("MlpPolicy", DummyEnv(spaces.Tuple([spaces.Box(0, 1, (2,))]), spaces.Discrete(2))),
        lambda: A2C(AC, DummyEnv(spaces.Tuple([spaces.Box(0, 1, (2,))]), spaces.Discrete(2))),
    ),
    "dqn_box_actions": (lambda: DQN("MlpPolicy", "Pendulum-v1"), lambda: DQN(NormDQNPolicy, "Pendulum-v1")),
    "box_obs_wrong_shape": (
        lambda: PPO("MlpPolicy", "CartPole-v1").predict(np.zeros((2, 5))),
        lambda: PPO(AC, "CartPole-v1").predict(np.zeros((2, 5))),
    ),
    "discrete_obs_wrong_shape": (
        lambda: DQN("MlpPolicy", "FrozenLake-v1").predict(np.zeros((2, 2))),
        lambda: DQN(NormDQNPolicy, "FrozenLake-v1").predict(np.zeros((2, 2))),
    ),
    "image_obs_wrong_size": (
        lambda: PPO("CnnPolicy", _image_env(screen_height=40, screen_width=40)).predict(np.zeros((41, 40, 1), U8)),
        lambda: PPO(AC, _image_env(screen_height=40, screen_width=40)).predict(np.zeros((41, 40, 1), U8)),
    ),
    "dict_obs_given_an_array": (
        lambda: PPO("MultiInputPolicy", SimpleMultiObsEnv()).predict(np.zeros(5)),
        lambda: PPO(AC, SimpleMultiObsEnv()).predict(np.zeros(5)),
    ),
    "multidim_multibinary_actions": (
        lambda: A2C("MlpPolicy", DummyEnv(spaces.Box(-1, 1, (2,)), spaces.MultiBinary([2, 3]))),
        lambda: A2C(AC, DummyEnv(spaces.Box(-1, 1, (2,)), spaces.MultiBinary([2, 3]))),
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_wnrl_refuses_what_stock_sb3_refuses_with_the_same_kind_of_error(case: str) -> None:
    stock_fn, wnrl_fn = REFUSED[case]
    stock, ours = _raises(stock_fn), _raises(wnrl_fn)
    assert isinstance(ours, type(stock)), f"SB3 raised {stock!r}, wnrl {ours!r}"
    assert str(ours), "with a message"
    if case == "cnn_on_small_image":  # SB3's is torch's kernel-size error; wnrl's says what to do
        assert "at least 36×36" in str(ours) and isinstance(ours, ValueError)


def test_vecnormalized_images_with_normalize_images_false_as_sb3() -> None:
    """SB3's ``test_image_like_input``: ``normalize_images=False`` takes VecNormalize'd images as
    (normalized) images; the default (True) flattens them, as ``MlpPolicy`` does."""
    for normalize_images, expected in ((False, NormNatureCNN), (True, FlattenExtractor)):
        env = VecNormalize(_image_env(screen_height=36, screen_width=36, channel_first=True))
        kw = dict(normalize_images=normalize_images, norm="weight", net_arch=[8], init_batch=32)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            models = (
                PPO(AC, env, n_steps=32, batch_size=32, n_epochs=1, policy_kwargs=kw, seed=0),
                DQN(NormDQNPolicy, env, learning_starts=32, buffer_size=100, policy_kwargs=kw, seed=0),
            )
        advice = [w for w in caught if "pass normalize_images=False" in str(w.message)]
        assert len(advice) == (0 if expected is NormNatureCNN else 2), "flattening an image-like space is said"
        for model in models:
            model.learn(64, callback=DataInitCallback())
            ext = getattr(model.policy, "q_net", model.policy).features_extractor
            assert type(ext) is expected and bool(model.policy.data_init_done)

"""Normalized SB3 policies: construction, modes, init, projection, image observations.

Real SB3 models on CartPole / real spaces; no mocks.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from gymnasium import spaces
from sb3_contrib.crossq.policies import CrossQPolicy
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.dqn.policies import DQNPolicy
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from wnrl import agents
from wnrl.nn import BATCH_NORMS, MeanOnlyBatchNorm, WeightNormConv2d, WeightNormLinear, weight_norm_layers
from wnrl.policies import (
    NORMS,
    DataInitCallback,
    MinAtarCNN,
    NormActorCriticPolicy,
    NormCrossQPolicy,
    NormDQNPolicy,
    NormNatureCNN,
    NormSACPolicy,
    NormTD3Policy,
)

FAST_PPO = dict(n_steps=64, batch_size=64, n_epochs=2)
FAST_DQN = dict(learning_starts=200, train_freq=4, target_update_interval=100, buffer_size=5000)


def _finite(model) -> bool:
    return all(torch.isfinite(p).all() for p in model.policy.parameters())


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("algo", ["dqn", "ppo", "a2c"])
def test_every_algo_and_norm_trains_without_nan(algo: str, norm: str) -> None:
    hp = {"dqn": FAST_DQN, "ppo": FAST_PPO, "a2c": dict(n_steps=8)}[algo]
    env = make_vec_env("CartPole-v1", n_envs=1 if algo == "dqn" else 4, seed=0)
    model = agents.make(algo, env, norm=norm, net_arch=[32, 32], hyperparams=hp, seed=0, device="cpu")
    assert model.policy.norm == norm
    callback = DataInitCallback()
    model.learn(1500, callback=callback)
    assert _finite(model)
    obs = env.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (env.num_envs,)
    if norm.startswith("weight"):
        assert callback.initialised_layers, "weight norms initialise from data by default"
    assert bool(model.policy.data_init_done)


def test_unknown_norm_fails_at_construction_with_valid_list() -> None:
    with pytest.raises(ValueError, match="weigth.*valid values: none, batch, layer, weight"):
        PPO(NormActorCriticPolicy, "CartPole-v1", policy_kwargs=dict(norm="weigth"))


def test_plain_sb3_api_from_the_issue() -> None:
    dqn = DQN(NormDQNPolicy, "CartPole-v1", policy_kwargs=dict(norm="weight"))
    ppo = PPO(NormActorCriticPolicy, "CartPole-v1", policy_kwargs=dict(norm="weight", net_arch=[64, 64]))
    assert any(isinstance(m, WeightNormLinear) for m in dqn.policy.q_net.modules())
    assert any(isinstance(m, WeightNormLinear) for m in ppo.policy.mlp_extractor.modules())
    # Heads stay plain by default; norm_output=True normalizes them.
    assert type(ppo.policy.action_net) is nn.Linear and type(dqn.policy.q_net.q_net[1]) is nn.Linear
    ppo2 = PPO(NormActorCriticPolicy, "CartPole-v1", policy_kwargs=dict(norm="weight", norm_output=True))
    assert isinstance(ppo2.policy.action_net, WeightNormLinear)
    head_params = {id(p) for p in ppo2.policy.action_net.parameters()}
    optimised = {id(p) for group in ppo2.policy.optimizer.param_groups for p in group["params"]}
    assert head_params <= optimised, "the optimizer must see the replaced heads' parameters"


def test_sb3_keywords_keep_working() -> None:
    model = PPO(
        NormActorCriticPolicy,
        "CartPole-v1",
        policy_kwargs=dict(
            norm="layer",
            net_arch=dict(pi=[16], vf=[32, 32]),
            activation_fn=nn.ReLU,
            share_features_extractor=False,
            optimizer_class=torch.optim.RMSprop,
        ),
    )
    p = model.policy
    assert isinstance(p.optimizer, torch.optim.RMSprop)
    assert p.mlp_extractor.latent_dim_pi == 16 and p.mlp_extractor.latent_dim_vf == 32
    assert any(isinstance(m, nn.LayerNorm) for m in p.mlp_extractor.modules())
    assert any(isinstance(m, nn.ReLU) for m in p.mlp_extractor.modules())
    assert p.pi_features_extractor is not p.vf_features_extractor
    model.learn(256)


def test_orthogonal_init_reaches_weight_norm_layers() -> None:
    """The effective weights of a weight-norm PPO policy have the singular values of a stock
    SB3 policy's orthogonal init (gain √2 hidden, 0.01 action head, 1 value head)."""
    kw = dict(net_arch=[64, 64], ortho_init=True)
    stock = PPO("MlpPolicy", "CartPole-v1", policy_kwargs=kw, seed=0).policy
    ours = PPO(
        NormActorCriticPolicy,
        "CartPole-v1",
        seed=0,
        policy_kwargs=dict(kw, norm="weight", data_init=False, norm_output=True),
    ).policy

    def weights(policy) -> list[torch.Tensor]:
        mods = [m for m in policy.mlp_extractor.policy_net if hasattr(m, "weight")]
        return [m.weight.detach() for m in mods] + [policy.action_net.weight.detach(), policy.value_net.weight.detach()]

    for w_stock, w_ours in zip(weights(stock), weights(ours), strict=True):
        s1, s2 = torch.linalg.svdvals(w_stock), torch.linalg.svdvals(w_ours)
        torch.testing.assert_close(s1, s2, atol=1e-5, rtol=1e-5)
    # Without the fix a weight-norm layer keeps its N(0, 0.05²)-style init: far from orthogonal.
    raw = WeightNormLinear(64, 64)
    assert not torch.allclose(torch.linalg.svdvals(raw.weight.detach()), torch.full((64,), 2**0.5), atol=0.1)


NORM_OPTIONS = dict(norm="weight", norm_output=False, data_init=None, init_scale=1.0, init_batch=1024)
#: The off-policy policies' options (SAC, TD3 and CrossQ), besides NORM_OPTIONS.
OFF_POLICY_OPTIONS = dict(actor_norm=None, critic_norm=None, fast_optimizer=True)
#: CrossQ's batch-renorm settings, SAC's and TD3's options (CrossQPolicy takes them itself).
BRN_OPTIONS = dict(batch_norm_momentum=0.01, batch_norm_eps=0.001, renorm_warmup_steps=100_000)


@pytest.mark.parametrize(
    "cls, sb3_cls, extra",
    [
        (NormActorCriticPolicy, ActorCriticPolicy, dict(bn_running_stats_in_update=False, fast_optimizer=True)),
        (NormDQNPolicy, DQNPolicy, dict(fast_optimizer=True)),
        (NormSACPolicy, SACPolicy, dict(OFF_POLICY_OPTIONS, **BRN_OPTIONS)),
        (NormTD3Policy, TD3Policy, dict(OFF_POLICY_OPTIONS, **BRN_OPTIONS)),
        (NormCrossQPolicy, CrossQPolicy, dict(OFF_POLICY_OPTIONS, norm="batch_renorm")),
    ],
    ids=["actor_critic", "dqn", "sac", "td3", "crossq"],
)
def test_signature_is_sb3s_plus_typed_documented_keyword_only_options(cls, sb3_cls, extra) -> None:
    ours, sb3 = inspect.signature(cls).parameters, inspect.signature(sb3_cls).parameters
    assert [n for n, p in ours.items() if p.kind is p.POSITIONAL_OR_KEYWORD] == list(sb3), (
        "every SB3 argument, in SB3's order"
    )
    for name, p in sb3.items():
        if name != "features_extractor_class":  # None: chosen from the observation space
            assert ours[name].default == p.default, name
    options = {n: p for n, p in ours.items() if p.kind is p.KEYWORD_ONLY}
    assert {n: p.default for n, p in options.items()} == {**NORM_OPTIONS, **extra}
    assert all(p.annotation is not p.empty for p in options.values())
    assert all(f":param {n}:" in cls.__doc__ for n in options)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nrom'"):
        cls(spaces.Box(-1, 1, (4,)), spaces.Discrete(2), lambda _: 1e-3, nrom="weight")


class _CountingAdam(torch.optim.Adam):
    """Adam recording its instances: how many optimizers a policy builds."""

    instances: list[torch.optim.Optimizer] = []

    def __init__(self, params, **kwargs) -> None:
        super().__init__(params, **kwargs)
        _CountingAdam.instances.append(self)


def _effective_weights(module: nn.Module) -> list[torch.Tensor]:
    return [m.weight.detach() for m in module.modules() if isinstance(m, (nn.Linear, WeightNormLinear))]


def test_norm_output_heads_are_weight_norm_before_the_one_optimizer() -> None:
    """norm_output=True: SB3's orthogonal init reaches the weight-norm heads (the effective weights
    are the stock policy's, same seed) and one optimizer is built, over exactly the policy's
    parameters."""
    kw = dict(net_arch=[64, 64], optimizer_class=_CountingAdam)
    stock = PPO("MlpPolicy", "CartPole-v1", policy_kwargs=kw, seed=0).policy
    _CountingAdam.instances.clear()
    ours = PPO(
        NormActorCriticPolicy,
        "CartPole-v1",
        seed=0,
        policy_kwargs=dict(kw, norm="weight", data_init=False, norm_output=True),
    ).policy
    assert _CountingAdam.instances == [ours.optimizer], "exactly one optimizer"
    assert isinstance(ours.action_net, WeightNormLinear) and isinstance(ours.value_net, WeightNormLinear)
    optimised = [p for group in ours.optimizer.param_groups for p in group["params"]]
    assert [id(p) for p in optimised] == [id(p) for p in ours.parameters()]
    stock_weights, our_weights = _effective_weights(stock), _effective_weights(ours)
    assert len(our_weights) == 6
    for w_stock, w_ours in zip(stock_weights, our_weights, strict=True):
        torch.testing.assert_close(w_ours, w_stock, rtol=1e-5, atol=1e-6)


def test_dqn_builds_one_mlp_with_stock_keys_and_weights() -> None:
    """norm='none' is SB3's Q-network: no plain MLP is built (and its init drawn) before the
    normalized one, so the same seed gives the stock initial weights; the keys stay wnrl's."""
    stock = DQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[32, 32]), seed=0).policy
    ours = DQN(NormDQNPolicy, "CartPole-v1", policy_kwargs=dict(norm="none", net_arch=[32, 32]), seed=0).policy
    for net in ("q_net", "q_net_target"):
        for p, q in zip(getattr(stock, net).parameters(), getattr(ours, net).parameters(), strict=True):
            torch.testing.assert_close(q, p, rtol=0, atol=0)
    assert list(ours.q_net.state_dict()) == [f"q_net.{i}.{k}" for i in ("0.0", "0.2", "1") for k in ("weight", "bias")]


def _preactivations(policy, obs: torch.Tensor) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    hooks = [
        layer.register_forward_hook(lambda m, i, o, n=name: out.__setitem__(n, o))
        for name, layer in weight_norm_layers(policy)
    ]
    try:
        policy.set_training_mode(True)
        with torch.no_grad():
            policy._ddi_forward(obs)
    finally:
        for h in hooks:
            h.remove()
    return out


@pytest.mark.parametrize("norm", ["weight", "weight_meanbn", "weight_proj"])
def test_data_init_gives_unit_preactivations_on_the_init_batch(norm: str) -> None:
    env = make_vec_env("CartPole-v1", n_envs=4, seed=1)
    model = PPO(NormActorCriticPolicy, env, policy_kwargs=dict(norm=norm, net_arch=[64, 64]), seed=1)
    obs = np.concatenate(
        [env.reset()] + [env.step(np.array([env.action_space.sample() for _ in range(4)]))[0] for _ in range(200)]
    )
    obs_t = torch.as_tensor(obs, dtype=torch.float32)
    before = _preactivations(model.policy, obs_t)
    names = model.policy.data_init(obs)
    assert len(names) == 4  # 2 hidden layers × (actor, critic); heads untouched
    after = _preactivations(model.policy, obs_t)
    for name in names:
        t = after[name]
        torch.testing.assert_close(t.mean(0), torch.zeros(t.shape[1]), atol=1e-4, rtol=0)
        torch.testing.assert_close(t.std(0, unbiased=False), torch.ones(t.shape[1]), atol=1e-3, rtol=0)
        assert (before[name].std(0) - 1).abs().max() > 0.05, "the check must see a change"


def test_dqn_data_init_from_replay_warmup_copies_to_target() -> None:
    model = DQN(
        NormDQNPolicy,
        "CartPole-v1",
        policy_kwargs=dict(norm="weight", init_batch=256),
        learning_starts=300,
        train_freq=4,
        seed=0,
    )
    callback = DataInitCallback()
    model.learn(300, callback=callback)  # exactly the warm-up: no update has happened yet
    assert callback.initialised_layers == ["q_net.0.0", "q_net.0.2"]
    obs = torch.as_tensor(model.replay_buffer.observations[:299, 0])
    with torch.no_grad():
        torch.testing.assert_close(model.policy.q_net(obs), model.policy.q_net_target(obs))
        h = model.policy.q_net.q_net[0][0](obs)
    assert h.mean(0).abs().max() < 0.3 and (h.std(0) - 1).abs().max() < 0.3


def test_without_callback_init_runs_on_first_minibatch_with_warning() -> None:
    model = PPO(
        NormActorCriticPolicy,
        "CartPole-v1",
        policy_kwargs=dict(norm="weight"),
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        seed=0,
    )
    with pytest.warns(RuntimeWarning, match="first training minibatch"):
        model.learn(64)
    assert bool(model.policy.data_init_done)


def test_set_training_mode_toggles_batch_norm_and_dqn_target_follows() -> None:
    model = DQN(
        NormDQNPolicy,
        "CartPole-v1",
        policy_kwargs=dict(norm="batch", net_arch=[16]),
        learning_starts=100,
        train_freq=1,
        target_update_interval=50,
        seed=0,
    )
    bns = [m for m in model.policy.q_net.modules() if isinstance(m, nn.BatchNorm1d)]
    assert bns
    model.policy.set_training_mode(True)
    assert all(m.training for m in bns)
    model.policy.set_training_mode(False)
    assert not any(m.training for m in bns)
    assert not any(m.training for m in model.policy.q_net_target.modules())
    model.learn(500)
    online = model.policy.q_net.q_net[0][1]
    target = model.policy.q_net_target.q_net[0][1]
    assert online.running_mean.abs().sum() > 0, "running statistics were updated"
    # The target copies the online statistics at its last update (SB3 batch_norm_stats copy).
    model.policy.q_net_target.load_state_dict(model.policy.q_net.state_dict())
    torch.testing.assert_close(online.running_mean, target.running_mean)


def test_dqn_target_batch_norm_stats_copied_by_sb3_update() -> None:
    model = DQN(
        NormDQNPolicy,
        "CartPole-v1",
        policy_kwargs=dict(norm="weight_meanbn", net_arch=[16]),
        learning_starts=100,
        train_freq=1,
        target_update_interval=1,
        seed=0,
    )
    model.learn(300)
    online = [m for m in model.policy.q_net.modules() if isinstance(m, MeanOnlyBatchNorm)]
    target = [m for m in model.policy.q_net_target.modules() if isinstance(m, MeanOnlyBatchNorm)]
    assert online and online[0].running_mean.abs().sum() > 0
    model.train(gradient_steps=1, batch_size=32)  # changes the online stats only
    model._on_step()  # target_update_interval=1: SB3 copies parameters and running_* buffers
    torch.testing.assert_close(online[0].running_mean, target[0].running_mean)


def test_weight_proj_keeps_unit_v_after_training_and_function_unchanged() -> None:
    model = PPO(
        NormActorCriticPolicy,
        "CartPole-v1",
        policy_kwargs=dict(norm="weight_proj"),
        n_steps=128,
        batch_size=64,
        n_epochs=2,
        seed=0,
    )
    model.learn(512, callback=DataInitCallback())
    layers = list(weight_norm_layers(model.policy))
    assert layers
    for _, layer in layers:
        torch.testing.assert_close(layer._v_norm(), torch.ones(layer.v.shape[0]), atol=1e-5, rtol=0)
    # One more optimizer step through the hook: still unit, and plain weight norm would drift.
    obs = torch.randn(32, 4)
    loss = model.policy.evaluate_actions(obs, torch.zeros(32))[0].pow(2).mean()
    model.policy.optimizer.zero_grad()
    loss.backward()
    model.policy.optimizer.step()
    for _, layer in layers:
        torch.testing.assert_close(layer._v_norm(), torch.ones(layer.v.shape[0]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("norm", ["batch", "weight_meanbn"])
def test_batch_norm_ppo_logprob_mismatch_and_remedy(norm: str) -> None:
    """BN (and mean-only BN) makes PPO's update see a different function than the rollout; the
    remedy removes it for every minibatch of the update, and still trains (backward through the
    snapshot)."""

    def mismatch(remedy: bool) -> float:
        model = PPO(
            NormActorCriticPolicy,
            "CartPole-v1",
            seed=0,
            n_steps=64,
            batch_size=64,
            policy_kwargs=dict(norm=norm, bn_running_stats_in_update=remedy),
        )
        model.learn(256, callback=DataInitCallback())  # running statistics from real data
        rng = np.random.default_rng(0)
        batches = [torch.as_tensor(rng.normal(0, 0.5, (64, 4)), dtype=torch.float32) for _ in range(3)]
        actions = torch.as_tensor(rng.integers(0, 2, 64))
        policy = model.policy
        policy.set_training_mode(False)
        with torch.no_grad():
            rollout = [policy.evaluate_actions(obs, actions)[1] for obs in batches]
        policy.set_training_mode(True)
        with torch.no_grad():  # minibatches in sequence, as PPO.train() sees them
            update = [policy.evaluate_actions(obs, actions)[1] for obs in batches * 2]
        return max(float((r - u).abs().mean()) for r, u in zip(rollout * 2, update, strict=True))

    assert mismatch(remedy=False) > 1e-3
    assert mismatch(remedy=True) < 1e-6
    model = PPO(
        NormActorCriticPolicy,
        "CartPole-v1",
        seed=0,
        n_steps=128,
        batch_size=64,
        n_epochs=2,
        policy_kwargs=dict(norm=norm, bn_running_stats_in_update=True),
    )
    bn = next(m for m in model.policy.modules() if isinstance(m, BATCH_NORMS))
    model.learn(512, callback=DataInitCallback())
    assert _finite(model) and bn.running_mean.abs().sum() > 0, "live statistics keep learning"


ATARI = spaces.Box(0, 255, (4, 84, 84), np.uint8)
MINATAR = spaces.Box(0.0, 1.0, (6, 10, 10), np.float32)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("space", [ATARI, MINATAR], ids=["atari", "minatar"])
def test_cnn_policies_on_image_observations(norm: str, space: spaces.Box) -> None:
    actions = spaces.Discrete(5)
    lr = lambda _: 1e-3  # noqa: E731
    obs = torch.as_tensor(np.stack([space.sample() for _ in range(8)]))
    dqn = NormDQNPolicy(space, actions, lr, norm=norm)
    ppo = NormActorCriticPolicy(space, actions, lr, norm=norm)
    expected = NormNatureCNN if space is ATARI else MinAtarCNN
    for policy, extractor in ((dqn, dqn.q_net.features_extractor), (ppo, ppo.features_extractor)):
        assert isinstance(extractor, expected)
        policy.data_init(obs) if policy.data_init_enabled else None
        policy.set_training_mode(False)
        act, _ = policy.predict(obs.numpy(), deterministic=True)
        assert act.shape == (8,)
    if norm.startswith("weight"):
        assert any(isinstance(m, WeightNormConv2d) for m in dqn.q_net.features_extractor.modules())
    # As SB3 does for its NatureCNN: no extra hidden layers between the CNN's dense layer and heads.
    assert len(dqn.q_net.q_net[0]) == 0 and ppo.mlp_extractor.latent_dim_pi == ppo.features_dim
    values, logp, _ = ppo.evaluate_actions(obs, torch.zeros(8))
    assert torch.isfinite(values).all() and torch.isfinite(logp).all()


@pytest.mark.parametrize(
    "cls, sb3_cls",
    [(NormSACPolicy, SACPolicy), (NormTD3Policy, TD3Policy), (NormCrossQPolicy, CrossQPolicy)],
    ids=["sac", "td3", "crossq"],
)
def test_off_policy_cnn_keeps_sb3s_default_hidden_layers(cls, sb3_cls) -> None:
    """Unlike DQN's and PPO's (above), the off-policy policies keep SB3's default ``net_arch``
    after a CNN chosen for the observations; a given one is used as it is."""
    lr = lambda _: 1e-3  # noqa: E731
    actions = spaces.Box(-1, 1, (2,))
    policy = cls(MINATAR, actions, lr, norm="layer")
    assert isinstance(policy.actor.features_extractor, MinAtarCNN)
    stock = sb3_cls(MINATAR, actions, lr)
    assert stock.actor.net_arch and policy.actor.net_arch == stock.actor.net_arch
    assert stock.critic_kwargs["net_arch"] and policy.critic_kwargs["net_arch"] == stock.critic_kwargs["net_arch"]
    assert cls(MINATAR, actions, lr, norm="layer", net_arch=[8]).actor.net_arch == [8]


def test_a2c_and_continuous_actions_with_ppo() -> None:
    model = PPO(
        NormActorCriticPolicy,
        "Pendulum-v1",
        policy_kwargs=dict(norm="weight"),
        n_steps=128,
        batch_size=64,
        n_epochs=1,
        seed=0,
    )
    model.learn(256, callback=DataInitCallback())
    assert _finite(model)
    a2c = A2C(NormActorCriticPolicy, "CartPole-v1", policy_kwargs=dict(norm="weight_meanbn"), seed=0)
    a2c.learn(200, callback=DataInitCallback())
    assert _finite(a2c)


def test_dqn_on_continuous_env_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="DQN needs a Discrete action space"):
        agents.make("dqn", "Pendulum-v1")

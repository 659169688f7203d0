"""The speed paths of wnrl's policies and layers compute what the plain paths compute.

The fused/foreach optimizer default (overridable, recorded, saved, with a fallback), the direct
weight-norm kernel call on CPU, the lean ``set_training_mode`` / ``device``, and DQN's
self-removing data-init hooks. No timings are asserted (see ``benchmarks/``).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO
from torch import nn

import wnrl.nn.weight_norm as wn_module
from wnrl.nn import WeightNormConv2d, WeightNormLinear
from wnrl.policies import DataInitCallback, NormActorCriticPolicy, NormDQNPolicy, speed


def _ppo(**policy_kwargs) -> PPO:
    return PPO(NormActorCriticPolicy, "CartPole-v1", n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu",
               policy_kwargs={"norm": "weight", **policy_kwargs})  # fmt: skip


def _dqn(**policy_kwargs) -> DQN:
    return DQN(NormDQNPolicy, "CartPole-v1", learning_starts=50, buffer_size=1000, batch_size=16, seed=0,
               device="cpu", policy_kwargs={"norm": "weight", **policy_kwargs})  # fmt: skip


@pytest.mark.parametrize("make", [_ppo, _dqn], ids=["ppo", "dqn"])
def test_adam_is_fused_by_default_and_user_choices_win(make) -> None:
    model = make()
    assert model.policy.optimizer.param_groups[0]["fused"] is True
    assert model.policy.optimizer_impl == "fused"
    assert "fused" not in model.policy.optimizer_kwargs  # the user's kwargs stay the user's
    assert make(optimizer_kwargs=dict(foreach=True)).policy.optimizer_impl == "foreach"
    assert make(optimizer_kwargs=dict(fused=False)).policy.optimizer_impl == "default"
    assert make(fast_optimizer=False).policy.optimizer_impl == "default"
    rms = make(optimizer_class=torch.optim.RMSprop)
    assert rms.policy.optimizer_impl == "foreach"  # RMSprop has no fused kernel


def test_sb3s_adam_eps_survives_the_default() -> None:
    group = _ppo().policy.optimizer.param_groups[0]
    assert group["eps"] == 1e-5  # SB3's ActorCriticPolicy default when optimizer_kwargs is None


def test_user_optimizer_kwargs_are_not_mutated() -> None:
    kwargs = dict(eps=1e-7)
    model = _dqn(optimizer_kwargs=kwargs)
    assert kwargs == dict(eps=1e-7)
    assert model.policy.optimizer.param_groups[0]["eps"] == 1e-7


def test_fused_adam_matches_the_loop_up_to_rounding() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(WeightNormLinear(4, 16), nn.Tanh(), nn.Linear(16, 2))
    twin = copy.deepcopy(net)
    opts = [
        speed.make_optimizer(torch.optim.Adam, m.parameters(), 1e-2, {}, fast)
        for m, fast in ((net, True), (twin, False))
    ]
    assert [speed.optimizer_impl(o) for o in opts] == ["fused", "default"]
    x, y = torch.randn(32, 4), torch.randn(32, 2)
    for _ in range(20):
        for m, o in zip((net, twin), opts):
            o.zero_grad()
            nn.functional.mse_loss(m(x), y).backward()
            o.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(fused=True), dict(foreach=True), {}], ids=["fused", "foreach", "loop"])
def test_inference_cache_sees_every_optimizer_step(kwargs) -> None:
    """Fused kernels do not bump version counters by themselves (wnrl's global step hook does)."""
    layer = WeightNormLinear(4, 3)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1, **kwargs)
    x = torch.randn(5, 4)
    for _ in range(3):
        with torch.no_grad():
            cached = layer(x)
        torch.testing.assert_close(cached, nn.functional.linear(x, layer.weight, layer.bias), rtol=0, atol=0)
        layer(x).square().sum().backward()
        opt.step()


def test_unsupported_parameters_fall_back_to_torchs_default(monkeypatch) -> None:
    model = _dqn()
    monkeypatch.setattr(speed, "fused_optimizer_supported", lambda params: False)
    with pytest.warns(RuntimeWarning, match="fused=True"):
        model.learn(80)
    assert model.policy.optimizer_impl == "default"
    with warnings.catch_warnings():  # checked once: no warning on later steps
        warnings.simplefilter("error")
        model.learn(40, reset_num_timesteps=False)
    model.policy.to("cpu")  # a device move checks again
    assert model.policy.optimizer._wnrl_fused_check is not None


@pytest.mark.parametrize("make", [_ppo, _dqn], ids=["ppo", "dqn"])
def test_saved_model_loads_with_its_optimizer_and_option(make, tmp_path) -> None:
    model = make(fast_optimizer=False)
    model.learn(128)
    model.save(tmp_path / "m.zip")
    loaded = type(model).load(tmp_path / "m.zip", device="cpu")
    assert loaded.policy.fast_optimizer is False and loaded.policy.optimizer_impl == "default"
    model = make()
    model.learn(128)
    model.save(tmp_path / "f.zip")
    loaded = type(model).load(tmp_path / "f.zip", env=model.get_env(), device="cpu")
    assert loaded.policy.optimizer_impl == "fused"
    loaded.learn(64, reset_num_timesteps=False)


@pytest.mark.parametrize("layer", [WeightNormLinear(6, 5), WeightNormConv2d(3, 4, 3)], ids=["linear", "conv"])
def test_direct_kernel_call_equals_torchs_weight_norm(layer, monkeypatch) -> None:
    x = torch.randn(7, 6) if isinstance(layer, WeightNormLinear) else torch.randn(2, 3, 8, 8)
    grads = []
    for fast in (True, False):
        monkeypatch.setattr(wn_module, "_FAST_WEIGHT_NORM", fast)
        layer.zero_grad(set_to_none=True)
        y = layer(x)
        (y * torch.arange(y.numel()).view_as(y)).sum().backward()
        grads.append((y.detach(), layer.v.grad.clone(), layer.g.grad.clone()))
    for a, b in zip(*grads):
        assert torch.equal(a, b)
    assert grads[0][2].shape == layer.g.shape


class _CountsTrain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bool] = []
        self.inner = nn.Linear(2, 2)

    def train(self, mode: bool = True) -> _CountsTrain:
        self.calls.append(mode)
        return super().train(mode)


def test_set_training_fast_is_train() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.BatchNorm1d(2), _CountsTrain()))
    for mode in (False, True, False):
        speed.set_training_fast(net, mode)
        assert all(m.training is mode for m in net.modules())
    assert net[1][1].calls == [False, True, False]
    with pytest.raises(ValueError):
        speed.set_training_fast(net, 1)  # type: ignore[arg-type]


def test_dqn_training_mode_leaves_the_target_in_eval() -> None:
    policy = _dqn(norm="batch").policy
    policy.set_training_mode(True)
    assert policy.training and all(m.training for m in policy.q_net.modules())
    assert not any(m.training for m in policy.q_net_target.modules())
    policy.set_training_mode(False)
    assert not policy.training and not any(m.training for m in policy.q_net.modules())


def test_cached_device_follows_moves_and_loads() -> None:
    policy = _ppo().policy
    assert policy.device == torch.device("cpu")
    assert "_device_param" in policy.__dict__ and "_device_param" not in dict(policy.named_parameters())
    policy.to(torch.float64)
    assert "_device_param" not in policy.__dict__
    assert policy.device == torch.device("cpu")
    policy.load_state_dict(policy.state_dict())
    assert "_device_param" not in policy.__dict__


def test_dqn_data_init_hooks_remove_themselves_and_rearm_on_load() -> None:
    model = _dqn()
    policy = model.policy
    pending = copy.deepcopy(policy.state_dict())
    assert policy._data_init_hooks and policy.q_net._forward_pre_hooks
    model.learn(100, callback=DataInitCallback())
    model.predict(np.zeros(4, dtype=np.float32))
    assert not policy._data_init_hooks and not policy.q_net._forward_pre_hooks
    assert not policy.q_net_target._forward_pre_hooks
    policy.load_state_dict(pending)  # an un-initialised state: the fallback is armed again
    assert policy.needs_data_init and policy._data_init_hooks
    with pytest.warns(RuntimeWarning, match="first training minibatch"):
        model.learn(60, reset_num_timesteps=False)
    assert not policy.needs_data_init


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_unvalidated_distributions_give_sb3s_values(env_id) -> None:
    model = PPO(NormActorCriticPolicy, env_id, n_steps=64, seed=0, device="cpu", policy_kwargs=dict(norm="none"))
    policy = model.policy
    default = torch.distributions.Distribution._validate_args
    obs = torch.as_tensor(np.stack([model.observation_space.sample() for _ in range(16)]))
    actions = torch.as_tensor(np.stack([model.action_space.sample() for _ in range(16)]))
    fast = policy.evaluate_actions(obs, actions)
    assert policy.get_distribution(obs).distribution._validate_args is False
    NormActorCriticPolicy.validate_args = True
    try:
        checked = policy.evaluate_actions(obs, actions)
    finally:
        NormActorCriticPolicy.validate_args = False
    for a, b in zip(fast, checked):
        assert torch.equal(a, b)
    assert torch.distributions.Distribution._validate_args is default  # the global default is untouched


def _off_policy(algo: str, **policy_kwargs):
    from sb3_contrib import CrossQ
    from stable_baselines3 import SAC, TD3

    from wnrl.policies import NormCrossQPolicy, NormSACPolicy, NormTD3Policy

    cls, policy = {"sac": (SAC, NormSACPolicy), "td3": (TD3, NormTD3Policy), "crossq": (CrossQ, NormCrossQPolicy)}[algo]
    return cls(policy, "Pendulum-v1", learning_starts=32, buffer_size=500, batch_size=16, seed=0, device="cpu",
               policy_kwargs={"norm": "weight", "net_arch": [16, 16], **policy_kwargs})  # fmt: skip


@pytest.mark.parametrize("algo", ["sac", "td3", "crossq"])
def test_off_policy_optimizers_are_fused_by_default_saved_and_seen_by_the_cache(algo, tmp_path) -> None:
    """SAC, TD3 and CrossQ get the same optimizer default as PPO and DQN (actor and critic alike);
    the user's choices win, the saved kwargs stay the user's, and the weight-norm inference cache
    follows the fused steps of both networks."""
    model = _off_policy(algo)
    optimizers = model.policy._optimizers()
    assert len(optimizers) == 2 and [speed.optimizer_impl(o) for o in optimizers] == ["fused", "fused"]
    assert "fused" not in model.policy.optimizer_kwargs
    assert _off_policy(algo, fast_optimizer=False).policy.optimizer_impl == "default"
    assert _off_policy(algo, optimizer_kwargs=dict(foreach=True)).policy.optimizer_impl == "foreach"
    model.learn(96)
    layers = [m for m in model.policy.modules() if isinstance(m, WeightNormLinear)]
    assert layers
    for layer in layers:  # no stale inference weight after the fused steps (and polyak updates)
        torch.testing.assert_close(layer.cached_weight(), layer.weight.detach(), rtol=0, atol=0)
    model.save(tmp_path / "m.zip")
    loaded = type(model).load(tmp_path / "m.zip", env=model.get_env(), device="cpu")
    assert loaded.policy.fast_optimizer is True and loaded.policy.optimizer_impl == "fused"
    assert "fused" not in loaded.policy.optimizer_kwargs
    loaded.learn(32, reset_num_timesteps=False)
    slow = _off_policy(algo, fast_optimizer=False)
    slow.save(tmp_path / "s.zip")
    assert type(slow).load(tmp_path / "s.zip", device="cpu").policy.optimizer_impl == "default"

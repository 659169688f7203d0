"""Mechanism diagnostics against hand-computed values (definitions: docs/diagnostics.md)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import DQN, SAC
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from torch import nn

from wnrl.nn import WeightNormLinear
from wnrl.policies import DataInitCallback, NormDQNPolicy, NormSACPolicy
from wnrl.train.diagnostics_callback import DiagnosticsCallback
from wnrl.train.mechanisms import (
    MechanismProbe,
    UpdateTracker,
    discounted_return,
    dormant_fraction,
    head_inputs,
    q_value_bias,
    relative_change,
    srank,
)


class ThreeSteps(gym.Env):
    """Every episode: 3 steps of reward ``reward`` (1), whatever the actions."""

    def __init__(self, continuous: bool = False, reward: float = 1.0) -> None:
        self.observation_space = spaces.Box(-1, 1, (2,), np.float32)
        self.action_space = spaces.Box(-1, 1, (1,), np.float32) if continuous else spaces.Discrete(2)
        self.t, self.reward = 0, reward

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(2, 0.1 * self.t, np.float32), self.reward, self.t >= 3, False, {}


def test_dormant_fraction_srank_return_and_relative_change_by_hand() -> None:
    h = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, -2.0]])  # mean |h| = 2, 0, 2; layer mean 4/3
    assert dormant_fraction(h, 0.1) == pytest.approx(1 / 3)  # scores 1.5, 0, 1.5
    assert dormant_fraction(h, 1.5) == pytest.approx(1.0)
    assert dormant_fraction(torch.zeros(4, 3)) == 0.0
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(0)))
    phi = q[:, :4] @ torch.diag(torch.tensor([4.0, 3.0, 2.0, 1.0]))  # singular values 4, 3, 2, 1
    assert srank(phi, 0.01) == 4  # cumulative 0.4, 0.7, 0.9, 1.0
    assert srank(phi, 0.15) == 3 and srank(phi, 0.35) == 2 and srank(phi, 0.65) == 1
    assert discounted_return([1.0, 1.0, 1.0], 0.5) == pytest.approx(1.75)
    assert relative_change(torch.tensor([[3.0, 4.0]]), torch.tensor([[3.0, 4.5]])) == pytest.approx(0.1)


def test_effective_learning_rate_of_one_sgd_step_by_hand() -> None:
    plain = nn.Linear(2, 1, bias=False)
    wn = WeightNormLinear(2, 1, bias=False)
    with torch.no_grad():
        plain.weight.copy_(torch.tensor([[3.0, 4.0]]))
        wn.reset_from_weight(torch.tensor([[3.0, 4.0]]))
    opt = torch.optim.SGD([*plain.parameters(), wn.v], lr=0.1)  # g stays: only v moves
    tracker = UpdateTracker({"plain": plain, "wn": wn})
    tracker.install([opt])
    (plain(torch.tensor([[1.0, 0.0]])) + wn(torch.tensor([[1.0, 0.0]]))).sum().backward()
    opt.step()
    # plain: ΔW = -0.1 · [1, 0] → 0.1 / 5. WN: ∇v = (g/‖v‖)(I - wwᵀ/‖w‖²)[1, 0] = [0.64, -0.48]/1,
    # v' = [3, 4] - 0.1·[0.64, -0.48]; w' = 5 v'/‖v'‖.
    assert tracker.latest["plain"] == pytest.approx(0.02)
    v = torch.tensor([3.0, 4.0]) - 0.1 * torch.tensor([0.64, -0.48])
    w_new = 5 * v / v.norm()
    assert tracker.latest["wn"] == pytest.approx(float((w_new - torch.tensor([3.0, 4.0])).norm() / 5), rel=1e-5)
    opt.step()  # not armed again: nothing measured
    tracker.remove()


def test_parameter_norm_growth_and_penultimate_features() -> None:
    model = DQN(NormDQNPolicy, ThreeSteps(), policy_kwargs=dict(norm="weight", net_arch=[4]), buffer_size=10)
    probe = MechanismProbe(model)
    layer = model.policy.q_net.q_net[0][0]
    with torch.no_grad():
        layer.v.mul_(2)
    assert probe.snapshot()["q_net_0_0/param_norm_growth"] == pytest.approx(2.0)
    obs = torch.randn(5, 2)
    feats = head_inputs(model.policy, obs)["q_net"]
    assert torch.allclose(feats, model.policy.q_net.q_net[0](obs))


def _constant_head(head: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in head.parameters():
            p.zero_()
        head.bias.fill_(value)


def test_q_value_bias_against_a_hand_computed_return() -> None:
    gamma = 0.9
    g0 = 1 + gamma + gamma**2  # three rewards of 1
    dqn = DQN(NormDQNPolicy, ThreeSteps(), gamma=gamma, policy_kwargs=dict(norm="none", net_arch=[4]), buffer_size=10)
    _constant_head(dqn.policy.q_net.q_net[1], 5.0)
    out = q_value_bias(dqn, make_vec_env(ThreeSteps, n_envs=1), episodes=2)
    assert out["q_start"] == pytest.approx(5.0) and out["return_start"] == pytest.approx(g0)
    assert out["q_bias"] == pytest.approx(5.0 - g0) and out["q_bias_rel"] == pytest.approx((5.0 - g0) / g0)
    kw = dict(norm="none", net_arch=[4])
    sac = SAC(NormSACPolicy, ThreeSteps(True), gamma=gamma, policy_kwargs=kw, buffer_size=10)
    _constant_head(sac.policy.critic.qf0[1], 5.0)
    _constant_head(sac.policy.critic.qf1[1], 3.0)  # the clipped double-Q estimate: the minimum
    assert q_value_bias(sac, make_vec_env(lambda: ThreeSteps(True), n_envs=1))["q_bias"] == pytest.approx(3.0 - g0)


def test_relative_q_bias_is_undefined_where_the_return_is_zero() -> None:
    """An agent that has not scored yet (G_0 = 0) has a Q bias but no relative one: NaN, which the
    run's summary leaves out, not q_bias / 1e-8 (a value of 5e8 that swamped a run's mean)."""
    dqn = DQN(NormDQNPolicy, ThreeSteps(reward=0.0), policy_kwargs=dict(norm="none", net_arch=[4]), buffer_size=10)
    _constant_head(dqn.policy.q_net.q_net[1], 5.0)
    out = q_value_bias(dqn, make_vec_env(lambda: ThreeSteps(reward=0.0), n_envs=1))
    assert out["return_start"] == 0.0 and out["q_bias"] == pytest.approx(5.0)
    assert np.isnan(out["q_bias_rel"])


def test_callback_logs_every_mechanism_for_sac_and_summarises_the_run() -> None:
    torch.set_num_threads(1)
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=0)
    model = SAC(
        NormSACPolicy, env, policy_kwargs=dict(norm="weight", net_arch=[8]), learning_starts=50, batch_size=16, seed=0
    )
    model.set_logger(configure(None, []))
    cb = DiagnosticsCallback(50, eval_env=make_vec_env("Pendulum-v1", n_envs=1, seed=1), probe_size=32)
    model.learn(200, callback=CallbackList([DataInitCallback(), cb]))
    last = cb.history[-1]
    for key in ("actor/dormant_frac", "critic/srank", "critic_qf0_0_0/eff_lr", "actor_mu/param_norm_growth", "q_bias"):
        assert key in last and np.isfinite(last[key]), key
    assert 0 < last["critic/srank"] <= 8 and 0 <= last["actor/dormant_frac"] <= 1
    summary = cb.summary()
    assert summary["q_bias"] == last["q_bias"] and "q_bias:mean" in summary

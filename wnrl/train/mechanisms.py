r"""Mechanism diagnostics: why a normalization helps (definitions and papers in ``docs/diagnostics.md``).

* effective learning rate of a layer, :math:`\lVert W_{t+1} - W_t\rVert_F / \lVert W_t\rVert_F` for
  one optimizer step, on the *effective* weight (weight norm: :math:`g\,v/\lVert v\rVert`; spectral
  norm: :math:`W/\hat\sigma`; plain: :math:`W`) (Lyle et al. 2024);
* parameter-norm growth, :math:`\lVert\theta_t\rVert / \lVert\theta_0\rVert` of a layer's raw weight
  parameter (``v`` for weight norm) since ``learn()`` started;
* τ-dormant fraction of a layer's units (Sokar et al. 2023): with :math:`h_i(x)` unit :math:`i`'s
  output, :math:`s_i = \mathbb{E}_x|h_i(x)| \,/\, \frac1H\sum_k \mathbb{E}_x|h_k(x)|`, the fraction of
  units with :math:`s_i \le \tau`;
* effective rank :math:`\mathrm{srank}_\delta(\Phi) = \min\{k : \sum_{i\le k}\sigma_i \ge (1-\delta)
  \sum_i \sigma_i\}` of the feature matrix :math:`\Phi` (probe batch × units, singular values
  :math:`\sigma_1 \ge \sigma_2 \ge \dots`), :math:`\delta = 0.01` (Kumar et al. 2021);
* Q-value bias: :math:`\hat Q(s_0, \pi(s_0)) - G_0` at evaluation start states, with
  :math:`G_0 = \sum_t \gamma^t r_t` the observed discounted return of the episode
  (van Hasselt et al. 2016; Fujimoto et al. 2018).

Features are the *penultimate* layer's: the input of each output head, captured by a forward
pre-hook while the policy runs on a fixed probe batch in eval mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, cast

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from torch import Tensor, nn

from wnrl.nn.spectral import SpectralNormMixin
from wnrl.nn.weight_norm import WeightNormMixin

__all__ = [
    "UpdateTracker",
    "discounted_return",
    "dormant_fraction",
    "effective_weight",
    "head_inputs",
    "q_estimate",
    "q_value_bias",
    "raw_weight",
    "relative_change",
    "srank",
    "tracked_layers",
    "trained_modules",
]


def dormant_fraction(features: Tensor, tau: float = 0.1) -> float:
    r"""Fraction of τ-dormant units: :math:`s_i = \overline{|h_i|} / \frac1H\sum_k \overline{|h_k|} \le \tau`.

    :param features: ``(batch, units)`` outputs of one layer
    :param tau: the dormancy threshold (Sokar et al. use 0 and 0.1 for ReLU nets)
    :return: a fraction in ``[0, 1]`` (0 when every output is 0: no unit is relatively dormant)
    """
    score = features.detach().double().abs().mean(dim=0)
    mean = score.mean()
    if float(mean) == 0.0:
        return 0.0
    return float((score / mean <= tau).double().mean())


def srank(features: Tensor, delta: float = 0.01) -> int:
    r""":math:`\mathrm{srank}_\delta = \min\{k : \sum_{i\le k}\sigma_i / \sum_i\sigma_i \ge 1-\delta\}`.

    :param features: ``(batch, units)`` feature matrix
    :param delta: the spectrum mass left out
    :return: an integer in ``[0, min(batch, units)]`` (0 for an all-zero matrix)
    """
    s = torch.linalg.svdvals(features.detach().double())
    total = float(s.sum())
    if total == 0.0:
        return 0
    cumulative = torch.cumsum(s, 0) / total
    return int(torch.searchsorted(cumulative, torch.tensor(1.0 - delta, dtype=cumulative.dtype) - 1e-12)) + 1


def discounted_return(rewards: list[float] | np.ndarray, gamma: float) -> float:
    r""":math:`G_0 = \sum_{t=0}^{T-1} \gamma^t r_t`.

    :param rewards: one episode's rewards, in order
    :param gamma: the discount factor
    """
    r = np.asarray(rewards, dtype=np.float64)
    return float(np.sum(r * gamma ** np.arange(len(r))))


def relative_change(before: Tensor, after: Tensor) -> float:
    r""":math:`\lVert W_{after} - W_{before}\rVert_F / \lVert W_{before}\rVert_F` (``nan`` if the norm is 0)."""
    norm = float(torch.linalg.vector_norm(before.double()))
    return float(torch.linalg.vector_norm((after - before).double())) / norm if norm > 0 else float("nan")


def effective_weight(layer: nn.Module) -> Tensor:
    """The weight a layer's forward pass applies (detached)."""
    with torch.no_grad():
        if isinstance(layer, WeightNormMixin):
            return layer.weight.detach().clone()
        if isinstance(layer, SpectralNormMixin):
            return layer.normalized_weight().detach().clone()
        return cast(Tensor, layer.weight).detach().clone()


def raw_weight(layer: nn.Module) -> Tensor:
    """The layer's trained weight parameter (``v`` for weight norm, ``weight`` otherwise)."""
    return layer.v if isinstance(layer, WeightNormMixin) else cast(Tensor, layer.weight)


def _short(name: str) -> str:
    if name.startswith("mlp_extractor."):
        name = name[len("mlp_extractor.") :]
    return name.replace(".", "_") or "root"


def trained_modules(policy: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``(short_name, module)`` for every module of the networks that ``policy``'s optimizer trains.

    DQN-style policies: the online ``q_net`` (names relative to it: SB3's ``QNetwork`` holds its
    layers in ``q_net``, so ``q_net_0_0``), never ``q_net_target``; other policies: every module
    except those under a ``*target*`` attribute.
    """
    root: nn.Module = policy
    q_net = getattr(policy, "q_net", None)
    if isinstance(q_net, nn.Module) and hasattr(policy, "q_net_target"):
        root = q_net  # SB3's QNetwork keeps its layers in its own ``q_net`` attribute
    seen: set[str] = set()
    for name, module in root.named_modules():
        if "target" in name:
            continue
        short = _short(name)
        if short in seen:  # two paths collapsing to one name: keep the full path
            short = name.replace(".", "__")
        seen.add(short)
        yield short, module


def tracked_layers(policy: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``(short name, layer)`` of every dense / conv layer of :func:`trained_modules` (the one
    name each layer has in every ``wnrl/<layer>/...`` tag)."""
    for name, m in trained_modules(policy):
        if isinstance(m, (nn.Linear, nn.Conv2d, WeightNormMixin)):
            yield name, m


class UpdateTracker:
    """Measures the effective learning rate of every layer an optimizer trains, on the next step of
    each optimizer after :meth:`arm` (one sampled update per logging interval: cheap).

    :param layers: ``name → layer`` to watch
    """

    def __init__(self, layers: dict[str, nn.Module]) -> None:
        self.layers = layers
        self.latest: dict[str, float] = {}
        self._handles: list[Any] = []
        self._armed: dict[int, bool] = {}
        self._before: dict[int, dict[str, Tensor]] = {}
        self._owned: dict[int, list[str]] = {}

    def install(self, optimizers: list[torch.optim.Optimizer]) -> None:
        """Hook ``optimizers`` (each layer is measured on the optimizer that holds its weight)."""
        self.remove()
        for opt in optimizers:
            params = {id(p) for group in opt.param_groups for p in group["params"]}
            self._owned[id(opt)] = [n for n, m in self.layers.items() if id(raw_weight(m)) in params]
            self._handles.append(opt.register_step_pre_hook(self._pre))
            self._handles.append(opt.register_step_post_hook(self._post))
        self.arm()

    def arm(self) -> None:
        """Measure the next step of every optimizer."""
        self._armed = dict.fromkeys(self._owned, True)

    def _pre(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._armed.get(id(opt)):
            self._before[id(opt)] = {n: effective_weight(self.layers[n]) for n in self._owned[id(opt)]}

    def _post(self, opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        before = self._before.pop(id(opt), None)
        if before is None:
            return
        self._armed[id(opt)] = False
        for name, w in before.items():
            self.latest[name] = relative_change(w, effective_weight(self.layers[name]))

    def remove(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []


def _heads(policy: nn.Module) -> dict[str, nn.Module]:
    """The output heads of a wnrl (or SB3) policy, by network name."""
    heads: dict[str, nn.Module] = {}
    q_net = getattr(policy, "q_net", None)
    if q_net is not None and isinstance(getattr(q_net, "q_net", None), nn.Sequential):  # DQN
        heads["q_net"] = q_net.q_net[-1]
    for name in ("action_net", "value_net"):  # PPO / A2C
        if isinstance(getattr(policy, name, None), nn.Module):
            heads[name] = getattr(policy, name)
    actor, critic = getattr(policy, "actor", None), getattr(policy, "critic", None)
    if actor is not None:
        mu = actor.mu
        heads["actor"] = mu[1] if isinstance(mu, nn.Sequential) and len(mu) == 3 else mu
    if critic is not None:
        heads["critic"] = cast(nn.Sequential, critic.q_networks[0])[-1]
    return heads


def _run_policy(policy: Any, obs: Tensor) -> None:
    if hasattr(policy, "q_net") and hasattr(policy, "q_net_target"):
        policy.q_net(obs)
    elif hasattr(policy, "actor") and hasattr(policy, "critic"):
        actions = policy._predict(obs, deterministic=True)
        policy.critic(obs, actions)
    else:
        policy.get_distribution(obs)
        policy.predict_values(obs)


@torch.no_grad()
def head_inputs(policy: Any, obs: Tensor) -> dict[str, Tensor]:
    """The penultimate features (each head's input) of ``policy`` on ``obs``, in eval mode.

    :param policy: a wnrl or SB3 policy (DQN, PPO/A2C, SAC/TD3/CrossQ)
    :param obs: a preprocessed observation batch (as SB3's buffers hold it)
    """
    captured: dict[str, Tensor] = {}
    handles = []
    for name, head in _heads(policy).items():
        handles.append(head.register_forward_pre_hook(lambda _, args, n=name: captured.setdefault(n, args[0])))
    was = policy.training
    policy.set_training_mode(False)
    try:
        _run_policy(policy, obs)
    finally:
        policy.set_training_mode(was)
        for h in handles:
            h.remove()
    return {k: v.flatten(1) for k, v in captured.items()}


@torch.no_grad()
def q_estimate(policy: Any, obs: Tensor) -> Tensor:
    """The critic's value of the greedy / deterministic action: ``max_a Q`` (DQN) or the minimum
    over the critics (SAC, TD3, CrossQ: the clipped double-Q estimate of their targets)."""
    if hasattr(policy, "q_net"):
        return policy.q_net(obs).max(dim=1).values
    actions = policy._predict(obs, deterministic=True)
    return torch.cat(policy.critic(obs, actions), dim=1).min(dim=1).values


def q_value_bias(model: Any, env: VecEnv, episodes: int = 1) -> dict[str, float]:
    """Q-value bias at evaluation start states, against the observed discounted return.

    Runs ``episodes`` deterministic episodes on ``env`` (a raw, un-normalized one-env ``VecEnv``;
    the model's ``VecNormalize``, if any, normalizes observations and rewards as in training).

    :param model: an SB3 model with a Q critic (DQN, SAC, TD3, CrossQ)
    :param env: the evaluation env
    :param episodes: episodes to average over
    :return: ``q_bias`` (mean of :math:`Q_0 - G_0`), ``q_start`` (mean :math:`Q_0`), ``return_start``
        (mean :math:`G_0`) and ``q_bias_rel`` (``q_bias / |return_start|``; NaN when the return is 0,
        where no relative bias exists)
    """
    policy, gamma = model.policy, float(model.gamma)
    venv = model.get_vec_normalize_env()
    q0s, g0s = [], []
    for _ in range(episodes):
        obs: Any = env.reset()
        rewards: list[float] = []
        done = False
        norm_obs = venv.normalize_obs(obs) if isinstance(venv, VecNormalize) else obs
        tensor, _ = policy.obs_to_tensor(norm_obs)
        policy.set_training_mode(False)
        q0s.append(float(q_estimate(policy, tensor)[0]))
        while not done:
            action, _ = model.predict(norm_obs, deterministic=True)
            obs, reward, dones, _ = env.step(action)
            if isinstance(venv, VecNormalize) and venv.norm_reward:
                reward = venv.normalize_reward(reward)
            rewards.append(float(reward[0]))
            done = bool(dones[0])
            norm_obs = venv.normalize_obs(obs) if isinstance(venv, VecNormalize) else obs
        g0s.append(discounted_return(rewards, gamma))
    q0, g0 = float(np.mean(q0s)), float(np.mean(g0s))
    rel = (q0 - g0) / abs(g0) if g0 != 0 else math.nan
    return {"q_bias": q0 - g0, "q_start": q0, "return_start": g0, "q_bias_rel": rel}


def _probe_observations(model: Any, size: int) -> Any:
    """Up to ``size`` raw observations the model has seen: its replay buffer (evenly spread) or
    rollout buffer; ``None`` if neither holds any yet."""
    buf = getattr(model, "replay_buffer", None)
    if buf is not None and (buf.full or buf.pos > 0):
        from wnrl.policies.data_init import DataInitCallback

        venv = model._vec_normalize_env
        model._vec_normalize_env = None  # keep them raw: normalized at each use
        try:
            return DataInitCallback._from_replay_buffer(model, size)
        finally:
            model._vec_normalize_env = venv
    rollout = getattr(model, "rollout_buffer", None)
    if rollout is not None and (rollout.full or rollout.pos > 0) and not isinstance(rollout.observations, dict):
        shape = model.observation_space.shape
        obs = rollout.observations.reshape(-1, *shape)
        return obs[np.linspace(0, len(obs) - 1, min(size, len(obs))).astype(int)]
    return None


class MechanismProbe:
    """Effective learning rates, parameter-norm growth, dormant units and srank of one model.

    :param model: the SB3 model (its policy, optimizers and buffers are read)
    :param probe_size: observations in the fixed probe batch (taken once, from the first buffer
        that holds data)
    :param tau: the dormancy threshold
    :param delta: the srank threshold
    """

    def __init__(self, model: Any, probe_size: int = 256, tau: float = 0.1, delta: float = 0.01) -> None:
        self.model, self.probe_size, self.tau, self.delta = model, probe_size, tau, delta
        policy = model.policy
        self.layers = dict(tracked_layers(policy))
        self.tracker = UpdateTracker(self.layers)
        self._reference = {n: float(torch.linalg.vector_norm(raw_weight(m).detach())) for n, m in self.layers.items()}
        self.probe: Any = None

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The policy's optimizers (one for DQN/PPO, actor and critic for SAC/TD3/CrossQ)."""
        policy = self.model.policy
        found = [getattr(policy, "optimizer", None)]
        found += [getattr(getattr(policy, n, None), "optimizer", None) for n in ("actor", "critic")]
        return [o for o in found if isinstance(o, torch.optim.Optimizer)]

    def start(self) -> None:
        """Hook the optimizers (at ``learn()`` start)."""
        self.tracker.install(self.optimizers())

    def stop(self) -> None:
        """Remove the hooks."""
        self.tracker.remove()

    def snapshot(self) -> dict[str, float]:
        """The current values, ``{<layer>/eff_lr, <layer>/param_norm_growth, <net>/dormant_frac,
        <net>/srank}``; re-arms the effective-learning-rate measurement."""
        out = {f"{n}/eff_lr": v for n, v in self.tracker.latest.items()}
        for name, layer in self.layers.items():
            ref = self._reference[name]
            if ref > 0:
                out[f"{name}/param_norm_growth"] = float(torch.linalg.vector_norm(raw_weight(layer).detach())) / ref
        if self.probe is None:
            self.probe = _probe_observations(self.model, self.probe_size)
        if self.probe is not None:
            venv = self.model._vec_normalize_env
            raw = self.probe
            obs = venv.normalize_obs(raw) if isinstance(venv, VecNormalize) else raw
            tensor, _ = self.model.policy.obs_to_tensor(obs)
            for net, feats in head_inputs(self.model.policy, tensor).items():
                out[f"{net}/dormant_frac"] = dormant_fraction(feats, self.tau)
                out[f"{net}/srank"] = float(srank(feats, self.delta))
        self.tracker.arm()
        return out

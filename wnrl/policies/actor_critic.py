"""Normalized actor-critic policies for SB3's PPO and A2C.

``PPO(NormActorCriticPolicy, env, policy_kwargs=dict(norm="weight", net_arch=[64, 64]))``.
SB3's orthogonal init (gain √2 hidden, 0.01 action head, 1 value head) is applied to weight-norm
layers through ``v``/``g``, so the effective weights are exactly what stock SB3 would start from.

BatchNorm and PPO: rollouts run in eval mode (running statistics) and the loss in train mode
(minibatch statistics), so the ratio π_θ/π_old compares two different functions even at identical
parameters: BN makes PPO slightly off-policy. ``bn_running_stats_in_update=True`` evaluates the
loss with the running statistics the rollout used (a snapshot taken when the update starts: ratio
exactly 1 at identical parameters, for every minibatch and epoch) while the live running
statistics keep learning from each minibatch. This covers every layer of
:data:`~wnrl.nn.BATCH_NORMS`, mean-only batch norm (``weight_meanbn``) included.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    BernoulliDistribution,
    CategoricalDistribution,
    DiagGaussianDistribution,
    Distribution,
    MultiCategoricalDistribution,
    StateDependentNoiseDistribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, MlpExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import distributions, nn

from wnrl.nn import BATCH_NORMS, WeightNormLinear
from wnrl.policies.base import NormPolicyMixin
from wnrl.policies.layers import WEIGHT_NORMS, make_mlp
from wnrl.policies.speed import set_training_fast

__all__ = ["NormMlpExtractor", "NormActorCriticPolicy"]


class NormMlpExtractor(MlpExtractor):
    """SB3's ``MlpExtractor`` (separate policy and value MLPs) with normalized hidden layers.

    :param feature_dim: input width
    :param net_arch: hidden widths, a list (same for both) or ``dict(pi=[...], vf=[...])``
    :param activation_fn: activation after each hidden layer
    :param norm: normalization of the hidden layers
    """

    def __init__(
        self, feature_dim: int, net_arch: list[int] | dict[str, list[int]], activation_fn: type[nn.Module], norm: str
    ) -> None:
        nn.Module.__init__(self)  # not MlpExtractor.__init__: it would build SB3's plain MLPs
        pi_arch, vf_arch = (
            (net_arch.get("pi", []), net_arch.get("vf", [])) if isinstance(net_arch, dict) else (net_arch, net_arch)
        )
        self.policy_net, self.latent_dim_pi = make_mlp(feature_dim, list(pi_arch), norm, activation_fn)
        self.value_net, self.latent_dim_vf = make_mlp(feature_dim, list(vf_arch), norm, activation_fn)


class NormActorCriticPolicy(NormPolicyMixin, ActorCriticPolicy):
    """SB3 ``ActorCriticPolicy`` with normalized networks (PPO, A2C).

    The arguments up to ``optimizer_kwargs`` are ``ActorCriticPolicy``'s, except that
    ``features_extractor_class=None`` (the default) picks a normalized extractor for the
    observation space (:func:`~wnrl.policies.default_extractor`), so the one class stands in for
    SB3's ``MlpPolicy``, ``CnnPolicy`` and ``MultiInputPolicy``.

    :param norm: ``none``, ``batch``, ``layer``, ``weight``, ``weight_meanbn`` or ``weight_proj``
        (see :mod:`wnrl.policies.layers`)
    :param norm_output: also weight-normalize the action and value heads (weight-norm family only)
    :param data_init: data-dependent init before the first update; ``None`` means on for the
        weight-norm family and off otherwise
    :param init_scale: target std of the pre-activations after data-dependent init
    :param init_batch: number of observations used for data-dependent init
    :param bn_running_stats_in_update: evaluate the update loss with the batch norms' running
        statistics (as the rollout did) instead of minibatch statistics; see the module docstring
    :param fast_optimizer: create the optimizer with ``fused=True`` (or ``foreach=True``) unless
        ``optimizer_kwargs`` sets either; ``False`` gives torch's default, as stock SB3
        (:mod:`wnrl.policies.speed`)

    Action distributions are built without ``torch.distributions``' argument checks (the same
    values; ≈50 µs less per rollout step and minibatch on CPU; NaN logits still fail, when an
    action is sampled). Set the class attribute ``validate_args = True`` to keep SB3's behaviour.
    """

    #: check the distributions' arguments (torch's default, as stock SB3); see the class docstring
    validate_args: bool = False

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        ortho_init: bool = True,
        use_sde: bool = False,
        log_std_init: float = 0.0,
        full_std: bool = True,
        use_expln: bool = False,
        squash_output: bool = False,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool = True,
        normalize_images: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        *,
        norm: str = "weight",
        norm_output: bool = False,
        data_init: bool | None = None,
        init_scale: float = 1.0,
        init_batch: int = 1024,
        bn_running_stats_in_update: bool = False,
        fast_optimizer: bool = True,
    ) -> None:
        sb3_args = self._sb3_args(locals())
        self.bn_running_stats_in_update = bool(bn_running_stats_in_update)
        self._rollout_stats: dict[nn.Module, dict[str, torch.Tensor]] = {}
        super().__init__(**sb3_args)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = NormMlpExtractor(self.features_dim, self.net_arch, self.activation_fn, self.norm).to(
            self.device
        )

    def _build_heads(self) -> None:
        """SB3's action head (and ``log_std``) for the action distribution, and its value head."""
        latent_dim_pi = self.mlp_extractor.latent_dim_pi
        dist = self.action_dist
        if isinstance(dist, DiagGaussianDistribution):
            self.action_net, self.log_std = dist.proba_distribution_net(
                latent_dim=latent_dim_pi, log_std_init=self.log_std_init
            )
        elif isinstance(dist, StateDependentNoiseDistribution):
            self.action_net, self.log_std = dist.proba_distribution_net(
                latent_dim=latent_dim_pi, latent_sde_dim=latent_dim_pi, log_std_init=self.log_std_init
            )
        elif isinstance(dist, (CategoricalDistribution, MultiCategoricalDistribution, BernoulliDistribution)):
            self.action_net = dist.proba_distribution_net(latent_dim=latent_dim_pi)
        else:
            raise NotImplementedError(f"Unsupported distribution '{dist}'.")
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)

    def _build(self, lr_schedule: Schedule) -> None:
        """SB3's ``_build`` (networks, orthogonal init, optimizer), with weight-norm heads for
        ``norm_output``: they replace SB3's initialised heads (same function: ``v = w``,
        ``g = ‖w_i‖``) before the one optimizer is created."""
        self._build_mlp_extractor()
        self._build_heads()
        if self.ortho_init:  # SB3's gains, in SB3's order; init_weights reaches v/g of weight norms
            module_gains: dict[nn.Module, float] = {
                self.features_extractor: np.sqrt(2),
                self.mlp_extractor: np.sqrt(2),
                self.action_net: 0.01,
                self.value_net: 1,
            }
            if not self.share_features_extractor:
                del module_gains[self.features_extractor]
                module_gains[self.pi_features_extractor] = np.sqrt(2)
                module_gains[self.vf_features_extractor] = np.sqrt(2)
            for module, gain in module_gains.items():
                module.apply(partial(self.init_weights, gain=gain))
        if self.norm_output and self.norm in WEIGHT_NORMS:
            for name in ("action_net", "value_net"):
                self.add_module(name, WeightNormLinear.from_linear(getattr(self, name)))
        self.optimizer = self._make_optimizer(self.parameters(), lr_schedule(1))
        self._after_build()

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor) -> Distribution:
        if self.validate_args:
            return super()._get_action_dist_from_latent(latent_pi)
        torch_dist = distributions.Distribution
        default = torch_dist._validate_args
        torch_dist._validate_args = False  # the constructor's checks
        try:
            dist = super()._get_action_dist_from_latent(latent_pi)
        finally:
            torch_dist._validate_args = default
        inner = getattr(dist, "distribution", None)
        for d in inner if isinstance(inner, list) else [inner]:  # MultiCategorical: a list
            if isinstance(d, torch_dist):
                d._validate_args = False  # log_prob's and sample's checks
        return dist

    def _normalized_networks(self) -> nn.Module:
        return self

    def _ddi_forward(self, obs: PyTorchObs) -> None:
        features = self.extract_features(obs)
        if self.share_features_extractor:
            self.mlp_extractor(features)
        else:
            self.mlp_extractor.forward_actor(features[0])
            self.mlp_extractor.forward_critic(features[1])

    def _ddi_skip(self) -> list[nn.Module]:
        return [self.action_net, self.value_net]

    def set_training_mode(self, mode: bool) -> None:
        if mode and not self.training and self.bn_running_stats_in_update:
            # The statistics the rollout just used: the whole update evaluates its loss with them.
            self._rollout_stats = {
                m: {k: b.clone() for k, b in m._buffers.items() if k.startswith("running_") and b is not None}
                for m in self.modules()
                if isinstance(m, BATCH_NORMS)
            }
        set_training_fast(self, mode)  # SB3's self.train(mode), leaner

    def evaluate_actions(
        self, obs: PyTorchObs, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if self.training and self.needs_data_init:
            self._fallback_data_init(obs)
        snapshot = self._rollout_stats
        if not (self.bn_running_stats_in_update and self.training and snapshot):
            return super().evaluate_actions(obs, actions)
        live = {m: dict(m._buffers) for m in snapshot}
        for m, stats in snapshot.items():  # separate tensors: autograd keeps what it saved
            m._buffers.update(stats)
            m.eval()
        try:
            out = super().evaluate_actions(obs, actions)
        finally:
            for m, buffers in live.items():
                m._buffers.update(buffers)
                m.train()
        with torch.no_grad():  # the live running statistics still learn from every minibatch
            self._ddi_forward(obs)
        return out

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            self._norm_constructor_parameters(),
            bn_running_stats_in_update=self.bn_running_stats_in_update,
            fast_optimizer=self.fast_optimizer,
            share_features_extractor=self.share_features_extractor,
        )  # SB3 does not save it
        return data

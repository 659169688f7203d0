"""Normalized actor-critic policies for SB3's PPO and A2C.

``PPO(NormActorCriticPolicy, env, policy_kwargs=dict(norm="weight", net_arch=[64, 64]))``.
SB3's orthogonal init (gain √2 hidden, 0.01 action head, 1 value head) is applied to weight-norm
layers through ``v``/``g``, so the effective weights are exactly what stock SB3 would start from.

BatchNorm and PPO: rollouts run in eval mode (running statistics) and the loss in train mode
(minibatch statistics), so the ratio π_θ/π_old compares two different functions even at identical
parameters: BN makes PPO slightly off-policy. ``bn_running_stats_in_update=True`` evaluates the
loss with the running statistics the rollout used (a snapshot taken when the update starts: ratio exactly 1 at identical parameters, for every
minibatch and epoch) while the live running statistics keep learning from each minibatch.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from wnrl.nn import WeightNormLinear
from wnrl.policies.base import NormPolicyMixin
from wnrl.policies.layers import WEIGHT_NORMS, make_mlp

__all__ = ["NormMlpExtractor", "NormActorCriticPolicy"]

_BATCH_NORMS = (nn.modules.batchnorm._BatchNorm,)


class NormMlpExtractor(nn.Module):
    """Separate policy and value MLPs (SB3's ``MlpExtractor`` interface) with normalization.

    :param feature_dim: input width
    :param net_arch: hidden widths, a list (same for both) or ``dict(pi=[...], vf=[...])``
    :param activation_fn: activation after each hidden layer
    :param norm: normalization of the hidden layers
    :param device: where to put the networks
    """

    def __init__(self, feature_dim: int, net_arch: list[int] | dict[str, list[int]],
                 activation_fn: type[nn.Module], norm: str, device: torch.device | str = "auto") -> None:
        super().__init__()
        pi_arch, vf_arch = (net_arch.get("pi", []), net_arch.get("vf", [])) \
            if isinstance(net_arch, dict) else (net_arch, net_arch)
        self.policy_net, self.latent_dim_pi = make_mlp(feature_dim, list(pi_arch), norm, activation_fn)
        self.value_net, self.latent_dim_vf = make_mlp(feature_dim, list(vf_arch), norm, activation_fn)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.policy_net(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.value_net(features)


class NormActorCriticPolicy(NormPolicyMixin, ActorCriticPolicy):
    """SB3 ``ActorCriticPolicy`` with normalized networks (PPO, A2C).

    Takes every ``ActorCriticPolicy`` argument plus ``norm``, ``norm_output``, ``data_init``,
    ``init_scale``, ``init_batch`` (see :class:`~wnrl.policies.base.NormPolicyMixin`) and

    :param bn_running_stats_in_update: evaluate the update loss with BatchNorm's running
        statistics (as the rollout did) instead of minibatch statistics; see the module docstring
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 lr_schedule: Any, *args: Any, **kwargs: Any) -> None:
        self.bn_running_stats_in_update = bool(kwargs.pop("bn_running_stats_in_update", False))
        self._pop_norm_kwargs(kwargs, observation_space)
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = NormMlpExtractor(self.features_dim, self.net_arch, self.activation_fn,
                                              self.norm).to(self.device)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        if self.norm_output and self.norm in WEIGHT_NORMS:
            # Heads keep their (orthogonal) init; the optimizer must see the new parameters.
            self.action_net = WeightNormLinear.from_linear(self.action_net)
            self.value_net = WeightNormLinear.from_linear(self.value_net)
            self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1),
                                                  **self.optimizer_kwargs)
        self._after_build()

    def _ddi_forward(self, obs: torch.Tensor) -> None:
        features = self.extract_features(obs)
        if self.share_features_extractor:
            self.mlp_extractor(features)
        else:
            self.mlp_extractor.forward_actor(features[0])
            self.mlp_extractor.forward_critic(features[1])

    def _ddi_skip(self) -> list[nn.Module]:
        return [self.action_net, self.value_net]

    def _batch_norms(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, _BATCH_NORMS)]

    def set_training_mode(self, mode: bool) -> None:
        if mode and not self.training and self.bn_running_stats_in_update:
            # The statistics the rollout just used: the whole update evaluates its loss with them.
            self._rollout_stats = {m: {k: b.clone() for k, b in m._buffers.items() if k.startswith("running_")}
                                   for m in self._batch_norms()}
        super().set_training_mode(mode)

    def evaluate_actions(self, obs: Any, actions: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if self.training and self.needs_data_init:
            self._fallback_data_init(obs)
        snapshot = getattr(self, "_rollout_stats", None)
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
        data.update(self._norm_constructor_parameters(),
                    bn_running_stats_in_update=self.bn_running_stats_in_update)
        data.update(share_features_extractor=self.share_features_extractor)
        return data

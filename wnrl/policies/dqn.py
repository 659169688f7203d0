"""Normalized Q-networks for SB3's DQN.

``DQN(NormDQNPolicy, env, policy_kwargs=dict(norm="weight"))``. The online network and its target
are built by :meth:`make_q_net` with the chosen normalization; data-dependent init is applied to
the online network and copied to the target; BatchNorm running statistics follow the target
through SB3's own ``batch_norm_stats`` copy (every buffer named ``running_*``, which includes
:class:`~wnrl.nn.MeanOnlyBatchNorm`'s running mean).
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn

from wnrl.policies.base import NormPolicyMixin
from wnrl.policies.layers import linear, make_mlp

__all__ = ["NormQNetwork", "NormDQNPolicy"]


class NormQNetwork(QNetwork):
    """Q-network ``features → hidden layers (normalized) → Q head``.

    ``q_net`` is ``Sequential(hidden, head)`` so the head can be told apart.

    :param norm: normalization of the hidden layers
    :param norm_output: weight-normalize the head too (weight-norm family only)
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete,
                 features_extractor: BaseFeaturesExtractor, features_dim: int,
                 net_arch: list[int] | None = None, activation_fn: type[nn.Module] = nn.ReLU,
                 normalize_images: bool = True, norm: str = "none", norm_output: bool = False) -> None:
        super().__init__(observation_space, action_space, features_extractor, features_dim,
                         net_arch, activation_fn, normalize_images)
        self.norm, self.norm_output = norm, norm_output
        hidden, dim = make_mlp(self.features_dim, self.net_arch, norm, activation_fn)
        head = linear(dim, int(action_space.n), norm if norm_output else "none")
        self.q_net = nn.Sequential(hidden, head)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(norm=self.norm, norm_output=self.norm_output)
        return data


class NormDQNPolicy(NormPolicyMixin, DQNPolicy):
    """SB3 ``DQNPolicy`` with normalized networks.

    Takes every ``DQNPolicy`` argument plus ``norm``, ``norm_output``, ``data_init``,
    ``init_scale`` and ``init_batch`` (see :class:`~wnrl.policies.base.NormPolicyMixin`).
    The features extractor is chosen from the observation space unless given.
    """

    q_net: NormQNetwork
    q_net_target: NormQNetwork

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete,
                 lr_schedule: Any, *args: Any, **kwargs: Any) -> None:
        self._pop_norm_kwargs(kwargs, observation_space)
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        self._after_build()
        # Plain `learn()` without DataInitCallback: initialise on the first training minibatch.
        self.q_net.register_forward_pre_hook(self._q_net_pre_hook)

    def make_q_net(self) -> NormQNetwork:
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return NormQNetwork(**net_args, norm=self.norm, norm_output=self.norm_output).to(self.device)

    def _q_net_pre_hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if module.training and self.needs_data_init:
            self._fallback_data_init(args[0])

    def _normalized_networks(self) -> nn.Module:
        return self.q_net

    def _ddi_forward(self, obs: torch.Tensor) -> None:
        q = self.q_net
        q.q_net[0](q.extract_features(obs, q.features_extractor))

    def _ddi_skip(self) -> list[nn.Module]:
        return [self.q_net.q_net[1]]

    def _after_data_init(self) -> None:
        self.q_net_target.load_state_dict(self.q_net.state_dict())

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(self._norm_constructor_parameters())
        return data

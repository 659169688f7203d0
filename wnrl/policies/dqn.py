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
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn

from wnrl.policies.base import NormPolicyMixin
from wnrl.policies.layers import check_norm, linear, make_mlp
from wnrl.policies.speed import set_training_fast

__all__ = ["NormQNetwork", "NormDQNPolicy"]


class NormQNetwork(QNetwork):
    """SB3's ``QNetwork`` as ``features → hidden layers (normalized) → Q head``.

    ``q_net`` is ``Sequential(hidden, head)`` so the head can be told apart. The arguments up to
    ``normalize_images`` are ``QNetwork``'s.

    :param norm: normalization of the hidden layers
    :param norm_output: weight-normalize the head too (weight-norm family only)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        *,
        norm: str = "none",
        norm_output: bool = False,
    ) -> None:
        # Not QNetwork.__init__: it would build (and draw the init of) SB3's plain MLP first.
        BasePolicy.__init__(
            self,
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.net_arch = [64, 64] if net_arch is None else net_arch
        self.activation_fn = activation_fn
        self.features_dim = features_dim
        self.norm, self.norm_output = check_norm(norm), norm_output
        hidden, dim = make_mlp(features_dim, self.net_arch, norm, activation_fn)
        self.q_net = nn.Sequential(hidden, linear(dim, int(action_space.n), norm if norm_output else "none"))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(norm=self.norm, norm_output=self.norm_output)
        return data


class NormDQNPolicy(NormPolicyMixin, DQNPolicy):
    """SB3 ``DQNPolicy`` with normalized networks.

    The arguments up to ``optimizer_kwargs`` are ``DQNPolicy``'s, except that
    ``features_extractor_class=None`` (the default) picks a normalized extractor for the
    observation space (:func:`~wnrl.policies.default_extractor`), so the one class stands in for
    SB3's ``MlpPolicy``, ``CnnPolicy`` and ``MultiInputPolicy``.

    :param norm: ``none``, ``batch``, ``layer``, ``weight``, ``weight_meanbn`` or ``weight_proj``
        (see :mod:`wnrl.policies.layers`)
    :param norm_output: also weight-normalize the Q head (weight-norm family only)
    :param data_init: data-dependent init before the first update; ``None`` means on for the
        weight-norm family and off otherwise
    :param init_scale: target std of the pre-activations after data-dependent init
    :param init_batch: number of observations used for data-dependent init
    :param fast_optimizer: create the optimizer with ``fused=True`` (or ``foreach=True``) unless
        ``optimizer_kwargs`` sets either; ``False`` gives torch's default, as stock SB3
        (:mod:`wnrl.policies.speed`)
    """

    q_net: NormQNetwork
    q_net_target: NormQNetwork

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        *,
        norm: str = "weight",
        norm_output: bool = False,
        data_init: bool | None = None,
        init_scale: float = 1.0,
        init_batch: int = 1024,
        fast_optimizer: bool = True,
    ) -> None:
        sb3_args = self._sb3_args(locals())
        self._data_init_hooks: list[Any] = []
        super().__init__(**sb3_args)

    def _build(self, lr_schedule: Schedule) -> None:
        """SB3's ``DQNPolicy._build`` (online and target networks, the optimizer over the online
        one), with wnrl's optimizer default."""
        self.q_net = self.make_q_net()
        self.q_net_target = self.make_q_net()
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.q_net_target.set_training_mode(False)
        self.optimizer = self._make_optimizer(self.q_net.parameters(), lr_schedule(1))
        self._after_build()
        self._arm_data_init_hooks()
        # A loaded state whose init is still pending (e.g. an early checkpoint) re-arms them.
        self.register_load_state_dict_post_hook(self._on_load_state_dict)

    def _arm_data_init_hooks(self) -> None:
        """Plain ``learn()`` without DataInitCallback: initialise on the first training minibatch.
        DQN.train() runs the target (no_grad, on the next observations) before the online network,
        so the target's hook comes first: the first TD targets are the initialised net's. The
        hooks remove themselves once the init is done (a module with hooks is slower to call)."""
        if self._data_init_hooks or not self.needs_data_init:
            return
        self._data_init_hooks = [
            self.q_net_target.register_forward_pre_hook(self._q_net_target_pre_hook),
            self.q_net.register_forward_pre_hook(self._q_net_pre_hook),
        ]

    def _on_load_state_dict(self, module: nn.Module, incompatible_keys: Any) -> None:
        self._arm_data_init_hooks()

    def _disarm_data_init_hooks(self) -> None:
        for handle in self._data_init_hooks:
            handle.remove()
        self._data_init_hooks = []

    def make_q_net(self) -> NormQNetwork:
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return NormQNetwork(**net_args, norm=self.norm, norm_output=self.norm_output).to(self.device)

    def _q_net_pre_hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if not self.needs_data_init:
            self._disarm_data_init_hooks()
        elif module.training:
            self._fallback_data_init(args[0])

    def _q_net_target_pre_hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if not self.needs_data_init:
            self._disarm_data_init_hooks()
        elif self.q_net.training:  # the policy is in training mode: an update
            self._fallback_data_init(args[0], require_grad=False)

    def set_training_mode(self, mode: bool) -> None:
        """SB3's: the online network only (the target stays in eval mode), leaner."""
        set_training_fast(self.q_net, mode)
        self.__dict__["training"] = mode

    def _normalized_networks(self) -> nn.Module:
        return self.q_net

    def _ddi_forward(self, obs: PyTorchObs) -> None:
        q = self.q_net
        q.q_net[0](q.extract_features(obs, q.features_extractor))

    def _ddi_skip(self) -> list[nn.Module]:
        return [self.q_net.q_net[1]]

    def _after_data_init(self) -> None:
        self.q_net_target.load_state_dict(self.q_net.state_dict())

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(self._norm_constructor_parameters(), fast_optimizer=self.fast_optimizer)
        return data

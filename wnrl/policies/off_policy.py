"""The policy mixin of SAC, TD3 and CrossQ: one norm or one per network, data-dependent init of
actor and critic (copied to the targets), projection after each network's own optimizer step,
the fallback init, and the target networks' own spectral estimates (rules:
:mod:`wnrl.policies.continuous`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, cast

import numpy as np
import torch
from stable_baselines3.common.policies import BasePolicy, ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs
from stable_baselines3.sac.policies import Actor as SACActor
from stable_baselines3.td3.policies import Actor as TD3Actor
from torch import nn

from wnrl.nn import data_dependent_init, project_weight_norm_
from wnrl.nn.spectral import SpectralNormMixin
from wnrl.policies.base import NormPolicyMixin
from wnrl.policies.continuous import NormContinuousCritic, brn_kwargs
from wnrl.policies.speed import arm_fused_check, fast_optimizer_kwargs
from wnrl.registry import PROJECTED_NORMS, WEIGHT_NORMS, check_norm

__all__ = ["NormOffPolicyMixin"]


def _call_on_batch(forward: Callable[[PyTorchObs], None], _: nn.Module, batch: PyTorchObs) -> None:
    forward(batch)


def _project_hook(module: nn.Module, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    project_weight_norm_(module)


class NormOffPolicyMixin(NormPolicyMixin):
    """What the SAC, TD3 and CrossQ policies share (put it before the SB3 policy class): one norm
    or one per network, the networks' construction, data-dependent init of actor and critic,
    projection after each network's own optimizer step, and the fallback init."""

    actor: SACActor | TD3Actor
    critic: ContinuousCritic
    #: The host's actor class (``NormSACActor`` or ``NormTD3Actor``), built by :meth:`make_actor`.
    actor_class: type[SACActor] | type[TD3Actor]
    actor_kwargs: dict[str, Any]
    critic_kwargs: dict[str, Any]
    share_features_extractor: bool
    actor_norm: str
    critic_norm: str
    brn_kwargs: dict[str, Any]
    _data_init_arg: bool | None
    _initialising: bool
    cnn_default_net_arch = False  # a CNN chosen here keeps SB3's default net_arch

    def _init_options(self, args: Mapping[str, Any]) -> None:
        """:meth:`_init_off_policy_norm` with the policy's ``__init__`` arguments (as ``_sb3_args``)."""
        self._init_off_policy_norm(
            args["norm"],
            args["actor_norm"],
            args["critic_norm"],
            args["norm_output"],
            args["data_init"],
            args["init_scale"],
            args["init_batch"],
            brn_kwargs(args["batch_norm_momentum"], args["batch_norm_eps"], args["renorm_warmup_steps"]),
            args["fast_optimizer"],
        )

    def _init_off_policy_norm(
        self,
        norm: str,
        actor_norm: str | None,
        critic_norm: str | None,
        norm_output: bool,
        data_init: bool | None,
        init_scale: float,
        init_batch: int,
        brn_kwargs: Mapping[str, Any],
        fast_optimizer: bool = True,
    ) -> None:
        """Check and store the options (before SB3's ``__init__``); arguments as the policies'."""
        self._init_norm(norm, norm_output, data_init, init_scale, init_batch, fast_optimizer)
        self.actor_norm = check_norm(actor_norm or norm)
        self.critic_norm = check_norm(critic_norm or norm)
        self._data_init_arg = data_init
        self.data_init_enabled = any(self._wants_data_init(n) for n in (self.actor_norm, self.critic_norm))
        self.brn_kwargs = dict(brn_kwargs)
        self._initialising = False

    def _wants_data_init(self, norm: str) -> bool:
        return norm in WEIGHT_NORMS if self._data_init_arg is None else bool(self._data_init_arg)

    def _norm_kwargs(self, norm: str) -> dict[str, Any]:
        return dict(norm=norm, norm_output=self.norm_output, brn_kwargs=self.brn_kwargs)

    def _extractor_for(self, norm: str) -> BaseFeaturesExtractor:
        """A features extractor with ``norm`` (the mixin's ``make_features_extractor`` reads ``self.norm``)."""
        shared = self.norm
        self.norm = norm
        try:
            return self.make_features_extractor()
        finally:
            self.norm = shared

    def _net_kwargs(self, kwargs: dict[str, Any], features_extractor: BaseFeaturesExtractor | None, norm: str) -> Any:
        """SB3's ``actor_kwargs`` / ``critic_kwargs`` with the features extractor of ``norm``."""
        extractor = features_extractor if features_extractor is not None else self._extractor_for(norm)
        policy = cast(BasePolicy, self)
        return {**policy._update_features_extractor(kwargs, extractor), **self._norm_kwargs(norm)}

    def _trained_networks(self) -> list[tuple[str, nn.Module, str]]:
        """``(name, network, norm)`` of the networks with an optimizer (targets excluded)."""
        return [("actor", self.actor, self.actor_norm), ("critic", self.critic, self.critic_norm)]

    def _normalized_networks(self) -> nn.Module:
        return nn.ModuleDict({name: net for name, net, _ in self._trained_networks()})

    def _targets(self) -> list[tuple[nn.Module, nn.Module]]:
        """``(online, target)`` pairs (SAC: the critic; TD3: both; CrossQ: none)."""
        pairs = [(self.actor, getattr(self, "actor_target", None)), (self.critic, getattr(self, "critic_target", None))]
        return [(online, target) for online, target in pairs if isinstance(target, nn.Module)]

    def _after_build(self) -> None:
        """Called at the end of ``_build`` (the networks' optimizers exist)."""
        policy = cast(nn.Module, self)
        policy.register_buffer("data_init_done", torch.tensor(not self.data_init_enabled))
        for _, net, norm in self._trained_networks():
            if norm in PROJECTED_NORMS:
                project_weight_norm_(net)
                optimizer = cast(torch.optim.Optimizer, net.optimizer)
                optimizer.register_step_post_hook(partial(_project_hook, net))
        self._after_data_init()
        # Plain learn() without DataInitCallback: the first training forward pass initialises
        # (TD3 runs its targets first: they are hooked too, so the first TD targets are initialised).
        hooked = {id(m): m for pair in self._targets() for m in pair}
        hooked.update({id(self.actor): self.actor, id(self.critic): self.critic})
        for module in hooked.values():
            module.register_forward_pre_hook(self._fallback_hook)
        for _, target in self._targets():
            if any(isinstance(m, SpectralNormMixin) for m in target.modules()):
                target.register_forward_pre_hook(self._target_hook)

    def _fallback_hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if cast(nn.Module, self).training and self.needs_data_init and not self._initialising:
            self._fallback_data_init(args[0], require_grad=False)

    def _target_hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        """A target network (eval mode) used in an update refines its own spectral estimates."""
        if cast(nn.Module, self).training:
            for layer in module.modules():
                if isinstance(layer, SpectralNormMixin):
                    layer.power_iteration()

    def _after_data_init(self) -> None:
        for online, target in self._targets():
            target.load_state_dict(online.state_dict())

    def _as_obs(self, observations: Any) -> PyTorchObs:
        policy = self._policy
        if isinstance(observations, torch.Tensor):
            return observations.to(policy.device)
        if isinstance(observations, dict) and all(isinstance(v, torch.Tensor) for v in observations.values()):
            return {k: torch.as_tensor(v, device=policy.device) for k, v in observations.items()}
        arrays = dict(observations) if isinstance(observations, dict) else np.asarray(observations)
        return policy.obs_to_tensor(arrays)[0]

    def _actor_forward(self, obs: PyTorchObs) -> None:
        actor = self.actor
        features = actor.extract_features(obs, actor.features_extractor)
        (actor.latent_pi if isinstance(actor, SACActor) else actor.mu[0])(features)

    def _critic_forward(self, obs: PyTorchObs) -> None:
        critic = self.critic
        features = critic.extract_features(obs, critic.features_extractor)
        actions = torch.rand(len(features), get_action_dim(critic.action_space), device=features.device) * 2 - 1
        x = torch.cat([features, actions], dim=1)
        for q in critic.q_networks:
            cast(nn.Sequential, q)[0](x)

    def data_init(self, observations: Any) -> list[str]:
        """Data-dependent init of the actor's and the critic's normalized hidden layers (and
        features extractors) on a batch of observations, copied to the target networks.

        :param observations: a batch of observations (arrays as the env returns them, or tensors
            as SB3's buffers hold them)
        :return: names of the initialised layers (``actor.…``, ``critic.…``)
        """
        obs, policy = self._as_obs(observations), self._policy
        was_training = policy.training
        policy.set_training_mode(True)  # statistics as seen in updates
        self._initialising, names = True, []
        forwards: dict[str, Callable[[PyTorchObs], None]] = {
            "actor": self._actor_forward,
            "critic": self._critic_forward,
        }
        try:
            for name, net, norm in self._trained_networks():
                if not self._wants_data_init(norm):
                    continue
                spectral = [m for m in net.modules() if isinstance(m, SpectralNormMixin)]
                done = data_dependent_init(
                    net,
                    obs,
                    init_scale=self.init_scale,
                    skip=[*cast(Any, net).heads(), *spectral],
                    include_plain=norm not in WEIGHT_NORMS,
                    forward_fn=partial(_call_on_batch, forwards[name]),
                )
                names += [f"{name}.{n}" for n in done]
                if norm in PROJECTED_NORMS:
                    project_weight_norm_(net)
        finally:
            self._initialising = False
            policy.set_training_mode(was_training)
        self.data_init_done.fill_(True)
        self._after_data_init()
        return names

    def _norm_constructor_parameters(self) -> dict[str, Any]:
        return dict(
            norm=self.norm,
            actor_norm=self.actor_norm,
            critic_norm=self.critic_norm,
            norm_output=self.norm_output,
            data_init=self._data_init_arg,
            init_scale=self.init_scale,
            init_batch=self.init_batch,
            batch_norm_momentum=self.brn_kwargs["momentum"],
            batch_norm_eps=self.brn_kwargs["eps"],
            renorm_warmup_steps=self.brn_kwargs["warmup_steps"],
            fast_optimizer=self.fast_optimizer,
        )

    # -- SB3's network construction, the same for SAC, TD3 and CrossQ ------------------------
    def _build(self, lr_schedule: Any) -> None:
        """SB3's ``_build``, its optimizers fused (or foreach) unless the user chose
        (:mod:`wnrl.policies.speed`); the saved ``optimizer_kwargs`` stay the user's."""
        policy = cast(Any, self)
        user_kwargs = policy.optimizer_kwargs
        if self.fast_optimizer:
            policy.optimizer_kwargs = fast_optimizer_kwargs(policy.optimizer_class, user_kwargs)
        try:
            super()._build(lr_schedule)  # type: ignore[misc]
        finally:
            policy.optimizer_kwargs = user_kwargs
        for optimizer in self._optimizers():
            arm_fused_check(optimizer)
        self._after_build()

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        """The actor's and the critic's optimizers (those that exist yet)."""
        found = [getattr(getattr(self, name, None), "optimizer", None) for name in ("actor", "critic")]
        return [o for o in found if isinstance(o, torch.optim.Optimizer)]

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Any:
        """The actor (:attr:`actor_class`) with :attr:`actor_norm`."""
        kwargs = self._net_kwargs(self.actor_kwargs, features_extractor, self.actor_norm)
        return self.actor_class(**kwargs).to(self.device)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> Any:
        """The critics (:class:`~wnrl.policies.continuous.NormContinuousCritic`) with :attr:`critic_norm`."""
        kwargs = self._net_kwargs(self.critic_kwargs, features_extractor, self.critic_norm)
        return NormContinuousCritic(**kwargs).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data: dict[str, Any] = super()._get_constructor_parameters()  # type: ignore[misc]
        data.update(self._norm_constructor_parameters(), share_features_extractor=self.share_features_extractor)
        return data

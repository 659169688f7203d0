"""Normalized actors and critics for SB3's continuous-action algorithms (SAC, TD3, CrossQ); the
policy mixin they share is :mod:`wnrl.policies.off_policy`.

Batch-norm family (``batch``, ``batch_renorm``, ``weight_meanbn``, ``weight_proj_brn``), the rules:

* acting (``predict``, rollouts, evaluation) runs in eval mode: running statistics, never updated;
* target networks (SAC's and TD3's ``*_target``) are always in eval mode; SB3 copies the running
  statistics (every ``running_*`` buffer) to them at each target update;
* a forward pass of an actor in training mode *without autograd* is a target computation (SAC's
  next action on ``s'``): its batch norms run in eval mode for that pass, so the statistics are
  frozen there too. CrossQ does the same itself (``set_bn_training_mode``), and it forwards ``s``
  and ``s'`` jointly through its critic in training mode (sb3-contrib's ``CrossQ.train``): one set
  of batch statistics for both, no target network.

Data-dependent init covers the actor's and the critic's hidden layers (heads and spectral layers
are left alone), the critic on the init observations paired with uniform actions in ``[-1, 1]``
(SB3's scaled action space: the distribution of the replay warm-up), and is copied to the target
networks. ``norm`` sets both networks; ``actor_norm`` / ``critic_norm`` set them apart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, cast

import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution, StateDependentNoiseDistribution
from stable_baselines3.common.policies import BaseModel, BasePolicy, ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs
from stable_baselines3.sac.policies import Actor as SACActor
from stable_baselines3.td3.policies import Actor as TD3Actor
from torch import nn

from wnrl.nn import BATCH_NORMS
from wnrl.policies.layers import linear, make_mlp
from wnrl.registry import check_norm

__all__ = [
    "NormContinuousCritic",
    "NormSACActor",
    "NormTD3Actor",
    "brn_kwargs",
    "frozen_batch_norms",
]


def brn_kwargs(momentum: float, eps: float, warmup_steps: int) -> dict[str, Any]:
    """:class:`~wnrl.nn.batch_renorm.BatchRenorm` arguments from sb3-contrib's CrossQ names.

    :param momentum: ``batch_norm_momentum``
    :param eps: ``batch_norm_eps``
    :param warmup_steps: ``renorm_warmup_steps``
    """
    return dict(momentum=float(momentum), eps=float(eps), warmup_steps=int(warmup_steps))


@contextlib.contextmanager
def frozen_batch_norms(module: nn.Module) -> Iterator[None]:
    """Run every batch-norm-family layer of ``module`` in eval mode inside the block (running
    statistics used, not updated), restoring each layer's mode after."""
    layers = [m for m in module.modules() if isinstance(m, BATCH_NORMS) and m.training]
    for m in layers:
        m.eval()
    try:
        yield
    finally:
        for m in layers:
            m.train()


class _BatchNormModes(nn.Module):
    """``set_bn_training_mode`` (sb3-contrib's CrossQ calls it) for every batch-norm-family layer."""

    def set_bn_training_mode(self, mode: bool) -> None:
        """Put the batch-norm-family layers (only) in training (``True``) or eval mode.

        :param mode: training mode for the batch norms
        """
        for m in self.modules():
            if isinstance(m, BATCH_NORMS):
                m.train(mode)


def _target_pass(module: nn.Module) -> contextlib.AbstractContextManager[None]:
    """Frozen batch norms for a forward in training mode without autograd, else nothing."""
    if module.training and not torch.is_grad_enabled():
        return frozen_batch_norms(module)
    return contextlib.nullcontext()


class _NormActor(_BatchNormModes):
    """What the SAC and TD3 actors share: SB3's ``BasePolicy`` set up (squashed output) without
    SB3's plain MLP, and the norm options, saved with the constructor parameters."""

    norm: str
    norm_output: bool
    brn_kwargs: dict[str, Any]

    def _init_actor(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        features_extractor: nn.Module,
        normalize_images: bool,
    ) -> None:
        """SB3's ``BasePolicy.__init__`` with a squashed output, as SB3's actors call it (not
        ``Actor.__init__``: it would build, and draw the init of, SB3's plain MLP first); the
        arguments are the actor's.
        """
        BasePolicy.__init__(
            cast(BasePolicy, self),
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
            squash_output=True,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data: dict[str, Any] = cast(Any, super())._get_constructor_parameters()
        data.update(norm=self.norm, norm_output=self.norm_output, brn_kwargs=self.brn_kwargs)
        return data


class NormSACActor(_NormActor, SACActor):
    """SB3's SAC (and sb3-contrib's CrossQ) squashed-Gaussian actor with normalized hidden layers
    (``latent_pi``); the arguments up to ``normalize_images`` are SB3's ``Actor``'s.

    :param norm: normalization of the hidden layers
    :param norm_output: give the ``mu`` / ``log_std`` heads the norm's weight parametrization
    :param brn_kwargs: :class:`~wnrl.nn.batch_renorm.BatchRenorm` arguments
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: nn.Module,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        use_sde: bool = False,
        log_std_init: float = -3,
        full_std: bool = True,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        normalize_images: bool = True,
        *,
        norm: str = "none",
        norm_output: bool = False,
        brn_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self._init_actor(observation_space, action_space, features_extractor, normalize_images)
        self.net_arch, self.features_dim, self.activation_fn = net_arch, features_dim, activation_fn
        self.norm, self.norm_output, self.brn_kwargs = check_norm(norm), norm_output, dict(brn_kwargs or {})
        self.use_sde, self.sde_features_extractor = use_sde, None
        self.log_std_init, self.use_expln, self.full_std, self.clip_mean = log_std_init, use_expln, full_std, clip_mean
        action_dim = get_action_dim(self.action_space)
        self.latent_pi, last = make_mlp(features_dim, net_arch, norm, activation_fn, self.brn_kwargs)
        if use_sde:
            self.action_dist = StateDependentNoiseDistribution(
                action_dim, full_std=full_std, use_expln=use_expln, learn_features=True, squash_output=True
            )
            self.mu, self.log_std = self.action_dist.proba_distribution_net(
                latent_dim=last, latent_sde_dim=last, log_std_init=log_std_init
            )
            if clip_mean > 0.0:
                self.mu = nn.Sequential(self.mu, nn.Hardtanh(min_val=-clip_mean, max_val=clip_mean))
        else:
            head = norm if norm_output else "none"
            self.action_dist = SquashedDiagGaussianDistribution(action_dim)  # type: ignore[assignment]
            self.mu = linear(last, action_dim, head)
            self.log_std = linear(last, action_dim, head)  # type: ignore[assignment]

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        with _target_pass(self):
            return super().get_action_dist_params(obs)

    def action_log_prob(self, obs: PyTorchObs) -> tuple[torch.Tensor, torch.Tensor]:
        """SB3's ``action_log_prob``: the actor's forward pass of an update (SAC's ``train`` calls it
        instead of the module), so it runs the module's forward pre-hooks first, as a call would.
        The policy's fallback data-dependent init is such a hook: without this it would first fire
        on the critic's forward, after the actor's graph was built, and change the weights that
        graph saved."""
        for hook in tuple(self._forward_pre_hooks.values()):
            result = hook(self, (obs,))
            if result is not None:
                obs = result[0] if isinstance(result, tuple) else result
        return super().action_log_prob(obs)

    def heads(self) -> list[nn.Module]:
        """The output layers (never data-initialised)."""
        return [self.mu, cast(nn.Module, self.log_std)]


class NormTD3Actor(_NormActor, TD3Actor):
    """SB3's TD3 deterministic actor, ``mu = Sequential(hidden (normalized), head, Tanh)``; the
    arguments up to ``normalize_images`` are SB3's, the rest as :class:`NormSACActor`."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: nn.Module,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        *,
        norm: str = "none",
        norm_output: bool = False,
        brn_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self._init_actor(observation_space, action_space, features_extractor, normalize_images)
        self.net_arch, self.features_dim, self.activation_fn = net_arch, features_dim, activation_fn
        self.norm, self.norm_output, self.brn_kwargs = check_norm(norm), norm_output, dict(brn_kwargs or {})
        hidden, last = make_mlp(features_dim, net_arch, norm, activation_fn, self.brn_kwargs)
        head = linear(last, get_action_dim(self.action_space), norm if norm_output else "none")
        self.mu = nn.Sequential(hidden, head, nn.Tanh())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        with _target_pass(self):
            return super().forward(obs)

    def heads(self) -> list[nn.Module]:
        """The output layer (never data-initialised)."""
        return [self.mu[1]]


class NormContinuousCritic(_BatchNormModes, ContinuousCritic):
    """SB3's ``ContinuousCritic`` (SAC, TD3, CrossQ): ``n_critics`` networks
    ``qf<i> = Sequential(hidden (normalized), head)`` on ``[features, action]``; the arguments up
    to ``share_features_extractor`` are SB3's, the rest as :class:`NormSACActor`."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = True,
        *,
        norm: str = "none",
        norm_output: bool = False,
        brn_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        BaseModel.__init__(
            self,
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.share_features_extractor, self.n_critics = share_features_extractor, n_critics
        self.norm, self.norm_output, self.brn_kwargs = check_norm(norm), norm_output, dict(brn_kwargs or {})
        in_dim = features_dim + get_action_dim(self.action_space)
        self.q_networks: list[nn.Module] = []
        for idx in range(n_critics):
            hidden, last = make_mlp(in_dim, net_arch, norm, activation_fn, self.brn_kwargs)
            q_net = nn.Sequential(hidden, linear(last, 1, norm if norm_output else "none"))
            self.add_module(f"qf{idx}", q_net)
            self.q_networks.append(q_net)

    def heads(self) -> list[nn.Module]:
        """The output layers (never data-initialised)."""
        return [cast(nn.Sequential, q)[1] for q in self.q_networks]

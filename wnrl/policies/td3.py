"""Normalized policies for SB3's TD3: ``TD3(NormTD3Policy, env, policy_kwargs=dict(norm="weight"))``.

The actor and its target (:class:`~wnrl.policies.continuous.NormTD3Actor`), the critics and their target
(:class:`~wnrl.policies.continuous.NormContinuousCritic`) are built with the chosen norms; the
batch-norm rules, data-dependent init and the projection are those of
:mod:`wnrl.policies.continuous`.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from wnrl.policies.continuous import NormContinuousCritic, NormTD3Actor
from wnrl.policies.off_policy import NormOffPolicyMixin

__all__ = ["NormTD3Policy"]


class NormTD3Policy(NormOffPolicyMixin, TD3Policy):
    """SB3 ``TD3Policy`` with normalized actor, critics and their targets.

    The arguments up to ``share_features_extractor`` are ``TD3Policy``'s, except that
    ``features_extractor_class=None`` (the default) picks a normalized extractor for the
    observation space (:func:`~wnrl.policies.default_extractor`).

    :param norm: normalization of actor and critics, one of :data:`wnrl.registry.NORMS`
        (layer order: :mod:`wnrl.policies.layers`)
    :param actor_norm: the actor's normalization (default: ``norm``)
    :param critic_norm: the critics' normalization (default: ``norm``)
    :param norm_output: give the heads the norm's weight parametrization too
    :param data_init: data-dependent init before the first update; ``None`` means on for the
        networks of the weight-norm family and off for the others
    :param init_scale: target std of the pre-activations after data-dependent init
    :param init_batch: number of observations used for data-dependent init
    :param batch_norm_momentum: ``BatchRenorm`` momentum (``batch_renorm`` family; CrossQ's name)
    :param batch_norm_eps: ``BatchRenorm`` epsilon
    :param renorm_warmup_steps: ``BatchRenorm`` batches of plain batch norm before renormalizing
    :param fast_optimizer: create the optimizers with ``fused=True`` (or ``foreach=True``) unless
        ``optimizer_kwargs`` sets either; ``False`` gives torch's default, as stock SB3
    """

    actor: NormTD3Actor
    actor_class = NormTD3Actor
    actor_target: NormTD3Actor
    critic: NormContinuousCritic
    critic_target: NormContinuousCritic

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        *,
        norm: str = "weight",
        actor_norm: str | None = None,
        critic_norm: str | None = None,
        norm_output: bool = False,
        data_init: bool | None = None,
        init_scale: float = 1.0,
        init_batch: int = 1024,
        batch_norm_momentum: float = 0.01,
        batch_norm_eps: float = 0.001,
        renorm_warmup_steps: int = 100_000,
        fast_optimizer: bool = True,
    ) -> None:
        super().__init__(**self._sb3_args(locals()))

"""Normalized policies for sb3-contrib's CrossQ (Bhatt et al., ICLR 2024):
``CrossQ(NormCrossQPolicy, env, policy_kwargs=dict(norm="weight_proj_brn"))``.

CrossQ has no target network: its critic forwards ``(s, a)`` and ``(s', π(s'))`` jointly in
training mode (one set of batch statistics) and its ``train`` switches the batch norms itself
(``set_bn_training_mode``: eval for the next action and for the actor loss's critic pass). Here
those switches reach every batch-norm-family layer (``batch``, ``batch_renorm``, ``weight_meanbn``,
``weight_proj_brn``). ``norm="batch_renorm"`` (the default) is sb3-contrib's CrossQ network
(Batch Renormalization before each dense layer and before the heads, in actor and critic);
``weight_proj_brn`` adds weight-normalized hidden layers projected to unit norm after every step
(CrossQ + WN, Palenicek et al. 2025). The ``batch_norm_*`` / ``renorm_warmup_steps`` arguments
configure :class:`~wnrl.nn.batch_renorm.BatchRenorm` as in sb3-contrib.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from sb3_contrib.crossq.policies import CrossQPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from wnrl.policies.continuous import NormContinuousCritic, NormSACActor
from wnrl.policies.off_policy import NormOffPolicyMixin

__all__ = ["NormCrossQPolicy"]

#: sb3-contrib's batch-norm settings, which wnrl's layers take from ``brn_kwargs`` instead.
_CONTRIB_BN = ("batch_norm", "batch_norm_momentum", "batch_norm_eps", "renorm_warmup_steps")


class NormCrossQPolicy(NormOffPolicyMixin, CrossQPolicy):
    """sb3-contrib ``CrossQPolicy`` with normalized actor and critics.

    The arguments up to ``share_features_extractor`` are ``CrossQPolicy``'s (``batch_norm=False``
    is refused: choose a norm without batch renorm instead), except that
    ``features_extractor_class=None`` (the default) picks a normalized extractor for the
    observation space. The keyword arguments are :class:`~wnrl.policies.NormSACPolicy`'s.

    :param norm: normalization of actor and critics (default ``batch_renorm``: CrossQ's)
    :param actor_norm: the actor's normalization (default: ``norm``)
    :param critic_norm: the critics' normalization (default: ``norm``)
    :param norm_output: give the heads the norm's weight parametrization too
    :param data_init: data-dependent init before the first update; ``None`` means on for the
        networks of the weight-norm family and off for the others
    :param init_scale: target std of the pre-activations after data-dependent init
    :param init_batch: number of observations used for data-dependent init
    :param fast_optimizer: create the optimizers with ``fused=True`` (or ``foreach=True``) unless
        ``optimizer_kwargs`` sets either; ``False`` gives torch's default, as stock SB3
    """

    actor: NormSACActor  # type: ignore[assignment]
    actor_class = NormSACActor
    critic: NormContinuousCritic  # type: ignore[assignment]

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        batch_norm: bool = True,
        batch_norm_momentum: float = 0.01,
        batch_norm_eps: float = 0.001,
        renorm_warmup_steps: int = 100_000,
        use_sde: bool = False,
        log_std_init: float = -3,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        *,
        norm: str = "batch_renorm",
        actor_norm: str | None = None,
        critic_norm: str | None = None,
        norm_output: bool = False,
        data_init: bool | None = None,
        init_scale: float = 1.0,
        init_batch: int = 1024,
        fast_optimizer: bool = True,
    ) -> None:
        if not batch_norm:
            raise ValueError(
                "NormCrossQPolicy: batch norm is chosen by the norm; instead of batch_norm=False use e.g. norm='none'"
            )
        super().__init__(**self._sb3_args(locals()))

    def _net_kwargs(self, kwargs: dict[str, Any], features_extractor: BaseFeaturesExtractor | None, norm: str) -> Any:
        plain = {k: v for k, v in kwargs.items() if k not in _CONTRIB_BN}
        return super()._net_kwargs(plain, features_extractor, norm)

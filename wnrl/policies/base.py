"""What every normalized SB3 policy shares: the ``norm`` keyword arguments, an orthogonal init
that reaches weight-norm layers, data-dependent init, and the projection after optimizer steps.

Used as a mixin before the SB3 policy class (``class NormDQNPolicy(NormPolicyMixin, DQNPolicy)``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

from wnrl.nn import WeightNormMixin, data_dependent_init, project_weight_norm_
from wnrl.policies.extractors import default_extractor
from wnrl.policies.layers import WEIGHT_NORMS, check_norm

__all__ = ["NormPolicyMixin"]


class NormPolicyMixin:
    """Normalization options shared by wnrl policies.

    :param norm: ``none``, ``batch``, ``layer``, ``weight``, ``weight_meanbn`` or ``weight_proj``
    :param norm_output: also weight-normalize the output heads (default: plain heads)
    :param data_init: data-dependent init before the first update; ``None`` means on for the
        weight-norm family and off otherwise (``True`` with ``none`` gives the plain network the
        same init, as the paper's baseline)
    :param init_scale: target std of the pre-activations after data-dependent init
    :param init_batch: number of observations used for data-dependent init
    """

    norm: str
    observation_space: spaces.Space

    def _pop_norm_kwargs(self, kwargs: dict[str, Any], observation_space: spaces.Space) -> None:
        self.norm = check_norm(kwargs.pop("norm", "weight"))
        self.norm_output = bool(kwargs.pop("norm_output", False))
        data_init = kwargs.pop("data_init", None)
        self.data_init_enabled = self.norm in WEIGHT_NORMS if data_init is None else bool(data_init)
        self.init_scale = float(kwargs.pop("init_scale", 1.0))
        self.init_batch = int(kwargs.pop("init_batch", 1024))
        if self.init_batch < 2:
            raise ValueError(f"init_batch must be at least 2, got {self.init_batch}")
        # Pick a normalized extractor for the space unless the user chose one.
        if kwargs.get("features_extractor_class") is None:
            extractor = default_extractor(observation_space)
            kwargs["features_extractor_class"] = extractor
            if extractor is not FlattenExtractor:
                fe_kwargs = dict(kwargs.get("features_extractor_kwargs") or {})
                fe_kwargs.setdefault("norm", self.norm)
                kwargs["features_extractor_kwargs"] = fe_kwargs
                if kwargs.get("net_arch") is None:  # as SB3 does for NatureCNN: CNN → dense → head
                    kwargs["net_arch"] = []

    def _norm_constructor_parameters(self) -> dict[str, Any]:
        return dict(norm=self.norm, norm_output=self.norm_output, data_init=self.data_init_enabled,
                    init_scale=self.init_scale, init_batch=self.init_batch)

    def _after_build(self) -> None:
        """Called at the end of ``_build`` (the optimizer exists)."""
        # Persisted with the policy so a loaded (or resumed) model is never re-initialised.
        self.register_buffer("data_init_done", torch.tensor(not self.data_init_enabled))  # type: ignore[attr-defined]
        if self.norm == "weight_proj":
            project_weight_norm_(self._normalized_networks())
            self.optimizer.register_step_post_hook(self._project_after_step)  # type: ignore[attr-defined]

    def _project_after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        project_weight_norm_(self._normalized_networks())

    @staticmethod
    def init_weights(module: nn.Module, gain: float = 1) -> None:
        """SB3's orthogonal init, extended to weight-norm layers: the orthogonal matrix is written
        into ``v`` and ``g = ‖w_i‖``, so the effective weight is exactly SB3's (writing into the
        computed ``weight`` would be silently lost)."""
        if isinstance(module, WeightNormMixin):
            w = torch.empty_like(module.v)
            nn.init.orthogonal_(w, gain=gain)
            module.reset_from_weight(w)
        elif isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(module.weight, gain=gain)
        else:
            return
        if module.bias is not None:
            with torch.no_grad():
                module.bias.zero_()

    # -- data-dependent init ------------------------------------------------------------------
    def _normalized_networks(self) -> nn.Module:
        """The module holding the trained networks (the DQN policy excludes its target)."""
        return self  # type: ignore[return-value]

    def _ddi_forward(self, module: nn.Module, obs: torch.Tensor) -> None:
        """Run features extractors and hidden layers (not the heads) on preprocessed ``obs``."""
        raise NotImplementedError

    def _ddi_skip(self) -> list[nn.Module]:
        """Output heads: never data-initialised."""
        raise NotImplementedError

    @property
    def needs_data_init(self) -> bool:
        """Whether data-dependent init is enabled and has not run yet."""
        return not bool(self.data_init_done)

    def data_init(self, observations: np.ndarray | torch.Tensor | dict) -> list[str]:
        """Data-dependent init of every normalized feature-extractor and hidden layer on a batch
        of observations (as the environment returns them), sequentially in forward order.

        Layers keep the effective weight direction they had (e.g. SB3's orthogonal init); only
        their scale ``g`` and bias are set. Heads are left untouched.

        :param observations: a batch of observations, first dimension the batch
        :return: names of the initialised layers
        """
        obs = observations
        if not isinstance(obs, torch.Tensor) and not isinstance(obs, dict):
            obs, _ = self.obs_to_tensor(np.asarray(obs))  # type: ignore[attr-defined]
        elif isinstance(obs, torch.Tensor):
            obs = obs.to(self.device)  # type: ignore[attr-defined]
        was_training = self.training  # type: ignore[attr-defined]
        self.set_training_mode(True)  # type: ignore[attr-defined]  # statistics as seen in updates
        try:
            names = data_dependent_init(
                self._normalized_networks(), obs, init_scale=self.init_scale,
                skip=self._ddi_skip(), include_plain=self.norm not in WEIGHT_NORMS,
                forward_fn=lambda _, batch: self._ddi_forward(batch))
        finally:
            self.set_training_mode(was_training)  # type: ignore[attr-defined]
        if self.norm == "weight_proj":
            project_weight_norm_(self._normalized_networks())
        self.data_init_done.fill_(True)  # type: ignore[attr-defined]
        self._after_data_init()
        return names

    def _after_data_init(self) -> None:
        """Hook for copies that must follow the init (the DQN target network)."""

    def _fallback_data_init(self, observations: torch.Tensor) -> None:
        """Run data-dependent init on the first training minibatch when no
        :class:`~wnrl.policies.DataInitCallback` did it before learning started."""
        if self.needs_data_init and torch.is_grad_enabled():
            warnings.warn(
                f"{type(self).__name__}: data-dependent init ran on the first training minibatch "
                f"({len(observations)} observations) because learn() was called without "
                "wnrl.policies.DataInitCallback; pass callback=DataInitCallback() to initialise "
                "before the first rollout", RuntimeWarning, stacklevel=3)
            self.data_init(observations)


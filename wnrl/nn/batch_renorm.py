r"""Batch Renormalization (Ioffe 2017), as CrossQ uses it (Bhatt et al., ICLR 2024).

In training mode, with per-feature batch mean :math:`\mu_B`, unbiased batch variance
:math:`\sigma_B^2`, running mean :math:`\mu` and running variance :math:`\sigma^2`:

.. math::
    r = \mathrm{clip}_{[1/r_{max},\, r_{max}]}\Big(\sqrt{\sigma_B^2+\epsilon}\,/\sqrt{\sigma^2+\epsilon}\Big),
    \qquad
    d = \mathrm{clip}_{[-d_{max},\, d_{max}]}\Big((\mu_B-\mu)\,/\sqrt{\sigma^2+\epsilon}\Big)

(both without gradient), then

.. math::
    \hat x = \frac{x - (\mu_B - d\,\sigma_B/r)}{\sqrt{\sigma_B^2/r^2 + \epsilon}}, \qquad y = \gamma\hat x + \beta

During the first ``warmup_steps`` training batches :math:`r = 1, d = 0` (plain batch norm). The
running statistics follow :math:`\mu \leftarrow \mu + m(\mu_B - \mu)`,
:math:`\sigma^2 \leftarrow \sigma^2 + m(\sigma_B^2 - \sigma^2)` (``momentum`` :math:`m`). In eval
mode :math:`\hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon}`: acting and target computations never see
the batch.

Speed, same function: eval mode and the warm-up are one ``F.batch_norm`` call each (the warm-up
with :math:`\epsilon' = \epsilon(n-1)/n` and :math:`\gamma' = \gamma\sqrt{(n-1)/n}`, which turns its
biased-variance normalization into the unbiased one above); after the warm-up
:math:`\sigma_B^2` comes from the centred input :math:`x - \mu_B` (``torch.var`` over dim 0 is a
slow strided pass on a CPU) and the output is one ``addcmul``,
:math:`\hat x\gamma + \beta = (x-\mu_B)\,s + o` with per-feature :math:`s, o`
(``benchmarks/batch_renorm.py``).

This is exactly sb3-contrib's ``BatchRenorm`` (same formula, defaults ``eps=1e-3``,
``momentum=0.01``, ``warmup_steps=100_000``, ``r_max=3``, ``d_max=5``), with two differences that
make it fit wnrl and SB3: it is a :class:`torch.nn.modules.batchnorm._BatchNorm` whose statistics
are the buffers ``running_mean`` / ``running_var`` / ``num_batches_tracked`` (so SB3's
``batch_norm_stats`` copy to target networks, wnrl's :data:`~wnrl.nn.BATCH_NORMS` and the
diagnostics see them; sb3-contrib's ``ra_mean`` / ``ra_var`` escape SB3's ``running_`` filter),
and it also normalizes ``(N, C, H, W)`` inputs per channel. sb3-contrib checkpoints (``ra_mean``,
``ra_var``, ``steps``, ``scale``) load into it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["BatchRenorm"]

#: sb3-contrib's state-dict names → ours.
_CONTRIB_KEYS = {"ra_mean": "running_mean", "ra_var": "running_var", "steps": "num_batches_tracked", "scale": "weight"}


class BatchRenorm(_BatchNorm):
    """Batch Renormalization over feature dimension 1 of ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``.

    :param num_features: number of features / channels ``C``
    :param eps: added to the variances
    :param momentum: weight of the new batch in the running statistics
    :param affine: learn the scale ``weight`` (γ) and ``bias`` (β)
    :param warmup_steps: training batches of plain batch norm before renormalization starts
    :param r_max: bound of the scale correction ``r``
    :param d_max: bound of the shift correction ``d``
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-3,
        momentum: float = 0.01,
        affine: bool = True,
        warmup_steps: int = 100_000,
        r_max: float = 3.0,
        d_max: float = 5.0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, True, device=device, dtype=dtype)
        self.warmup_steps, self.r_max, self.d_max = int(warmup_steps), float(r_max), float(d_max)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2 or input.dim() > 4 or input.shape[1] != self.num_features:
            raise ValueError(
                f"BatchRenorm({self.num_features}) got input of shape {tuple(input.shape)}; "
                f"expected (N, {self.num_features}) or (N, {self.num_features}, ...) with at most 2 spatial dims"
            )

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        if not self.training:  # one fused kernel: (x - μ) / √(σ² + ε) · γ + β
            stats = self.running_mean, self.running_var
            return F.batch_norm(input, *stats, self.weight, self.bias, training=False, eps=self.eps)
        n = input.numel() // self.num_features  # values per feature
        if int(self.num_batches_tracked) <= self.warmup_steps:
            self.num_batches_tracked.add_(1)
            # Plain batch norm as one fused kernel. F.batch_norm divides by √(σ²(n-1)/n + ε'), the
            # biased variance; with ε' = ε(n-1)/n and γ' = γ√((n-1)/n) its output is exactly
            # (x - μ_B)γ/√(σ_B² + ε) + β, and its running statistics take the unbiased σ_B².
            c = ((n - 1) / n) ** 0.5 if n > 1 else 1.0
            weight = self.weight * c if self.affine else torch.full_like(self.running_var, c)
            stats = self.running_mean, self.running_var
            return F.batch_norm(input, *stats, weight, self.bias, True, self.momentum or 0.0, self.eps * c * c)
        shape = [1, -1] + [1] * (input.dim() - 2)
        dims = [0] + list(range(2, input.dim()))
        batch_mean = input.mean(dim=dims)
        centered = input - batch_mean.view(shape)
        batch_var = centered.square().sum(dim=dims) / (n - 1)
        running_std = (self.running_var + self.eps).sqrt()
        r = ((batch_var + self.eps).sqrt() / running_std).detach().clamp(1 / self.r_max, self.r_max)
        d = ((batch_mean - self.running_mean) / running_std).detach().clamp(-self.d_max, self.d_max)
        with torch.no_grad():
            self.running_mean.lerp_(batch_mean.detach(), self.momentum or 0.0)
            self.running_var.lerp_(batch_var.detach(), self.momentum or 0.0)
            self.num_batches_tracked.add_(1)
        # x̂γ + β = (x - μ_B)·s + o with s = γ/√(σ_B²/r² + ε), o = β + s·d·σ_B/r
        scale = (batch_var / r.square() + self.eps).rsqrt()
        shift = d * batch_var.sqrt() / r
        if self.affine:
            scale = scale * self.weight
            offset = torch.addcmul(self.bias, shift, scale)
        else:
            offset = shift * scale
        return torch.addcmul(offset.view(shape), centered, scale.view(shape))

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        for theirs, ours in _CONTRIB_KEYS.items():
            if prefix + theirs in state_dict and prefix + ours not in state_dict:
                state_dict[prefix + ours] = state_dict.pop(prefix + theirs)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, warmup_steps={self.warmup_steps}, r_max={self.r_max}, d_max={self.d_max}"

r"""Spectrally normalized linear and convolutional layers (Miyato et al. 2018; in RL: Gogianu et
al. 2021, Bjorck et al. 2021).

The effective weight is the raw weight divided by an estimate of its largest singular value:

.. math::
    W_{SN} = W / \hat\sigma(W), \qquad \hat\sigma(W) = u^\top W v = \lVert W v\rVert

with :math:`W` seen as an ``out × (in·kH·kW)`` matrix and :math:`u, v` unit vectors refined by
power iteration, :math:`v \leftarrow W^\top u/\lVert W^\top u\rVert`,
:math:`u \leftarrow W v/\lVert W v\rVert` (no gradient through :math:`u, v`; the gradient flows
through :math:`\hat\sigma`).

Cost (as for wnrl's weight norm): power iteration runs only in training mode (``n_power_iterations``
per forward pass, 15 when the layer is built or reset). In eval mode, or without autograd, no
iteration runs and :math:`W/\hat\sigma` is cached, keyed on the version counters of ``weight`` (a
:class:`~wnrl.nn.TrackedParameter`, so SB3's ``polyak_update`` through ``.data`` is seen) and of
``u``: ``predict`` costs a plain ``F.linear`` / ``F.conv2d``.

The singular-vector estimates are the buffers ``sn_u`` / ``sn_v`` (saved with the model). They
are deliberately not named ``running_*``: SB3 copies such buffers from online to target networks
(``batch_norm_stats``), which is wrong here when the target's weights are a Polyak average (the
online network's singular vectors are not the target's). A target network, always in eval mode,
refines its own estimates instead: wnrl's SAC/TD3 policies call :meth:`power_iteration` on it
before each use in an update (never while acting).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wnrl.nn.weight_norm import TrackedParameter

__all__ = ["SpectralNormConv2d", "SpectralNormLinear", "SpectralNormMixin", "spectral_norm_layers"]

_INIT_ITERATIONS = 15


class SpectralNormMixin(nn.Module):
    """What :class:`SpectralNormLinear` and :class:`SpectralNormConv2d` share (a mixin placed
    before ``nn.Linear`` / ``nn.Conv2d``, whose ``weight`` is the raw :math:`W`)."""

    weight: Tensor
    sn_u: Tensor
    sn_v: Tensor
    n_power_iterations: int
    sn_eps: float
    _sn_cache: tuple[Any, ...] | None

    def _init_spectral(self, n_power_iterations: int, eps: float) -> None:
        if n_power_iterations < 1:
            raise ValueError(f"n_power_iterations must be at least 1, got {n_power_iterations}")
        self.n_power_iterations, self.sn_eps = int(n_power_iterations), float(eps)
        w = self.weight
        self.weight = TrackedParameter(w.detach(), w.requires_grad)
        out, rest = w.shape[0], math.prod(w.shape[1:])
        gen = torch.Generator(device="cpu").manual_seed(0)  # no draw from the global RNG
        u = F.normalize(torch.randn(out, generator=gen), dim=0, eps=eps)
        v = F.normalize(torch.randn(rest, generator=gen), dim=0, eps=eps)
        self.register_buffer("sn_u", u.to(device=w.device, dtype=w.dtype))
        self.register_buffer("sn_v", v.to(device=w.device, dtype=w.dtype))
        self._sn_cache = None
        self.power_iteration(_INIT_ITERATIONS)

    @torch.no_grad()
    def power_iteration(self, n: int | None = None) -> None:
        """Refine ``sn_u`` / ``sn_v`` by ``n`` (default ``n_power_iterations``) steps."""
        w = self.weight.detach().flatten(1)
        u, v = self.sn_u, self.sn_v
        for _ in range(self.n_power_iterations if n is None else n):
            v = F.normalize(w.T @ u, dim=0, eps=self.sn_eps)
            u = F.normalize(w @ v, dim=0, eps=self.sn_eps)
        self.sn_u.copy_(u)
        self.sn_v.copy_(v)

    def sigma(self) -> Tensor:
        r""":math:`\hat\sigma = \lVert W v\rVert` with the current estimate :math:`v` (differentiable in
        :math:`W`). After a power-iteration step :math:`u = Wv/\lVert Wv\rVert`, so this is
        :math:`u^\top W v` with the same gradient :math:`u v^\top`; unlike :math:`u^\top W v` it stays
        positive (:math:`\ge \sigma_{min}`) when :math:`W` was rewritten in place since the last
        iteration (e.g. SB3's orthogonal init), instead of collapsing towards 0."""
        return torch.linalg.vector_norm(self.weight.flatten(1) @ self.sn_v)

    def normalized_weight(self) -> Tensor:
        """:math:`W / \\hat\\sigma` (differentiable, no power iteration)."""
        return self.weight / self.sigma().clamp_min(self.sn_eps)

    def _forward_weight(self) -> Tensor:
        """The weight a forward pass uses: iterate then normalize in training mode, else cached."""
        if self.training:
            self.power_iteration()
            # a copy: autograd keeps v as it was in this forward, the buffer moves on
            sigma = torch.linalg.vector_norm(self.weight.flatten(1) @ self.sn_v.clone())
            return self.weight / sigma.clamp_min(self.sn_eps)
        w, u = self.weight, self.sn_u
        if torch.is_grad_enabled() and w.requires_grad:
            return self.normalized_weight()
        key = (w.data_ptr(), w._version, u.data_ptr(), u._version, self.sn_v._version)
        c = self._sn_cache
        if c is not None and c[0] == key:
            return c[1]
        with torch.inference_mode(False), torch.no_grad():
            out = self.normalized_weight()
        self._sn_cache = (key, out, w.detach()) if type(w) is TrackedParameter else None
        return out

    def clear_cache(self) -> None:
        """Drop the cached eval weight (only needed after writes that bypass version counters)."""
        self._sn_cache = None

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        self._sn_cache = None
        return super()._apply(fn, recurse)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_sn_cache"] = None
        return state

    def reset_parameters(self) -> None:
        super().reset_parameters()  # type: ignore[misc]
        if "sn_u" in self._buffers:
            self.power_iteration(_INIT_ITERATIONS)


class SpectralNormLinear(SpectralNormMixin, nn.Linear):
    r"""Spectrally normalized :class:`torch.nn.Linear`: :math:`y = x (W/\hat\sigma)^\top + b`.

    :param in_features: size of each input sample
    :param out_features: size of each output sample
    :param bias: learn an additive bias
    :param n_power_iterations: power-iteration steps per training forward pass
    :param eps: numerical floor of norms and of :math:`\hat\sigma`
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        n_power_iterations: int = 1,
        eps: float = 1e-12,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias, device=device, dtype=dtype)
        self._init_spectral(n_power_iterations, eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self._forward_weight(), self.bias)


class SpectralNormConv2d(SpectralNormMixin, nn.Conv2d):
    r"""Spectrally normalized :class:`torch.nn.Conv2d` (:math:`W` reshaped to ``out × in·kH·kW``,
    as :func:`torch.nn.utils.parametrizations.spectral_norm`). Arguments are ``nn.Conv2d``'s plus
    ``n_power_iterations`` and ``eps``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        n_power_iterations: int = 1,
        eps: float = 1e-12,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        nn.Conv2d.__init__(
            self,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            device=device,
            dtype=dtype,
        )
        self._init_spectral(n_power_iterations, eps)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self._forward_weight(), self.bias)


def spectral_norm_layers(module: nn.Module) -> list[tuple[str, SpectralNormMixin]]:
    """``(qualified name, layer)`` of every spectrally normalized layer in ``module``."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, SpectralNormMixin)]

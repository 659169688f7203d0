r"""Weight-normalized linear and convolutional layers (Salimans & Kingma, 2016).

Each output unit's weight vector is reparameterized as

.. math::
    w_i = g_i \, \frac{v_i}{\lVert v_i \rVert}

with a learned length :math:`g_i` (one per output unit / output channel) and a learned
direction :math:`v_i`. Gradients w.r.t. :math:`v` are orthogonal to :math:`v`, so under plain SGD
:math:`\lVert v \rVert` grows monotonically, which shrinks the effective step size on noisy
gradients (the paper's self-stabilisation).

Speed:

* With autograd active the layer never materialises :math:`w` for dense layers when the batch is
  no larger than ``in_features``: it computes :math:`x v^\top` and scales each output column by
  :math:`g / \lVert v \rVert` (one fused ``addcmul``). For large batches and for convolutions
  scaling the (small) weight is cheaper than scaling the (large) output, so that form is used.
* Without autograd (``torch.no_grad``, ``inference_mode``: SB3's ``predict``, rollouts and target
  computations) the effective weight is cached and served through a plain ``F.linear`` /
  ``F.conv2d``. The cache is keyed on the version counters and storage of ``g`` and ``v``, so any
  in-place change (optimizer step, ``load_state_dict``, polyak update, projection) or device /
  dtype move invalidates it: a stale weight is never served.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

__all__ = ["WeightNormLinear", "WeightNormConv2d", "is_weight_norm", "WeightNormMixin"]


class WeightNormMixin:
    """Shared parameter handling of :class:`WeightNormLinear` and :class:`WeightNormConv2d`.

    Subclasses own ``v`` (``out × ...``), ``g`` (``out``) and ``bias`` (``out`` or ``None``).
    """

    v: nn.Parameter
    g: nn.Parameter
    bias: nn.Parameter | None
    _cache: tuple[tuple[Any, ...], Tensor] | None

    def _v_norm(self) -> Tensor:
        """Per-output-unit norm :math:`\\lVert v_i \\rVert`, shape ``(out,)``."""
        return torch.linalg.vector_norm(self.v.flatten(1), dim=1)

    def scale(self) -> Tensor:
        """Per-output-unit factor :math:`g_i / \\lVert v_i \\rVert`, shape ``(out,)``."""
        return self.g / self._v_norm()

    def _expand(self, s: Tensor) -> Tensor:
        return s.view(-1, *([1] * (self.v.dim() - 1)))

    @property
    def weight(self) -> Tensor:
        """The effective weight :math:`g \\cdot v / \\lVert v \\rVert` (differentiable)."""
        return self.v * self._expand(self.scale())

    def _cache_key(self) -> tuple[Any, ...]:
        g, v = self.g, self.v
        return (g._version, v._version, g.data_ptr(), v.data_ptr(), v.dtype)

    def cached_weight(self) -> Tensor:
        """The effective weight, detached, recomputed only when ``g`` or ``v`` changed."""
        key = self._cache_key()
        cache = self._cache
        if cache is None or cache[0] != key:
            with torch.no_grad():
                w = self.v * self._expand(self.scale())
            self._cache = cache = (key, w)
        return cache[1]

    def _use_cache(self) -> bool:
        if torch.is_grad_enabled() and (self.v.requires_grad or self.g.requires_grad):
            return False
        return not torch.compiler.is_compiling()

    @torch.no_grad()
    def reset_from_weight(self, weight: Tensor) -> None:
        """Set ``v = weight`` and ``g = ‖weight_i‖`` so the effective weight equals ``weight``.

        This is how a custom init (e.g. SB3's orthogonal init) is applied to a weight-norm layer:
        writing into :attr:`weight` would be silently lost because it is computed.
        """
        self.v.copy_(weight)
        self.g.copy_(torch.linalg.vector_norm(weight.flatten(1), dim=1))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()  # type: ignore[attr-defined]
        state["_cache"] = None
        return state

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:  # noqa: ANN001
        # Accept checkpoints of the plain layer (``weight``) and of torch's parametrization
        # (``parametrizations.weight.original0`` = g, ``original1`` = v).
        plain, p0, p1 = prefix + "weight", prefix + "parametrizations.weight.original0", \
            prefix + "parametrizations.weight.original1"
        if prefix + "v" not in state_dict:
            if plain in state_dict:
                w = state_dict.pop(plain)
                state_dict[prefix + "v"] = w
                state_dict[prefix + "g"] = torch.linalg.vector_norm(w.flatten(1), dim=1)
            elif p0 in state_dict and p1 in state_dict:
                state_dict[prefix + "g"] = state_dict.pop(p0).flatten()
                state_dict[prefix + "v"] = state_dict.pop(p1)
        super()._load_from_state_dict(  # type: ignore[misc]
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)


def is_weight_norm(module: nn.Module) -> bool:
    """Whether ``module`` is a wnrl weight-norm layer."""
    return isinstance(module, WeightNormMixin)


class WeightNormLinear(WeightNormMixin, nn.Module):
    r"""Weight-normalized :class:`torch.nn.Linear`: :math:`y = x (g \cdot v/\lVert v\rVert)^\top + b`.

    :param in_features: size of each input sample
    :param out_features: size of each output sample
    :param bias: whether to learn an additive bias
    :param init_std: std of the Gaussian init of ``v`` (the paper's 0.05); ``g`` starts at
        ``‖v_i‖`` so the initial function equals a plain layer with weight ``v``
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init_std: float = 0.05, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.in_features, self.out_features = in_features, out_features
        self.v = nn.Parameter(torch.empty(out_features, in_features, **kw))
        self.g = nn.Parameter(torch.empty(out_features, **kw))
        self.bias = nn.Parameter(torch.empty(out_features, **kw)) if bias else None
        self.init_std = init_std
        self._cache = None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """``v ~ N(0, init_std²)``, ``g = ‖v_i‖``, ``b = 0``."""
        nn.init.normal_(self.v, 0.0, self.init_std)
        self.g.copy_(self._v_norm())
        if self.bias is not None:
            self.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        if self._use_cache():
            return F.linear(x, self.cached_weight(), self.bias)
        # Scale the output when that touches fewer numbers than scaling the weight.
        if x.dim() >= 2 and x.numel() // self.in_features <= self.in_features:
            y = F.linear(x, self.v)
            s = self.scale()
            return torch.addcmul(self.bias, y, s) if self.bias is not None else y * s
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> WeightNormLinear:
        """Weight-norm layer computing exactly ``linear``'s function (``v = w``, ``g = ‖w_i‖``)."""
        w = linear.weight
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None,
                    device=w.device, dtype=w.dtype)
        layer.reset_from_weight(w.detach())
        if linear.bias is not None:
            with torch.no_grad():
                layer.bias.copy_(linear.bias)  # type: ignore[union-attr]
        return layer

    @torch.no_grad()
    def to_linear(self) -> nn.Linear:
        """Fold into a plain :class:`torch.nn.Linear` with the same function (for export)."""
        v = self.v
        lin = nn.Linear(self.in_features, self.out_features, self.bias is not None,
                        device=v.device, dtype=v.dtype)
        lin.weight.copy_(self.weight)
        if self.bias is not None:
            lin.bias.copy_(self.bias)
        return lin


class WeightNormConv2d(WeightNormMixin, nn.Module):
    r"""Weight-normalized :class:`torch.nn.Conv2d`, one :math:`g` per output channel.

    :math:`w_c = g_c \, v_c / \lVert v_c \rVert` where :math:`v_c` is the whole
    ``in_channels/groups × kH × kW`` filter of output channel ``c``. Constructor arguments are those
    of :class:`torch.nn.Conv2d`, plus ``init_std`` (std of the Gaussian init of ``v``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", init_std: float = 0.05, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError("in_channels and out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise ValueError("WeightNormConv2d supports padding_mode='zeros' only")
        kw = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.padding_mode = padding_mode
        self.v = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size, **kw))
        self.g = nn.Parameter(torch.empty(out_channels, **kw))
        self.bias = nn.Parameter(torch.empty(out_channels, **kw)) if bias else None
        self.init_std = init_std
        self._cache = None
        self.reset_parameters()

    reset_parameters = WeightNormLinear.reset_parameters

    def _conv(self, x: Tensor, w: Tensor) -> Tensor:
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, x: Tensor) -> Tensor:
        if self._use_cache():
            return self._conv(x, self.cached_weight())
        return self._conv(x, self.weight)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
                f"bias={self.bias is not None}")

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> WeightNormConv2d:
        """Weight-norm conv computing exactly ``conv``'s function."""
        w = conv.weight
        layer = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                    conv.padding, conv.dilation, conv.groups, conv.bias is not None,
                    conv.padding_mode, device=w.device, dtype=w.dtype)
        layer.reset_from_weight(w.detach())
        if conv.bias is not None:
            with torch.no_grad():
                layer.bias.copy_(conv.bias)  # type: ignore[union-attr]
        return layer

    @torch.no_grad()
    def to_conv(self) -> nn.Conv2d:
        """Fold into a plain :class:`torch.nn.Conv2d` with the same function (for export)."""
        v = self.v
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                         self.padding, self.dilation, self.groups, self.bias is not None,
                         device=v.device, dtype=v.dtype)
        conv.weight.copy_(self.weight)
        if self.bias is not None:
            conv.bias.copy_(self.bias)
        return conv


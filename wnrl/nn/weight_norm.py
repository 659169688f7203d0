r"""Weight-normalized linear and convolutional layers (Salimans & Kingma, 2016).

Each output unit's weight vector is reparameterized as

.. math::
    w_i = g_i \, \frac{v_i}{\lVert v_i \rVert}

with a learned length :math:`g_i` (one per output unit / output channel) and a learned
direction :math:`v_i`. Gradients w.r.t. :math:`v` are orthogonal to :math:`v`, so under plain SGD
:math:`\lVert v \rVert` grows monotonically, which shrinks the effective step size on noisy
gradients (the paper's self-stabilisation).

Speed:

* With autograd active the effective weight is computed by ATen's fused weight-norm kernel
  (``torch._weight_norm``: one kernel forward, one backward, the op behind
  :func:`torch.nn.utils.parametrizations.weight_norm`) and fed to ``F.linear`` / ``F.conv2d``.
  On CPU the kernel (``torch._weight_norm_interface``) is called directly with the 1-D ``g``:
  the same kernels and values, one dispatch and one autograd node (``g``'s view) fewer per layer.
* Without autograd (``torch.no_grad``, ``inference_mode``: SB3's ``predict``, rollouts and target
  computations) the effective weight is cached and served through a plain ``F.linear`` /
  ``F.conv2d``. The cache is keyed on the version counters and storage addresses of ``g`` and
  ``v`` (and keeps the storages it was computed from alive, so an address cannot be reused), so any
  in-place change (optimizer step, ``load_state_dict``, polyak update, projection) or device /
  dtype move invalidates it: a stale weight is never served.
* ``v`` and ``g`` are :class:`TrackedParameter`\ s: ``p.data`` returns ``p.detach()``, which
  shares ``p``'s version counter, so writes through ``.data`` (stable-baselines3's
  ``polyak_update`` does ``target.data.mul_(1 - tau)``) are seen by the cache as well. If a plain
  ``nn.Parameter`` is put in their place, the layer simply stops caching (correct, a bit slower).
  Fused optimizer steps (which do not bump version counters) are made to by a global step hook
  (:func:`wnrl.nn._compat.track_fused_optimizer_steps`).
  Writes that bypass the version counter entirely (through a NumPy view of the storage, or through
  another tensor aliased in with ``p.data = t``) are not detectable; call :meth:`clear_cache`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair

from wnrl.nn._compat import WEIGHT_NORM_INTERFACE, allow_foreach, set_tensor_data, track_fused_optimizer_steps

__all__ = ["WeightNormLinear", "WeightNormConv2d", "is_weight_norm", "WeightNormMixin", "TrackedParameter"]


def _rebuild_tracked_parameter(data: Tensor, requires_grad: bool) -> TrackedParameter:
    return TrackedParameter(data, requires_grad)


class TrackedParameter(nn.Parameter):
    """An ``nn.Parameter`` whose in-place writes through ``.data`` bump its version counter.

    Plain ``p.data`` is a new tensor with a *fresh* version counter, so ``p.data.mul_(2)`` changes
    ``p`` without changing ``p._version``. Here ``p.data`` is ``p.detach()``, which shares the
    counter; everything else behaves as ``nn.Parameter`` (setting ``p.data = t`` still swaps the
    storage, pickling / deepcopy keep the type). One visible difference: writing through ``.data``
    into a value that a pending backward still needs now raises autograd's "modified by an inplace
    operation" error instead of silently producing wrong gradients.
    """

    @property
    def data(self) -> Tensor:
        return self.detach()

    @data.setter
    def data(self, value: Tensor) -> None:
        set_tensor_data(self, value)

    def __reduce_ex__(self, proto: Any) -> Any:
        return _rebuild_tracked_parameter, (self.detach(), self.requires_grad)

    # mypy rejects every override of Tensor.__repr__ (even one with its exact signature).
    def __repr__(self) -> str:  # type: ignore[override]
        return "Parameter containing:\n" + repr(self.detach())


# The optimizers default to their multi-tensor (foreach) implementation only for an exact list of
# parameter types; TrackedParameter is a plain tensor for every kernel, so it belongs there.
allow_foreach(TrackedParameter)
# Fused optimizer steps do not bump version counters: make them (the inference cache relies on it).
track_fused_optimizer_steps()


#: Whether training forwards on CPU call ``torch._weight_norm_interface`` directly.
_FAST_WEIGHT_NORM = WEIGHT_NORM_INTERFACE is not None


class WeightNormMixin(nn.Module):
    """Shared parameter handling of :class:`WeightNormLinear` and :class:`WeightNormConv2d`.

    Subclasses own ``v`` (``out × ...``), ``g`` (``out``) and ``bias`` (``out`` or ``None``).
    """

    v: nn.Parameter
    g: nn.Parameter
    bias: nn.Parameter | None
    init_std: float | None
    # (v address, g address, v version, g version, weight, v alias, g alias) or None
    _cache: tuple[Any, ...] | None
    _gshape: tuple[int, ...]

    def _v_norm(self) -> Tensor:
        """Per-output-unit norm :math:`\\lVert v_i \\rVert`, shape ``(out,)``."""
        return torch.linalg.vector_norm(self.v.flatten(1), dim=1)

    def scale(self) -> Tensor:
        """Per-output-unit factor :math:`g_i / \\lVert v_i \\rVert`, shape ``(out,)``."""
        return self.g / self._v_norm()

    def _expand(self, s: Tensor) -> Tensor:
        return s.view(-1, *([1] * (self.v.dim() - 1)))

    def _compute_weight(self, v: Tensor, g: Tensor) -> Tensor:
        # Fused ATen kernel (forward and backward); g must have v's rank for its fallbacks and
        # for torch.compile's decomposition to broadcast per unit.
        return torch._weight_norm(v, g.view(self._gshape), 0)

    @property
    def weight(self) -> Tensor:
        """The effective weight :math:`g \\cdot v / \\lVert v \\rVert` (differentiable, fresh)."""
        p: dict[str, Any] = self._parameters  # v and g: no nn.Module.__getattr__ per call
        return self._compute_weight(p["v"], p["g"])

    def cached_weight(self) -> Tensor:
        """The effective weight, detached, recomputed only when ``g`` or ``v`` changed."""
        with torch.no_grad():
            return self._forward_weight()

    def _refresh(self, v: Tensor, g: Tensor) -> Tensor:
        # inference_mode(False) re-enables grad mode, so it must come before no_grad(); it keeps an
        # inference tensor out of the cache (it could not be saved for a later backward).
        with torch.inference_mode(False), torch.no_grad():
            w = self._compute_weight(v, g)
            if type(v) is TrackedParameter and type(g) is TrackedParameter:
                va, ga = v.detach(), g.detach()  # keep the storages alive: no address reuse
                self._cache = (va.data_ptr(), ga.data_ptr(), v._version, g._version, w, va, ga)
            else:  # writes through .data would go unseen: do not cache
                self._cache = None
        return w

    def clear_cache(self) -> None:
        """Drop the cached inference weight (only needed after writes that bypass autograd's
        version counter, e.g. through a NumPy view of ``v``)."""
        self._cache = None

    def _forward_weight(self) -> Tensor:
        """The weight a forward pass uses: differentiable when autograd needs it (or while
        ``torch.compile`` traces), else the cached one. Kept lean: it runs on every call."""
        p: dict[str, Any] = self._parameters
        v, g = p["v"], p["g"]
        if torch.is_grad_enabled() and (v.requires_grad or g.requires_grad):
            if v.is_cpu and _FAST_WEIGHT_NORM and not torch.compiler.is_compiling():
                return WEIGHT_NORM_INTERFACE(v, g, 0)[0]  # the CPU kernel takes the 1-D g as it is
            return self._compute_weight(v, g)
        if torch.compiler.is_compiling():
            return self._compute_weight(v, g)
        c = self._cache  # the cache check, inlined here (the hot path): one method call less per layer
        if (
            c is not None
            and c[2] == v._version
            and c[3] == g._version
            and c[0] == v.data_ptr()
            and c[1] == g.data_ptr()
        ):
            return c[4]
        return self._refresh(v, g)

    @torch.no_grad()
    def _init_parameters(
        self, v_shape: tuple[int, ...], bias: bool, init_std: float | None, device: Any, dtype: Any
    ) -> None:
        """Create ``v`` (``v_shape``), ``g`` and ``bias`` (one per output unit, ``bias=False``:
        none), in that order, and initialise them (:meth:`reset_parameters`).

        :param v_shape: the plain layer's weight shape, output units first
        :param bias: whether the layer has a bias
        :param init_std: ``None`` (the plain layer's init) or the std of ``v ~ N(0, init_std²)``
        :param device: the parameters' device
        :param dtype: the parameters' dtype
        """
        kw = {"device": device, "dtype": dtype}
        self.v = TrackedParameter(torch.empty(v_shape, **kw))
        self.g = TrackedParameter(torch.empty(v_shape[0], **kw))
        self.register_parameter("bias", nn.Parameter(torch.empty(v_shape[0], **kw)) if bias else None)
        self.init_std = init_std
        self._cache = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``v`` and ``bias`` as the plain layer (or ``v ~ N(0, init_std²)``, ``b = 0``), then
        ``g = ‖v_i‖`` so the effective weight equals ``v``."""
        if self.init_std is None:
            nn.init.kaiming_uniform_(self.v, a=math.sqrt(5))  # torch.nn.Linear / Conv2d default
            if self.bias is not None:
                bound = 1.0 / math.sqrt(math.prod(self.v.shape[1:]))
                nn.init.uniform_(self.bias, -bound, bound)
        else:
            nn.init.normal_(self.v, 0.0, self.init_std)
            if self.bias is not None:
                self.bias.zero_()
        self.g.copy_(self._v_norm())

    @torch.no_grad()
    def reset_from_weight(self, weight: Tensor) -> None:
        """Set ``v = weight`` and ``g = ‖weight_i‖`` so the effective weight equals ``weight``.

        This is how a custom init (e.g. SB3's orthogonal init) is applied to a weight-norm layer:
        writing into :attr:`weight` would be silently lost because it is computed.
        """
        self.v.copy_(weight)
        self.g.copy_(torch.linalg.vector_norm(weight.flatten(1), dim=1))

    @torch.no_grad()
    def _copy_from(self, plain: nn.Linear | nn.Conv2d) -> None:
        """Compute exactly ``plain``'s function: ``v = w``, ``g = ‖w_i‖``, its bias copied.

        :param plain: the layer of the same shape to take the weight and bias of
        """
        self.reset_from_weight(plain.weight.detach())
        if plain.bias is not None and self.bias is not None:
            self.bias.copy_(plain.bias)

    @torch.no_grad()
    def _copy_to(self, plain: nn.Linear | nn.Conv2d) -> None:
        """Give ``plain`` (of the same shape) this layer's effective weight and bias.

        :param plain: the plain layer to fold into
        """
        plain.weight.copy_(self.weight)
        if self.bias is not None and plain.bias is not None:
            plain.bias.copy_(self.bias)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        self._cache = None  # do not keep the old storages alive across .to() / .cuda()
        return super()._apply(fn, recurse)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = None
        return state

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
        # Accept checkpoints of the plain layer (``weight``) and of torch's parametrization
        # (``parametrizations.weight.original0`` = g, ``original1`` = v).
        plain, p0, p1 = (
            prefix + "weight",
            prefix + "parametrizations.weight.original0",
            prefix + "parametrizations.weight.original1",
        )
        if prefix + "v" not in state_dict:
            if plain in state_dict:
                w = state_dict.pop(plain)
                state_dict[prefix + "v"] = w
                state_dict[prefix + "g"] = torch.linalg.vector_norm(w.flatten(1), dim=1)
            elif p0 in state_dict and p1 in state_dict:
                state_dict[prefix + "g"] = state_dict.pop(p0).flatten()
                state_dict[prefix + "v"] = state_dict.pop(p1)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


def is_weight_norm(module: nn.Module) -> bool:
    """Whether ``module`` is a wnrl weight-norm layer."""
    return isinstance(module, WeightNormMixin)


class WeightNormLinear(WeightNormMixin):
    r"""Weight-normalized :class:`torch.nn.Linear`: :math:`y = x (g \cdot v/\lVert v\rVert)^\top + b`.

    :param in_features: size of each input sample
    :param out_features: size of each output sample
    :param bias: whether to learn an additive bias
    :param init_std: ``None`` (default) initialises ``v`` and ``bias`` exactly as
        :class:`torch.nn.Linear` does, so a weight-norm network starts from the same function and
        the same parameter scale as its plain twin (Adam's steps are per-element, so a smaller
        ``‖v‖`` would silently raise the effective learning rate of the directions); a number
        gives the paper's ``v ~ N(0, init_std²)`` (0.05) with zero bias. ``g`` starts at ``‖v_i‖``.
    """

    _gshape = (-1, 1)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init_std: float | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._init_parameters((out_features, in_features), bias, init_std, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self._forward_weight(), self._parameters["bias"])

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> WeightNormLinear:
        """Weight-norm layer computing exactly ``linear``'s function (``v = w``, ``g = ‖w_i‖``)."""
        w = linear.weight
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, device=w.device, dtype=w.dtype)
        layer._copy_from(linear)
        return layer

    @torch.no_grad()
    def to_linear(self) -> nn.Linear:
        """Fold into a plain :class:`torch.nn.Linear` with the same function (for export)."""
        v = self.v
        lin = nn.Linear(self.in_features, self.out_features, self.bias is not None, device=v.device, dtype=v.dtype)
        self._copy_to(lin)
        return lin


class WeightNormConv2d(WeightNormMixin):
    r"""Weight-normalized :class:`torch.nn.Conv2d`, one :math:`g` per output channel.

    :math:`w_c = g_c \, v_c / \lVert v_c \rVert` where :math:`v_c` is the whole
    ``in_channels/groups × kH × kW`` filter of output channel ``c``. Constructor arguments are those
    of :class:`torch.nn.Conv2d`, plus ``init_std`` (``None``: ``nn.Conv2d``'s init; a number: the
    paper's Gaussian ``v ~ N(0, init_std²)``).
    """

    _gshape = (-1, 1, 1, 1)

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
        padding_mode: str = "zeros",
        init_std: float | None = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError("in_channels and out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise ValueError("WeightNormConv2d supports padding_mode='zeros' only")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.padding_mode = padding_mode
        v_shape = (out_channels, in_channels // groups, *self.kernel_size)
        self._init_parameters(v_shape, bias, init_std, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(
            x, self._forward_weight(), self._parameters["bias"], self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
            f"bias={self.bias is not None}"
        )

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> WeightNormConv2d:
        """Weight-norm conv computing exactly ``conv``'s function."""
        w = conv.weight
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
            conv.bias is not None,
            conv.padding_mode,
            device=w.device,
            dtype=w.dtype,
        )
        layer._copy_from(conv)
        return layer

    @torch.no_grad()
    def to_conv(self) -> nn.Conv2d:
        """Fold into a plain :class:`torch.nn.Conv2d` with the same function (for export)."""
        v = self.v
        conv = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.bias is not None,
            device=v.device,
            dtype=v.dtype,
        )
        self._copy_to(conv)
        return conv

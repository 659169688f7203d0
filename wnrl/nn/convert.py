r"""Whole-network helpers: convert to / fold out of weight norm, and project :math:`v`.

Projection (normalize-and-project, Lyle et al. 2024): :math:`v_i \leftarrow v_i/\lVert v_i\rVert`.
The effective weight :math:`g\,v/\lVert v\rVert` does not depend on :math:`\lVert v\rVert`, so the
function is unchanged, but the effective learning rate of :math:`v` (which decays as
:math:`\lVert v\rVert` grows) is reset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from wnrl.nn.weight_norm import WeightNormConv2d, WeightNormLinear, WeightNormMixin

__all__ = ["convert_to_weight_norm", "fold_weight_norm", "project_weight_norm_", "weight_norm_layers"]


def weight_norm_layers(module: nn.Module) -> Iterator[tuple[str, WeightNormMixin]]:
    """Yield ``(qualified_name, layer)`` for every weight-norm layer in ``module``."""
    for name, m in module.named_modules():
        if isinstance(m, WeightNormMixin):
            yield name, m


def _swap(
    module: nn.Module, convert: Callable[[nn.Module], nn.Module | None], skip: set[str], prefix: str = ""
) -> nn.Module:
    if prefix not in skip:
        new = convert(module)
        if new is not None:
            return new
    for name, child in list(module.named_children()):
        full = f"{prefix}.{name}" if prefix else name
        new_child = _swap(child, convert, skip, full)
        if new_child is not child:
            setattr(module, name, new_child)
    return module


def convert_to_weight_norm(module: nn.Module, skip: Iterable[str] = ()) -> nn.Module:
    """Replace every ``nn.Linear`` / ``nn.Conv2d`` in ``module`` by its weight-norm twin.

    The function is unchanged (``v = w``, ``g = ‖w_i‖``). Works in place on containers and returns
    the (possibly new) root module.

    :param module: network to convert
    :param skip: qualified names of layers to leave as they are
    """

    def convert(m: nn.Module) -> nn.Module | None:
        if type(m) is nn.Linear:
            return WeightNormLinear.from_linear(m)
        if type(m) is nn.Conv2d and m.padding_mode == "zeros":
            return WeightNormConv2d.from_conv(m)
        return None

    return _swap(module, convert, set(skip))


def fold_weight_norm(module: nn.Module) -> nn.Module:
    """Replace every weight-norm layer by a plain ``nn.Linear`` / ``nn.Conv2d`` with the same
    function (for export: ONNX, TorchScript, other frameworks)."""

    def convert(m: nn.Module) -> nn.Module | None:
        if isinstance(m, WeightNormLinear):
            return m.to_linear()
        if isinstance(m, WeightNormConv2d):
            return m.to_conv()
        return None

    return _swap(module, convert, set())


@torch.no_grad()
def project_weight_norm_(module: nn.Module, eps: float = 1e-12) -> int:
    """Rescale each ``v_i`` of every weight-norm layer in ``module`` to unit norm, in place.

    The network's function is unchanged. Returns the number of layers projected.
    """
    n = 0
    for _, layer in weight_norm_layers(module):
        layer.v.div_(layer._expand(layer._v_norm().clamp_min(eps)))
        n += 1
    return n

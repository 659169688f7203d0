r"""Data-dependent initialisation of whole networks (Salimans & Kingma, 2016, section 3).

For each weight-norm layer, on a batch of real inputs, with :math:`t = v \cdot x / \lVert v\rVert`
per output unit (per output channel for convolutions, statistics over batch and space):

.. math::
    g \leftarrow \frac{s}{\sigma[t]}, \qquad b \leftarrow -\frac{s\,\mu[t]}{\sigma[t]}

so the layer's pre-activations :math:`g\,t + b` have mean 0 and std :math:`s` (``init_scale``).
Layers are initialised sequentially in forward order during a single forward pass: a forward
pre-hook initialises a layer just before it runs, so every layer sees the already-normalised
outputs of the layers below it (as in the reference TF/Lasagne code). This works for any module
with a forward pass: MLPs, CNNs, nested ``Sequential``\ s, multi-head networks.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wnrl.nn.weight_norm import WeightNormConv2d, WeightNormLinear, WeightNormMixin

__all__ = ["data_dependent_init"]

_Layer = WeightNormLinear | WeightNormConv2d | nn.Linear | nn.Conv2d


def _direction_preactivation(layer: _Layer, x: Tensor) -> Tensor:
    """:math:`t = v \\cdot x / \\lVert v \\rVert` (or ``W x`` for a plain layer), no bias."""
    if isinstance(layer, WeightNormMixin):
        w = layer.v / layer._expand(layer._v_norm())
    else:
        w = layer.weight
    if isinstance(layer, (WeightNormConv2d, nn.Conv2d)):
        return F.conv2d(x, w, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    return F.linear(x, w)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in patterns)


@torch.no_grad()
def _init_layer(name: str, layer: _Layer, x: Tensor, scale: float, eps: float) -> None:
    if not torch.isfinite(x).all():
        raise ValueError(f"data_dependent_init: input of layer {name!r} contains NaN or inf")
    t = _direction_preactivation(layer, x)
    t = t.transpose(0, 1).reshape(t.shape[1], -1) if t.dim() == 4 else t.reshape(-1, t.shape[-1]).T
    if t.shape[1] < 2:
        raise ValueError(
            f"data_dependent_init: layer {name!r} sees {t.shape[1]} value per unit; "
            "the init batch needs at least 2 examples"
        )
    mu, var = t.mean(dim=1), t.var(dim=1, unbiased=False)
    constant = var <= eps * (1.0 + mu.square())
    if constant.any():
        warnings.warn(
            f"data_dependent_init: {int(constant.sum())} of {len(var)} units of layer "
            f"{name!r} are constant on the init batch; their scale is left unchanged "
            "(use a larger or more varied batch)",
            RuntimeWarning,
            stacklevel=4,
        )
    sigma = torch.where(constant, torch.ones_like(var), (var + eps).sqrt())
    if isinstance(layer, WeightNormMixin):
        gain = torch.where(constant, layer.g, scale / sigma)  # constant units keep their scale
        layer.g.copy_(gain)
    else:
        gain = torch.where(constant, torch.ones_like(var), scale / sigma)
        layer.weight.mul_(gain.view(-1, *([1] * (layer.weight.dim() - 1))))
    if layer.bias is not None:
        layer.bias.copy_(-mu * gain)  # centres constant units too: their output becomes 0


def _targets(module: nn.Module, skip: Iterable[str | nn.Module], include_plain: bool) -> dict[str, _Layer]:
    """The layers to initialise, by qualified name, in ``named_modules`` order."""
    kinds: tuple[type[_Layer], ...] = (WeightNormLinear, WeightNormConv2d)
    if include_plain:
        kinds += (nn.Linear, nn.Conv2d)
    skip_names = [s for s in skip if isinstance(s, str)]
    skip_ids = {id(s) for s in skip if isinstance(s, nn.Module)}
    return {
        name: layer
        for name, layer in module.named_modules()
        if isinstance(layer, kinds) and id(layer) not in skip_ids and not _matches(name, skip_names)
    }


def data_dependent_init(
    module: nn.Module,
    batch: Any,
    init_scale: float = 1.0,
    skip: Iterable[str | nn.Module] = (),
    scales: Mapping[str, float] | None = None,
    include_plain: bool = False,
    eps: float = 1e-8,
    forward_fn: Callable[[nn.Module, Any], Any] | None = None,
) -> list[str]:
    """Initialise every weight-norm layer in ``module`` from the data in ``batch``.

    :param module: any network containing :class:`WeightNormLinear` / :class:`WeightNormConv2d`
    :param batch: inputs for one forward pass (a tensor; a tuple/list is unpacked as arguments)
    :param init_scale: target std of each initialised layer's pre-activations
    :param skip: layers to leave untouched, as qualified names (``"head"`` also skips
        ``"head.0"``) or module objects; RL output heads usually want their own small init
    :param scales: per-layer ``init_scale`` overrides by qualified name (prefix match as ``skip``)
    :param include_plain: also initialise plain ``nn.Linear`` / ``nn.Conv2d`` layers (rows of
        ``W`` rescaled), giving an unnormalised baseline the same starting function
    :param eps: added to the variance; units whose variance is below ``eps`` are constant on the
        batch: a warning is raised and their scale is left unchanged (never NaN)
    :param forward_fn: how to run the forward pass, ``forward_fn(module, batch)``; defaults to
        ``module(batch)``
    :return: names of the initialised layers, in the order they were initialised
    :raises ValueError: if a layer sees fewer than 2 values per unit, or NaN/inf inputs
    """
    targets = _targets(module, skip, include_plain)
    scales = dict(scales or {})
    done: list[str] = []

    def make_hook(name: str, layer: _Layer) -> Callable[..., None]:
        scale = next((scales[p] for p in sorted(scales, key=len, reverse=True) if _matches(name, [p])), init_scale)

        def hook(_: nn.Module, args: tuple[Any, ...]) -> None:
            if name not in done:  # a layer used twice is initialised on its first call
                _init_layer(name or type(module).__name__, layer, args[0], scale, eps)
                done.append(name)

        return hook

    handles = [layer.register_forward_pre_hook(make_hook(name, layer)) for name, layer in targets.items()]
    try:
        with torch.no_grad():
            if forward_fn is not None:
                forward_fn(module, batch)
            elif isinstance(batch, (tuple, list)):
                module(*batch)
            else:
                module(batch)
    finally:
        for h in handles:
            h.remove()
    missed = [n for n in targets if n not in done]
    if missed:
        warnings.warn(
            f"data_dependent_init: layers not reached by the forward pass were left as they were: {missed}",
            RuntimeWarning,
            stacklevel=2,
        )
    return done

"""The normalization vocabulary and the layer builders shared by every wnrl policy.

One word (:data:`wnrl.registry.NORMS`) selects a normalization everywhere
(``policy_kwargs=dict(norm=...)``, YAML ``agent.norm``, sweep grids). Each is two orthogonal
parts (:data:`wnrl.registry.NORM_PARTS`): the parametrization of the dense/conv weights and the
activation normalization. Exact layer order of one hidden layer of an MLP (``make_mlp``; heads
are plain unless ``norm_output``) and of a CNN layer:

===================  ==============  ============  =====================================================
``norm``             weights         activations   MLP layer order (CNN: ``Conv2d`` for ``Linear``)
===================  ==============  ============  =====================================================
``none``             plain           none          ``Linear → act``
``batch``            plain           batch         ``Linear → BatchNorm1d → act`` (CNN: ``BatchNorm2d``)
``layer``            plain           layer         ``Linear → LayerNorm → act`` (CNN: ``GroupNorm(1, C)``)
``weight``           weight          none          ``WNLinear → act`` (Salimans & Kingma 2016)
``weight_meanbn``    weight          meanbn        ``WNLinear → MeanOnlyBatchNorm → act``
``weight_proj``      weight_proj     none          ``WNLinear → act``, ``‖v_i‖ = 1`` after every optimizer step
``batch_renorm``     plain           batch_renorm  ``BatchRenorm → Linear → act``, and ``BatchRenorm``
                                                   before the head (CrossQ's order: the input is
                                                   normalized too); CNN: ``Conv2d → BatchRenorm → act``
``spectral``         spectral        none          ``SNLinear → act`` (every hidden layer)
``spectral_last``    spectral_last   none          ``Linear → act``, the last hidden layer ``SNLinear →
                                                   act`` (Bjorck et al. 2021); CNN: plain convs,
                                                   ``SNLinear`` for the extractor's dense layer
``weight_proj_brn``  weight_proj     batch_renorm  ``BatchRenorm → WNLinear → act``, ``BatchRenorm``
                                                   before the head, ``‖v_i‖ = 1`` after every step
                                                   (CrossQ + WN, Palenicek et al. 2025)
===================  ==============  ============  =====================================================

``WNLinear`` is :class:`~wnrl.nn.WeightNormLinear`, ``SNLinear``
:class:`~wnrl.nn.spectral.SpectralNormLinear`, ``BatchRenorm``
:class:`~wnrl.nn.batch_renorm.BatchRenorm`. A head built with ``norm_output`` takes the
norm's weight parametrization (``spectral_last``: spectral).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from wnrl.nn import MeanOnlyBatchNorm, WeightNormConv2d, WeightNormLinear
from wnrl.nn.batch_renorm import BatchRenorm
from wnrl.nn.spectral import SpectralNormConv2d, SpectralNormLinear
from wnrl.registry import NORMS, WEIGHT_NORMS, check_norm, norm_parts

__all__ = ["NORMS", "WEIGHT_NORMS", "check_norm", "conv2d", "conv_block", "hidden_block", "linear", "make_mlp"]

_LINEAR: dict[str, type[nn.Module]] = {
    "plain": nn.Linear,
    "weight": WeightNormLinear,
    "weight_proj": WeightNormLinear,
    "spectral": SpectralNormLinear,
    "spectral_last": SpectralNormLinear,
}
_CONV: dict[str, type[nn.Module]] = {
    "plain": nn.Conv2d,
    "weight": WeightNormConv2d,
    "weight_proj": WeightNormConv2d,
    "spectral": SpectralNormConv2d,
    "spectral_last": nn.Conv2d,
}


def linear(in_features: int, out_features: int, norm: str) -> nn.Module:
    """A dense layer with ``norm``'s weight parametrization (plain, weight norm or spectral).

    :param in_features: input width
    :param out_features: output width
    :param norm: one of :data:`NORMS`
    """
    return _LINEAR[norm_parts(norm)[0]](in_features, out_features)


def conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int, norm: str) -> nn.Module:
    """A convolution with ``norm``'s weight parametrization (``spectral_last``: plain).

    :param in_channels: input channels
    :param out_channels: output channels
    :param kernel_size: kernel size
    :param stride: stride
    :param padding: padding
    :param norm: one of :data:`NORMS`
    """
    return _CONV[norm_parts(norm)[0]](in_channels, out_channels, kernel_size, stride=stride, padding=padding)


def _feature_norm(
    num_features: int, norm: str, spatial: bool, brn_kwargs: Mapping[str, Any] | None = None
) -> list[nn.Module]:
    act = norm_parts(norm)[1]
    if act == "batch":
        return [nn.BatchNorm2d(num_features) if spatial else nn.BatchNorm1d(num_features)]
    if act == "layer":
        return [nn.GroupNorm(1, num_features) if spatial else nn.LayerNorm(num_features)]
    if act == "meanbn":
        return [MeanOnlyBatchNorm(num_features)]
    if act == "batch_renorm":
        return [BatchRenorm(num_features, **dict(brn_kwargs or {}))]
    return []


def hidden_block(in_features: int, out_features: int, norm: str, activation_fn: type[nn.Module]) -> list[nn.Module]:
    """``Linear → [norm] → activation`` for one hidden layer (a CNN extractor's dense layer).

    :param in_features: input width
    :param out_features: output width
    :param norm: one of :data:`NORMS`
    :param activation_fn: activation class
    """
    return [linear(in_features, out_features, norm), *_feature_norm(out_features, norm, False), activation_fn()]


def conv_block(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int,
    padding: int,
    norm: str,
    activation_fn: type[nn.Module],
) -> list[nn.Module]:
    """``Conv2d → [norm] → activation`` for one convolutional layer (arguments as :func:`conv2d`)."""
    return [
        conv2d(in_channels, out_channels, kernel_size, stride, padding, norm),
        *_feature_norm(out_channels, norm, True),
        activation_fn(),
    ]


def make_mlp(
    input_dim: int,
    net_arch: list[int],
    norm: str,
    activation_fn: type[nn.Module],
    brn_kwargs: Mapping[str, Any] | None = None,
) -> tuple[nn.Sequential, int]:
    """Hidden layers of an MLP (no output layer), in the order of the module's table.

    :param input_dim: input width
    :param net_arch: hidden widths
    :param norm: one of :data:`NORMS`
    :param activation_fn: activation class
    :param brn_kwargs: arguments of :class:`~wnrl.nn.batch_renorm.BatchRenorm` (``momentum``,
        ``eps``, ``warmup_steps``, ...) for the ``batch_renorm`` family
    :return: the network and its output dimension (``input_dim`` when ``net_arch`` is empty)
    """
    param, act = norm_parts(norm)
    layers: list[nn.Module] = []
    dim = input_dim
    for i, width in enumerate(net_arch):
        last = i == len(net_arch) - 1
        layer_param = "plain" if param == "spectral_last" and not last else param
        dense = _LINEAR[layer_param](dim, width)
        if act == "batch_renorm":  # CrossQ: normalize each layer's input
            layers += [*_feature_norm(dim, norm, False, brn_kwargs), dense, activation_fn()]
        else:
            layers += [dense, *_feature_norm(width, norm, False), activation_fn()]
        dim = width
    if act == "batch_renorm" and net_arch:  # ... and the head's
        layers += _feature_norm(dim, norm, False, brn_kwargs)
    return nn.Sequential(*layers), dim

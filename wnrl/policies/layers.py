"""The normalization vocabulary and the layer builders shared by every wnrl policy.

One word (:data:`wnrl.registry.NORMS`) selects a normalization everywhere
(``policy_kwargs=dict(norm=...)``, YAML ``agent.norm``, sweep grids):

========================  ==========================================================================
``none``                  plain ``Linear``/``Conv2d`` (SB3's default networks)
``batch``                 ``Linear → BatchNorm → act`` (``BatchNorm2d`` after convolutions)
``layer``                 ``Linear → LayerNorm → act`` (``GroupNorm(1, C)`` after convolutions)
``weight``                weight-norm layers (Salimans & Kingma 2016)
``weight_meanbn``         weight norm + mean-only batch norm (the paper's best CIFAR variant)
``weight_proj``           weight norm with ``v`` projected to unit norm after every optimizer step
========================  ==========================================================================
"""

from __future__ import annotations

from torch import nn

from wnrl.nn import MeanOnlyBatchNorm, WeightNormConv2d, WeightNormLinear
from wnrl.registry import NORMS, WEIGHT_NORMS, check_norm

__all__ = ["NORMS", "WEIGHT_NORMS", "check_norm", "conv2d", "conv_block", "hidden_block", "linear", "make_mlp"]


def linear(in_features: int, out_features: int, norm: str) -> nn.Module:
    """A dense layer: weight-norm for the weight-norm family, plain otherwise."""
    cls = WeightNormLinear if check_norm(norm) in WEIGHT_NORMS else nn.Linear
    return cls(in_features, out_features)


def conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int, norm: str) -> nn.Module:
    """A convolution: weight-norm for the weight-norm family, plain otherwise."""
    cls = WeightNormConv2d if check_norm(norm) in WEIGHT_NORMS else nn.Conv2d
    return cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding)


def _feature_norm(num_features: int, norm: str, spatial: bool) -> list[nn.Module]:
    if norm == "batch":
        return [nn.BatchNorm2d(num_features) if spatial else nn.BatchNorm1d(num_features)]
    if norm == "layer":
        return [nn.GroupNorm(1, num_features) if spatial else nn.LayerNorm(num_features)]
    if norm == "weight_meanbn":
        return [MeanOnlyBatchNorm(num_features)]
    return []


def hidden_block(in_features: int, out_features: int, norm: str, activation_fn: type[nn.Module]) -> list[nn.Module]:
    """``Linear → [norm] → activation`` for one hidden layer."""
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
    """``Conv2d → [norm] → activation`` for one convolutional layer."""
    return [
        conv2d(in_channels, out_channels, kernel_size, stride, padding, norm),
        *_feature_norm(out_channels, norm, True),
        activation_fn(),
    ]


def make_mlp(
    input_dim: int, net_arch: list[int], norm: str, activation_fn: type[nn.Module]
) -> tuple[nn.Sequential, int]:
    """Hidden layers of an MLP (no output layer).

    :return: the network and its output dimension (``input_dim`` when ``net_arch`` is empty)
    """
    layers: list[nn.Module] = []
    dim = input_dim
    for width in net_arch:
        layers += hidden_block(dim, width, norm, activation_fn)
        dim = width
    return nn.Sequential(*layers), dim

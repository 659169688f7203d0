"""Feature extractors with a selectable normalization, and the choice of one from a space.

* :class:`NormNatureCNN`: the Nature-DQN CNN (Mnih et al. 2015) for Atari ``84×84×k`` frames.
* :class:`MinAtarCNN`: the MinAtar network (Young & Tian 2019): one 3×3 conv, 16 channels, for
  ``10×10×k`` grids.
* Flat observations use SB3's ``FlattenExtractor`` (nothing to normalize).

Image observations are expected channel-first (SB3 transposes ``uint8`` images itself; wnrl's env
factory makes MinAtar grids channel-first float32).
"""

from __future__ import annotations

import gymnasium as gym
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from torch import nn

from wnrl.policies.layers import check_norm, conv_block, hidden_block

__all__ = ["NormNatureCNN", "MinAtarCNN", "default_extractor"]


def _image_shape(observation_space: gym.Space, name: str) -> tuple[int, int, int]:
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 3:
        raise ValueError(f"{name} needs a 3-d Box observation space (C, H, W), got {observation_space}")
    c, h, w = observation_space.shape
    if c > min(h, w):
        raise ValueError(
            f"{name} expects channel-first observations (C, H, W), got shape "
            f"{observation_space.shape}: transpose them (e.g. VecTransposeImage)"
        )
    return c, h, w


def _flat_dim(cnn: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        return int(cnn.eval()(torch.zeros(2, *shape)).shape[1])


class _NormCNN(BaseFeaturesExtractor):
    """Convolutions (``CONVS``: ``(channels, kernel, stride)``) then one dense layer, each
    ``layer → [norm] → activation``."""

    CONVS: tuple[tuple[int, int, int], ...] = ()

    def __init__(
        self, observation_space: gym.Space, features_dim: int, norm: str, activation_fn: type[nn.Module]
    ) -> None:
        super().__init__(observation_space, features_dim)
        shape = _image_shape(observation_space, type(self).__name__)
        channels = shape[0]
        self.norm = check_norm(norm)
        layers: list[nn.Module] = []
        for out, kernel, stride in self.CONVS:
            layers += conv_block(channels, out, kernel, stride, 0, norm, activation_fn)
            channels = out
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        n_flat = _flat_dim(self.cnn, shape)
        self.linear = nn.Sequential(*hidden_block(n_flat, features_dim, norm, activation_fn))
        self.train()

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self.cnn(observations.float()))


class NormNatureCNN(_NormCNN):
    """Nature-DQN CNN: conv 32@8×8/4, 64@4×4/2, 64@3×3/1, then a dense layer.

    :param observation_space: channel-first image space
    :param features_dim: width of the final dense layer
    :param norm: normalization (see :mod:`wnrl.policies.layers`)
    :param activation_fn: activation after every layer
    """

    CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 512,
        norm: str = "none",
        activation_fn: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__(observation_space, features_dim, norm, activation_fn)


class MinAtarCNN(_NormCNN):
    """MinAtar network: conv 16@3×3/1 on the 10×10 grid, then a dense layer.

    :param observation_space: channel-first grid space ``(C, 10, 10)``
    :param features_dim: width of the dense layer (128 in the MinAtar paper)
    :param norm: normalization (see :mod:`wnrl.policies.layers`)
    :param activation_fn: activation after every layer
    """

    CONVS = ((16, 3, 1),)

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 128,
        norm: str = "none",
        activation_fn: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__(observation_space, features_dim, norm, activation_fn)


def default_extractor(observation_space: gym.Space) -> type[BaseFeaturesExtractor]:
    """The extractor for a space: NatureCNN for large images, MinAtarCNN for small grids,
    ``FlattenExtractor`` otherwise."""
    if isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 3:
        return NormNatureCNN if min(observation_space.shape[1:]) >= 36 else MinAtarCNN
    return FlattenExtractor

"""Feature extractors with a selectable normalization, and the choice of one from a space.

* :class:`NormNatureCNN`: the Nature-DQN CNN (Mnih et al. 2015) for images (SB3's ``NatureCNN``).
* :class:`MinAtarCNN`: the MinAtar network (Young & Tian 2019): one 3×3 conv, 16 channels, for
  ``10×10×k`` grids.
* :class:`NormCombinedExtractor`: SB3's ``CombinedExtractor`` for ``Dict`` spaces (what
  ``MultiInputPolicy`` uses): a CNN per image (or MinAtar) key, flattening for the other keys.
* Flat observations use SB3's ``FlattenExtractor`` (nothing to normalize).

Which space gets which is :mod:`wnrl.policies.spaces` (SB3's image rules plus MinAtar grids);
:func:`default_extractor` applies it. Images are channel-first as SB3 feeds them (its algorithms
wrap channel-last images in ``VecTransposeImage``); MinAtar grids may be either way round.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import TensorDict
from torch import nn

from wnrl.policies.layers import check_norm, conv_block, hidden_block
from wnrl.policies.spaces import (
    ObservationSpaceError,
    check_image_space,
    is_cnn_image,
    is_minatar_grid,
    minatar_channels_last,
)

__all__ = ["NormNatureCNN", "MinAtarCNN", "NormCombinedExtractor", "default_extractor", "NORMALIZED_IMAGE_EXTRACTORS"]


def _flat_dim(cnn: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        return int(cnn.eval()(torch.zeros(2, *shape)).shape[1])


class _NormCNN(BaseFeaturesExtractor):
    """Convolutions (``CONVS``: ``(channels, kernel, stride)``) then one dense layer, each
    ``layer → [norm] → activation``, on ``(C, H, W)`` inputs (``(H, W, C)`` if ``channels_last``)."""

    CONVS: tuple[tuple[int, int, int], ...] = ()

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int,
        norm: str,
        activation_fn: type[nn.Module],
        channels_last: bool = False,
    ) -> None:
        super().__init__(observation_space, features_dim)
        assert isinstance(observation_space, spaces.Box)  # checked by the subclasses
        self.channels_last = channels_last
        shape = observation_space.shape
        chw = (shape[2], shape[0], shape[1]) if channels_last else (shape[0], shape[1], shape[2])
        channels = chw[0]
        self.norm = check_norm(norm)
        layers: list[nn.Module] = []
        for out, kernel, stride in self.CONVS:
            layers += conv_block(channels, out, kernel, stride, 0, norm, activation_fn)
            channels = out
        self.cnn = nn.Sequential(*layers, nn.Flatten())
        n_flat = _flat_dim(self.cnn, chw)
        self.linear = nn.Sequential(*hidden_block(n_flat, features_dim, norm, activation_fn))
        self.train()

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = observations.float()
        return self.linear(self.cnn(x.permute(0, 3, 1, 2) if self.channels_last else x))


class NormNatureCNN(_NormCNN):
    """Nature-DQN CNN: conv 32@8×8/4, 64@4×4/2, 64@3×3/1, then a dense layer (SB3's ``NatureCNN``).

    Checks its space as SB3's ``NatureCNN`` does (an ``AssertionError`` with SB3's advice for a
    float or normalized input unless ``normalized_image``), and its size (at least 36×36).

    :param observation_space: channel-first image space ``(C, H, W)``
    :param features_dim: width of the final dense layer
    :param norm: normalization (see :mod:`wnrl.policies.layers`)
    :param activation_fn: activation after every layer
    :param normalized_image: the images are already scaled (SB3's flag; set by the policy when
        ``normalize_images=False``): dtype and bounds are not checked
    :raises AssertionError: as SB3's ``NatureCNN`` (not a ``Box``, not an image)
    :raises ObservationSpaceError: images smaller than 36×36
    """

    CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 512,
        norm: str = "none",
        activation_fn: type[nn.Module] = nn.ReLU,
        normalized_image: bool = False,
    ) -> None:
        check_image_space(observation_space, type(self).__name__, normalized_image)
        super().__init__(observation_space, features_dim, norm, activation_fn)


class MinAtarCNN(_NormCNN):
    """MinAtar network: conv 16@3×3/1 on the 10×10 grid, then a dense layer.

    :param observation_space: a 3-D ``Box``: a MinAtar grid ``(C, 10, 10)`` or ``(10, 10, C)``
        (see :func:`~wnrl.policies.spaces.minatar_channels_last`), otherwise channel-first
    :param features_dim: width of the dense layer (128 in the MinAtar paper)
    :param norm: normalization (see :mod:`wnrl.policies.layers`)
    :param activation_fn: activation after every layer
    :raises ObservationSpaceError: not a 3-D ``Box``, or a grid smaller than 3×3
    """

    CONVS = ((16, 3, 1),)

    def __init__(
        self,
        observation_space: gym.Space,
        features_dim: int = 128,
        norm: str = "none",
        activation_fn: type[nn.Module] = nn.ReLU,
    ) -> None:
        name = type(self).__name__
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 3:
            raise ObservationSpaceError(f"{name} needs a 3-d Box observation space (C, H, W), got {observation_space}")
        last = is_minatar_grid(observation_space) and minatar_channels_last(observation_space)
        spatial = observation_space.shape[:2] if last else observation_space.shape[1:]
        if min(spatial) < 3:
            raise ObservationSpaceError(
                f"{name} needs a grid of at least 3×3 (3×3 convolution), got shape {observation_space.shape}"
            )
        super().__init__(observation_space, features_dim, norm, activation_fn, channels_last=last)


def _flatten_warning(space: gym.Space, normalized_image: bool) -> None:
    """Warn when a 3-D ``Box`` that would fit the Nature CNN is flattened for not being an SB3 image
    (e.g. images after ``VecNormalize``, where SB3's ``CnnPolicy`` stops with its advice)."""
    if not normalized_image and is_cnn_image(space, normalized_image=True):
        warnings.warn(
            f"observation space {space} is not an SB3 image (uint8, bounds 0..255): it is flattened, "
            "as MlpPolicy does; if it holds already normalized images (e.g. after VecNormalize), "
            "pass normalize_images=False to give it the image CNN",
            UserWarning,
            stacklevel=4,
        )


def _key_extractor(
    space: gym.Space, cnn_output_dim: int, normalized_image: bool, norm: str, activation_fn: type[nn.Module]
) -> tuple[nn.Module, int]:
    """The sub-network of one ``Dict`` key and its output width."""
    if is_cnn_image(space, normalized_image):
        return NormNatureCNN(space, cnn_output_dim, norm, activation_fn, normalized_image), cnn_output_dim
    if is_minatar_grid(space):
        return MinAtarCNN(space, cnn_output_dim, norm, activation_fn), cnn_output_dim
    _flatten_warning(space, normalized_image)
    return nn.Flatten(), get_flattened_obs_dim(space)


class NormCombinedExtractor(BaseFeaturesExtractor):
    """SB3's ``CombinedExtractor`` with normalized CNNs: for each key of a ``Dict`` space, a
    :class:`NormNatureCNN` for images, a :class:`MinAtarCNN` for MinAtar grids, flattening for the
    rest; the outputs are concatenated (in the space's key order).

    :param observation_space: a ``Dict`` observation space (not nested)
    :param cnn_output_dim: output width of each CNN
    :param normalized_image: the images are already scaled (SB3's flag, see :class:`NormNatureCNN`)
    :param norm: normalization of every CNN (see :mod:`wnrl.policies.layers`)
    :param activation_fn: activation after every CNN layer
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        cnn_output_dim: int = 256,
        normalized_image: bool = False,
        norm: str = "none",
        activation_fn: type[nn.Module] = nn.ReLU,
    ) -> None:
        if not isinstance(observation_space, spaces.Dict):
            raise TypeError(f"{type(self).__name__} needs a Dict observation space, got {observation_space}")
        super().__init__(observation_space, features_dim=1)  # the width is known once the keys are built
        self.norm = check_norm(norm)
        built = {
            key: _key_extractor(sub, cnn_output_dim, normalized_image, norm, activation_fn)
            for key, sub in observation_space.spaces.items()
        }
        self.extractors = nn.ModuleDict({key: module for key, (module, _) in built.items()})
        self._features_dim = sum(dim for _, dim in built.values())

    def forward(self, observations: TensorDict) -> torch.Tensor:
        return torch.cat([extractor(observations[key]) for key, extractor in self.extractors.items()], dim=1)


#: wnrl's extractors that take SB3's ``normalized_image`` flag.
NORMALIZED_IMAGE_EXTRACTORS: tuple[type[BaseFeaturesExtractor], ...] = (NormNatureCNN, NormCombinedExtractor)


def default_extractor(observation_space: gym.Space, normalize_images: bool = True) -> type[BaseFeaturesExtractor]:
    """The extractor for a space (:mod:`wnrl.policies.spaces`): :class:`NormCombinedExtractor` for
    ``Dict``, :class:`NormNatureCNN` for images, :class:`MinAtarCNN` for MinAtar grids,
    ``FlattenExtractor`` otherwise.

    :param observation_space: the policy's observation space
    :param normalize_images: the policy's flag; ``False`` takes any 3-D ``Box`` as an image
        (already normalized, SB3's ``normalized_image``)
    """
    if isinstance(observation_space, spaces.Dict):
        return NormCombinedExtractor
    if is_cnn_image(observation_space, normalized_image=not normalize_images):
        return NormNatureCNN
    if is_minatar_grid(observation_space):
        return MinAtarCNN
    _flatten_warning(observation_space, not normalize_images)
    return FlattenExtractor

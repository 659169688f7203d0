"""Which observation spaces get a CNN: SB3's rules plus wnrl's MinAtar grids.

* **Images** follow SB3 (``stable_baselines3.common.preprocessing``): a 3-D ``uint8`` ``Box`` with
  bounds 0..255 (:func:`~stable_baselines3.common.preprocessing.is_image_space`), or any 3-D
  ``Box`` when ``normalize_images=False`` (SB3's ``normalized_image``: images already scaled, e.g.
  by ``VecNormalize``). Channel order is SB3's: its algorithms wrap channel-last images in
  ``VecTransposeImage`` (channel order by ``is_image_space_channels_first``), so the policy sees
  ``(C, H, W)``, and ``maybe_transpose`` turns channel-last inputs of ``predict`` around. An image
  smaller than the Nature CNN accepts (:data:`NATURE_CNN_MIN_SIZE`) is flattened, as ``MlpPolicy``
  does, instead of SB3's convolution error.
* **MinAtar grids** (wnrl): a 3-D ``Box`` of 0/1 values (``bool`` or float) on a 10×10 grid, channels
  first (wnrl's env factory: float32 ``(C, 10, 10)``, ``(k·C, 10, 10)`` frame-stacked) or last (raw
  MinAtar: bool ``(10, 10, C)``; ``(10, 10, 10)`` is raw when ``bool``, wnrl's when float).
* Everything else is flattened (SB3's ``FlattenExtractor``: one-hot ``Discrete`` and
  ``MultiDiscrete``, ``MultiBinary`` and non-image boxes as floats).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space

__all__ = [
    "NATURE_CNN_MIN_SIZE",
    "MINATAR_GRID",
    "is_cnn_image",
    "is_minatar_grid",
    "minatar_channels_last",
    "check_image_space",
    "batch_size",
    "ObservationSpaceError",
]

#: The smallest height and width the Nature CNN's convolutions (8/4, 4/2, 3/1) accept.
NATURE_CNN_MIN_SIZE = 36
#: MinAtar's grid (height, width).
MINATAR_GRID = (10, 10)


class ObservationSpaceError(ValueError, RuntimeError):
    """An observation space an extractor cannot take. A ``ValueError`` (wnrl's configuration errors)
    and a ``RuntimeError`` (what SB3's convolutions raise, less clearly, for the same input)."""


def is_cnn_image(space: spaces.Space, normalized_image: bool = False) -> bool:
    """Whether ``space`` is an SB3 image (channel-first) large enough for the Nature CNN.

    :param space: an observation space (or one key of a ``Dict`` space)
    :param normalized_image: SB3's flag: the images are already scaled (dtype and bounds unchecked)
    """
    return (
        isinstance(space, spaces.Box)
        and is_image_space(space, check_channels=False, normalized_image=normalized_image)
        and min(space.shape[1:]) >= NATURE_CNN_MIN_SIZE
    )


def is_minatar_grid(space: spaces.Space) -> bool:
    """Whether ``space`` is a MinAtar grid: a 3-D ``Box`` of 0/1 (bool or float) values, 10×10 cells,
    channels first or last.

    :param space: an observation space (or one key of a ``Dict`` space)
    """
    if not isinstance(space, spaces.Box) or len(space.shape) != 3:
        return False
    numeric = space.dtype == np.bool_ or np.issubdtype(space.dtype, np.floating)
    unit = bool(np.all(space.low == 0) and np.all(space.high == 1))
    return numeric and unit and MINATAR_GRID in (space.shape[1:], space.shape[:2])


def minatar_channels_last(space: spaces.Box) -> bool:
    """Whether a MinAtar grid (:func:`is_minatar_grid`) is ``(10, 10, C)`` (raw MinAtar) rather than
    ``(C, 10, 10)`` (wnrl's env factory); ``(10, 10, 10)`` is raw when ``bool``.

    :param space: a MinAtar grid space
    """
    first, last = space.shape[1:] == MINATAR_GRID, space.shape[:2] == MINATAR_GRID
    return last and (not first or space.dtype == np.bool_)


def check_image_space(space: spaces.Space, name: str, normalized_image: bool) -> None:
    """SB3's ``NatureCNN`` checks (same exception, same advice), then wnrl's size check.

    :param space: the extractor's observation space
    :param name: the extractor's name, for the messages
    :param normalized_image: SB3's flag (see :func:`is_cnn_image`)
    :raises AssertionError: as SB3's ``NatureCNN``: not a ``Box``, or not an (unnormalized) image
    :raises ObservationSpaceError: an image smaller than :data:`NATURE_CNN_MIN_SIZE`
    """
    if not isinstance(space, spaces.Box):
        raise AssertionError(f"{name} must be used with a gym.spaces.Box observation space, not {space}")
    if not is_image_space(space, check_channels=False, normalized_image=normalized_image):
        raise AssertionError(
            f"You should use {name} only with images not with {space}\n"
            "(you are probably using `CnnPolicy` instead of `MlpPolicy` or `MultiInputPolicy`)\n"
            "If you are using a custom environment,\nplease check it using our env checker:\n"
            "https://stable-baselines3.readthedocs.io/en/master/common/env_checker.html.\n"
            "If you are using `VecNormalize` or already normalized channel-first images "
            "you should pass `normalize_images=False`: \n"
            "https://stable-baselines3.readthedocs.io/en/master/guide/custom_env.html"
        )
    if min(space.shape[1:]) < NATURE_CNN_MIN_SIZE:
        raise ObservationSpaceError(
            f"{name} needs channel-first images (C, H, W) of at least {NATURE_CNN_MIN_SIZE}×"
            f"{NATURE_CNN_MIN_SIZE}, got shape {space.shape}; leave features_extractor_class unset "
            "(small images are flattened) or use MinAtarCNN"
        )


def batch_size(obs: Any) -> int:
    """Number of observations in a batch (an array or tensor, or a dict of them).

    :param obs: a batch, first dimension the batch
    """
    return len(next(iter(obs.values())) if isinstance(obs, dict) else obs)

"""Whether ``train.device`` can be honoured on this machine: the one check, for ``wnrl train`` and
for the runs of a sweep on the local backend (so a sweep asking for ``cuda`` on a CPU-only machine
is refused before anything is written, instead of failing every run).

It is not part of the schema: a run's ``config.yaml`` keeps ``device: cuda`` when it is evaluated,
resumed with ``--device cpu`` or run on a Ray cluster from a machine without a GPU. The answer is
torch's own (a CPU-only torch build on a GPU machine cannot use it either); torch is imported only
when a config asks for ``cuda``, so the other configs are still answered without it.
"""

from __future__ import annotations

from collections.abc import Iterable

from wnrl.config.load import ConfigError

__all__ = ["check_device", "check_devices", "cuda_available"]


def cuda_available() -> bool:
    """Whether torch sees a CUDA device here (imports torch)."""
    import torch

    return bool(torch.cuda.is_available())


def check_device(device: str, source: str, key: str = "train.device") -> None:
    """Refuse ``cuda`` where there is no CUDA device.

    :param device: ``train.device`` or a ``--device`` option (``auto``, ``cpu`` or ``cuda``)
    :param source: the file or run it came from, for the message
    :param key: the key or option that asked for it
    :raises ConfigError: ``SOURCE: KEY: cuda requested but ...; use auto or cpu``
    """
    if device == "cuda" and not cuda_available():
        raise ConfigError(f"{source}: {key}: cuda requested but no CUDA device is available; use auto or cpu")


def check_devices(devices: Iterable[str], source: str) -> None:
    """:func:`check_device` of each run's ``train.device`` (the runs of a local sweep).

    :param devices: the runs' ``train.device`` values
    :param source: the sweep file, for the message
    :raises ConfigError: on the first ``cuda`` where there is no CUDA device
    """
    for device in sorted(set(devices)):
        check_device(device, source)

"""The private torch details wnrl relies on, checked when wnrl is imported.

* ``torch._C.TensorBase.data``: the C descriptor behind ``Tensor.data``.
  :class:`~wnrl.nn.TrackedParameter` overrides the ``data`` getter and sets through this one.
* ``torch.optim.optimizer._foreach_supported_types``: the exact parameter types for which the
  optimizers default to their multi-tensor (foreach) implementation.

If a torch release moves either, importing wnrl fails here with a message naming it, rather
than silently losing cache invalidation or the foreach optimizers. ``tests/test_nn_compat.py``
checks that both still do what they are used for.

Optional (a missing one only turns a speed-up off, never an error):

* ``torch.utils._foreach_utils._get_fused_kernels_supported_devices``: the device types with
  fused optimizer kernels (:func:`fused_optimizer_supported`; without it: none).
* ``torch._weight_norm_interface``: ATen's weight-norm kernel, called with a 1-D ``g`` on CPU to
  skip ``torch._weight_norm``'s dispatch and ``g``'s view (:data:`WEIGHT_NORM_INTERFACE`; without
  it: ``None``, and the layers use ``torch._weight_norm``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim import optimizer as _optimizer

__all__ = [
    "WEIGHT_NORM_INTERFACE",
    "allow_foreach",
    "fused_optimizer_supported",
    "set_tensor_data",
    "track_fused_optimizer_steps",
]


def _unsupported(what: str) -> ImportError:
    return ImportError(
        f"wnrl does not support torch {torch.__version__}: {what} (a private torch "
        "detail wnrl relies on, see wnrl/nn/_compat.py) is missing or has changed"
    )


_TENSOR_DATA: Any = getattr(torch._C.TensorBase, "data", None)
if not hasattr(_TENSOR_DATA, "__set__"):
    raise _unsupported("the data descriptor torch._C.TensorBase.data")

_FOREACH_TYPES: Any = getattr(_optimizer, "_foreach_supported_types", None)
if not isinstance(_FOREACH_TYPES, list):
    raise _unsupported("the list torch.optim.optimizer._foreach_supported_types")


def set_tensor_data(tensor: Tensor, value: Tensor) -> None:
    """``tensor.data = value`` through torch's own setter (for a subclass that overrides ``data``).

    :param tensor: the tensor whose storage is swapped
    :param value: the new data
    """
    _TENSOR_DATA.__set__(tensor, value)


def allow_foreach(cls: type[Tensor]) -> None:
    """Let the optimizers default to their foreach implementation for parameters of type ``cls``.

    :param cls: a tensor subclass every foreach kernel handles as a plain tensor
    """
    if cls not in _FOREACH_TYPES:
        _FOREACH_TYPES.append(cls)


try:
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices as _fused_devices

    _FUSED_DEVICES = frozenset(_fused_devices()) & {"cpu", "cuda"}
except (ImportError, AttributeError, TypeError):  # pragma: no cover - older/newer torch
    _FUSED_DEVICES = frozenset()
_FUSED_DTYPES = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})

#: ``torch._weight_norm_interface`` (``(v, g, dim) -> (w, norms)``) or ``None``.
WEIGHT_NORM_INTERFACE: Any = getattr(torch, "_weight_norm_interface", None)


def fused_optimizer_supported(tensors: Any) -> bool:
    """Whether torch's fused optimizer kernels take every tensor in ``tensors``: floating point,
    on a device type they are known to support (CPU and CUDA; others, e.g. MPS or XLA, are left to
    torch's default implementation).

    :param tensors: parameters (any iterable of tensors)
    """
    return all(t.device.type in _FUSED_DEVICES and t.dtype in _FUSED_DTYPES for t in tensors)


def _bump_versions_after_fused_step(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    for group in optimizer.param_groups:
        if group.get("fused"):
            torch.autograd.graph.increment_version(group["params"])


def track_fused_optimizer_steps() -> None:
    """Make every fused optimizer step visible to version counters (once per process).

    torch's fused optimizer kernels (``fused=True``: Adam, AdamW, SGD, Adagrad; checked on torch
    2.13, CPU) write the parameters in place *without* bumping their version counters, unlike the
    loop and foreach forms. The weight-norm layers' inference cache is keyed on those counters,
    so it would serve the weight from before the step. A global step post-hook
    (``torch.optim.optimizer.register_optimizer_step_post_hook``) bumps them after every step of an
    optimizer with a fused group, whoever created it (a few µs per step).
    """
    global _FUSED_HOOK
    if _FUSED_HOOK is None:
        _FUSED_HOOK = _optimizer.register_optimizer_step_post_hook(_bump_versions_after_fused_step)


_FUSED_HOOK: Any = None

"""The two private torch details wnrl relies on, checked when wnrl is imported.

* ``torch._C.TensorBase.data``: the C descriptor behind ``Tensor.data``.
  :class:`~wnrl.nn.TrackedParameter` overrides the ``data`` getter and sets through this one.
* ``torch.optim.optimizer._foreach_supported_types``: the exact parameter types for which the
  optimizers default to their multi-tensor (foreach) implementation.

If a torch release moves either, importing wnrl fails here with a message naming it, rather
than silently losing cache invalidation or the foreach optimizers. ``tests/test_nn_compat.py``
checks that both still do what they are used for.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim import optimizer as _optimizer

__all__ = ["allow_foreach", "set_tensor_data"]


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

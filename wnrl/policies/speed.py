"""What keeps wnrl's policies at least as fast as stock SB3's: the optimizer's implementation, and a
leaner ``set_training_mode`` and ``device`` (both run on every ``predict``).

Optimizer. On CPU torch's optimizers default to a Python loop over the parameters (on CUDA to
their multi-tensor ``foreach`` form). Unless the user chose one (``fused`` or ``foreach`` in
``optimizer_kwargs``, or ``fast_optimizer=False``), wnrl's policies create theirs with
``fused=True`` where the optimizer class takes it (Adam, AdamW, SGD, Adagrad) and otherwise
``foreach=True`` (RMSprop, Adamax, ...). Every norm gets the same choice, so comparisons between
norms stay fair. Fused kernels exist for floating-point parameters on CPU and CUDA; the first
``step()`` after the policy is built or moved checks the parameters and, elsewhere (MPS, XLA,
integer dtypes), falls back to torch's default with a warning. The choice is recorded in the
optimizer's ``param_groups`` (saved with the model) and reported by :func:`optimizer_impl`.
Fused Adam computes the same update as the loop up to floating-point rounding, so a fixed seed's
training run differs from one with SB3's default optimizer only by that rounding (and its effect
on later steps).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from wnrl.nn._compat import fused_optimizer_supported

__all__ = ["fast_optimizer_kwargs", "make_optimizer", "optimizer_impl", "set_training_fast"]


def _accepts(cls: type, name: str) -> bool:
    try:
        return name in inspect.signature(cls).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False


def fast_optimizer_kwargs(optimizer_class: type[torch.optim.Optimizer], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` plus ``fused=True`` (or ``foreach=True``) where ``optimizer_class`` takes it and
    the user set neither; a new dict (the user's is left alone).

    :param optimizer_class: the policy's optimizer class
    :param kwargs: the user's ``optimizer_kwargs``
    """
    out = dict(kwargs)
    if "fused" in out or "foreach" in out:
        return out
    if _accepts(optimizer_class, "fused"):
        out["fused"] = True
    elif _accepts(optimizer_class, "foreach"):
        out["foreach"] = True
    return out


def _fused_fallback(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """Step pre-hook: a fused group whose parameters the fused kernels do not take falls back to
    torch's default implementation (before any optimizer state exists for it). Runs once per
    arming: the handle is not removed inside ``step()`` (that would mutate the hook dict while
    torch iterates it, breaking any other step pre-hook); a flag makes later steps return at once."""
    if getattr(optimizer, "_wnrl_fused_checked", True):
        return
    for group in optimizer.param_groups:
        if group.get("fused") and not fused_optimizer_supported(group["params"]):
            devices = sorted({f"{p.device.type}/{p.dtype}" for p in group["params"]})
            warnings.warn(
                f"{type(optimizer).__name__}(fused=True) does not support parameters on {', '.join(devices)}; "
                "using torch's default implementation",
                RuntimeWarning,
                stacklevel=3,
            )
            group["fused"] = None
    optimizer._wnrl_fused_checked = True  # type: ignore[attr-defined]


def arm_fused_check(optimizer: torch.optim.Optimizer) -> None:
    """Check the fused groups' parameters at the next ``step()`` (after a build or a device move).

    :param optimizer: the policy's optimizer
    """
    optimizer._wnrl_fused_checked = False  # type: ignore[attr-defined]
    if getattr(optimizer, "_wnrl_fused_check", None) is None:
        optimizer._wnrl_fused_check = optimizer.register_step_pre_hook(_fused_fallback)  # type: ignore[attr-defined]


def make_optimizer(
    optimizer_class: type[torch.optim.Optimizer],
    params: Iterable[torch.Tensor],
    lr: float,
    kwargs: dict[str, Any],
    fast: bool = True,
) -> torch.optim.Optimizer:
    """``optimizer_class(params, lr=lr, **kwargs)``, with :func:`fast_optimizer_kwargs` if ``fast``.

    :param optimizer_class: the optimizer class
    :param params: the parameters to optimize
    :param lr: the initial learning rate
    :param kwargs: the user's ``optimizer_kwargs``
    :param fast: add ``fused``/``foreach`` where the user chose neither
    """
    if fast:
        kwargs = fast_optimizer_kwargs(optimizer_class, kwargs)
    optimizer = optimizer_class(params, lr=lr, **kwargs)  # type: ignore[call-arg]  # lr: as in SB3
    arm_fused_check(optimizer)
    return optimizer


def optimizer_impl(optimizer: torch.optim.Optimizer) -> str:
    """``"fused"``, ``"foreach"`` or ``"default"`` (torch's choice: a per-parameter loop on CPU,
    ``foreach`` on CUDA), as the optimizer's first parameter group has it.

    :param optimizer: any torch optimizer
    """
    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    if group.get("fused"):
        return "fused"
    return "foreach" if group.get("foreach") else "default"


def set_training_fast(module: nn.Module, mode: bool) -> None:
    """``module.train(mode)`` without ``nn.Module.__setattr__`` on every submodule (the bulk of
    ``train()``'s cost; SB3 calls it on every ``predict``). Modules whose class overrides
    ``train`` or ``__setattr__`` get their own ``train(mode)``.

    :param module: the root module
    :param mode: training (``True``) or evaluation mode
    """
    if not isinstance(mode, bool):
        raise ValueError("training mode is expected to be boolean")
    plain_train, plain_setattr = nn.Module.train, nn.Module.__setattr__
    for m in module.modules():
        cls = type(m)
        if cls.train is plain_train and cls.__setattr__ is plain_setattr:
            m.__dict__["training"] = mode
        else:
            m.train(mode)

"""The private torch details of :mod:`wnrl.nn._compat` still do what wnrl uses them for.

Each test fails if a torch release changes the detail, so the workaround is revisited before a
stale weight or a slow optimizer goes unnoticed.
"""

from __future__ import annotations

import importlib

import pytest
import torch
from stable_baselines3.common.utils import polyak_update
from torch import nn
from torch.optim import optimizer as optim_module
from torch.optim.optimizer import _default_to_fused_or_foreach

from wnrl.nn import TrackedParameter, WeightNormLinear, _compat

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_plain_parameter_data_writes_are_invisible_to_the_version_counter() -> None:
    """Why TrackedParameter exists: if torch changes this, the workaround is no longer needed."""
    p = nn.Parameter(torch.ones(3))
    before = p._version
    p.data.mul_(2)
    assert p._version == before and torch.equal(p.detach(), torch.full((3,), 2.0))


def test_tracked_parameter_data_writes_bump_the_version_counter() -> None:
    p = TrackedParameter(torch.ones(3))
    before = p._version
    p.data.mul_(2)
    assert p._version > before and torch.equal(p.detach(), torch.full((3,), 2.0))


def test_tracked_parameter_data_setter_swaps_the_storage_through_torch() -> None:
    p = TrackedParameter(torch.ones(3))
    new = torch.arange(4.0)
    p.data = new
    assert type(p) is TrackedParameter and p.requires_grad and p.is_leaf
    assert p.data_ptr() == new.data_ptr() and torch.equal(p.detach(), new)
    other = torch.zeros(2)
    _compat.set_tensor_data(p, other)
    assert p.data_ptr() == other.data_ptr() and p.shape == (2,)


def test_cached_weight_follows_sb3_polyak_update() -> None:
    """SB3 writes target networks through ``.data`` (``target.data.mul_(1 - tau)``): the cached
    inference weight of a weight-norm layer must see it."""
    torch.manual_seed(0)
    online, target = WeightNormLinear(4, 3), WeightNormLinear(4, 3)
    x = torch.randn(5, 4)
    with torch.no_grad():
        target(x)  # fills the cache
        polyak_update(online.parameters(), target.parameters(), tau=0.5)
        expected = nn.functional.linear(x, target.weight, target.bias)
        torch.testing.assert_close(target(x), expected, rtol=0, atol=0)


def test_tracked_parameter_is_a_foreach_type() -> None:
    assert TrackedParameter in optim_module._foreach_supported_types
    _compat.allow_foreach(TrackedParameter)  # idempotent
    assert optim_module._foreach_supported_types.count(TrackedParameter) == 1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("use_fused", [False, True])
def test_optimizers_default_to_the_same_kernels_for_tracked_parameters(device: str, use_fused: bool) -> None:
    plain: list[torch.Tensor] = [nn.Parameter(torch.ones(3, device=device))]
    tracked: list[torch.Tensor] = [TrackedParameter(torch.ones(3, device=device))]
    assert _default_to_fused_or_foreach(tracked, False, use_fused) == _default_to_fused_or_foreach(
        plain, False, use_fused
    )
    if use_fused:  # the fused path checks the same type list, and runs on CPU too
        assert _default_to_fused_or_foreach(tracked, False, True)[0]


@pytest.mark.parametrize("device", DEVICES)
def test_foreach_adam_steps_tracked_parameters_as_plain_ones(device: str) -> None:
    torch.manual_seed(0)
    start = torch.randn(4, 3, device=device)
    params = {cls: cls(start.clone()) for cls in (nn.Parameter, TrackedParameter)}
    for cls, p in params.items():
        opt = torch.optim.Adam([p], lr=0.1, foreach=True)
        for _ in range(3):
            opt.zero_grad()
            (p**2).sum().backward()
            opt.step()
        assert type(p) is cls
    torch.testing.assert_close(params[TrackedParameter].detach(), params[nn.Parameter].detach(), rtol=0, atol=0)


def test_a_moved_torch_detail_fails_the_import_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optim_module, "_foreach_supported_types", None)
    try:
        with pytest.raises(ImportError, match=r"torch\.optim\.optimizer\._foreach_supported_types"):
            importlib.reload(_compat)
    finally:
        monkeypatch.undo()
        importlib.reload(_compat)
    assert TrackedParameter in optim_module._foreach_supported_types

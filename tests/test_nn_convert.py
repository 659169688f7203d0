"""Conversions between plain and weight-norm layers, folding, and projection keep the function."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wnrl.nn import (
    WeightNormConv2d,
    WeightNormLinear,
    convert_to_weight_norm,
    fold_weight_norm,
    project_weight_norm_,
    weight_norm_layers,
)

D = torch.float64


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.ReLU()),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 16),
        nn.Tanh(),
        nn.Linear(16, 2),
    ).double()


def _eval(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def test_from_linear_and_to_linear() -> None:
    torch.manual_seed(1)
    for bias in (True, False):
        lin = nn.Linear(7, 5, bias=bias, dtype=D)
        wn = WeightNormLinear.from_linear(lin)
        torch.testing.assert_close(wn.g, lin.weight.norm(dim=1), rtol=1e-12, atol=0)
        x = torch.randn(4, 7, dtype=D)
        torch.testing.assert_close(_eval(wn, x), _eval(lin, x), rtol=1e-12, atol=1e-12)
        with torch.no_grad():
            wn.g.mul_(torch.rand(5, dtype=D) + 0.5)  # so to_linear has something to fold
        back = wn.to_linear()
        assert type(back) is nn.Linear and (back.bias is None) == (not bias)
        torch.testing.assert_close(_eval(back, x), _eval(wn, x), rtol=1e-12, atol=1e-12)
        assert not torch.allclose(back.weight, lin.weight)


def test_from_conv_and_to_conv() -> None:
    torch.manual_seed(2)
    conv = nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), groups=2, dtype=D)
    wn = WeightNormConv2d.from_conv(conv)
    assert (wn.stride, wn.padding, wn.dilation, wn.groups) == ((2, 1), (1, 1), (1, 2), 2)
    x = torch.randn(3, 4, 9, 9, dtype=D)
    torch.testing.assert_close(_eval(wn, x), _eval(conv, x), rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        wn.g.mul_(-1.5)
    back = wn.to_conv()
    assert type(back) is nn.Conv2d
    torch.testing.assert_close(_eval(back, x), _eval(wn, x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        _eval(back, x),
        -1.5 * (_eval(conv, x) - conv.bias.view(1, -1, 1, 1)) + conv.bias.view(1, -1, 1, 1),
        rtol=1e-10,
        atol=1e-10,
    )


def test_convert_to_weight_norm_preserves_function() -> None:
    model = _net()
    x = torch.randn(2, 3, 8, 8, dtype=D)
    y = _eval(model, x)
    wn = convert_to_weight_norm(model)
    kinds = [type(m) for _, m in weight_norm_layers(wn)]
    assert kinds == [WeightNormConv2d, WeightNormConv2d, WeightNormLinear, WeightNormLinear]
    assert not any(type(m) in (nn.Linear, nn.Conv2d) for m in wn.modules())
    torch.testing.assert_close(_eval(wn, x), y, rtol=1e-10, atol=1e-12)


def test_convert_with_skip() -> None:
    model = _net()
    x = torch.randn(2, 3, 8, 8, dtype=D)
    y = _eval(model, x)
    head = model[6]
    wn = convert_to_weight_norm(model, skip=["6", "2.0"])
    assert wn[6] is head and type(wn[2][0]) is nn.Conv2d
    assert [n for n, _ in weight_norm_layers(wn)] == ["0", "4"]
    torch.testing.assert_close(_eval(wn, x), y, rtol=1e-10, atol=1e-12)


def test_convert_a_bare_layer_returns_the_new_layer() -> None:
    lin = nn.Linear(3, 2, dtype=D)
    wn = convert_to_weight_norm(lin)
    assert isinstance(wn, WeightNormLinear)
    x = torch.randn(4, 3, dtype=D)
    torch.testing.assert_close(_eval(wn, x), _eval(lin, x), rtol=1e-12, atol=1e-12)


def test_fold_weight_norm_preserves_function() -> None:
    wn = convert_to_weight_norm(_net())
    with torch.no_grad():
        for _, layer in weight_norm_layers(wn):
            layer.g.mul_(torch.rand_like(layer.g) + 0.5)
    x = torch.randn(2, 3, 8, 8, dtype=D)
    y = _eval(wn, x)
    plain = fold_weight_norm(wn)
    assert not list(weight_norm_layers(plain))
    assert sum(type(m) in (nn.Linear, nn.Conv2d) for m in plain.modules()) == 4
    torch.testing.assert_close(_eval(plain, x), y, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_project_weight_norm_unit_norms_same_function(dtype: torch.dtype) -> None:
    wn = convert_to_weight_norm(_net()).to(dtype)
    with torch.no_grad():
        for _, layer in weight_norm_layers(wn):
            layer.v.mul_(torch.rand(layer.v.shape[0], *[1] * (layer.v.dim() - 1), dtype=dtype) * 5 + 0.1)
    x = torch.randn(2, 3, 8, 8, dtype=dtype)
    y = _eval(wn, x)
    assert any((layer._v_norm() - 1).abs().max() > 0.1 for _, layer in weight_norm_layers(wn))
    assert project_weight_norm_(wn) == 4
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for _, layer in weight_norm_layers(wn):
        ones = torch.ones(layer.v.shape[0], dtype=dtype)
        torch.testing.assert_close(layer._v_norm(), ones, rtol=tol, atol=tol)
    torch.testing.assert_close(_eval(wn, x), y, rtol=tol * 10, atol=tol)


def test_reset_from_weight_applies_a_custom_init() -> None:
    layer = WeightNormLinear(6, 4, dtype=D)
    w = torch.empty(4, 6, dtype=D)
    nn.init.orthogonal_(w, gain=2.0)
    layer.reset_from_weight(w)
    torch.testing.assert_close(layer.weight, w, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.g, torch.full((4,), 2.0, dtype=D), rtol=1e-12, atol=0)

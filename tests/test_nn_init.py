"""Data-dependent initialisation: per-unit pre-activation statistics hit the target, layer by layer,
on MLPs, CNNs, nested and multi-head modules; skip / scales / include_plain; failure modes."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from wnrl.nn import WeightNormConv2d, WeightNormLinear, data_dependent_init, weight_norm_layers

D = torch.float64


def _preactivations(
    module: nn.Module, batch: torch.Tensor, kinds: tuple[type, ...] = (WeightNormLinear, WeightNormConv2d)
) -> dict[str, torch.Tensor]:
    """Output of every layer of the given kinds on ``batch``, as (units, values) matrices."""
    out: dict[str, torch.Tensor] = {}
    handles = []
    for name, m in module.named_modules():
        if isinstance(m, kinds):

            def hook(_m, _a, y, name=name):
                out[name] = y.detach().transpose(0, 1).flatten(1)

            handles.append(m.register_forward_hook(hook))
    with torch.no_grad():
        module(batch)
    for h in handles:
        h.remove()
    return out


def _assert_stats(t: torch.Tensor, scale: float, tol: float = 1e-6) -> None:
    mean, std = t.mean(dim=1), t.std(dim=1, unbiased=False)
    torch.testing.assert_close(mean, torch.zeros_like(mean), rtol=0, atol=tol * scale)
    torch.testing.assert_close(std, torch.full_like(std, scale), rtol=tol, atol=0)


def _deep_mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        WeightNormLinear(10, 32, dtype=D),
        nn.ReLU(),
        WeightNormLinear(32, 32, dtype=D),
        nn.ReLU(),
        WeightNormLinear(32, 32, dtype=D),
        nn.ReLU(),
        WeightNormLinear(32, 16, dtype=D),
        nn.ReLU(),
        WeightNormLinear(16, 3, dtype=D),
    )


def _cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        WeightNormConv2d(3, 8, 5, stride=2, padding=2, dtype=D),
        nn.ReLU(),
        WeightNormConv2d(8, 16, 3, stride=2, padding=1, dtype=D),
        nn.ReLU(),
        WeightNormConv2d(16, 16, 3, stride=1, padding=1, dtype=D),
        nn.ReLU(),
        nn.Flatten(),
        WeightNormLinear(16 * 4 * 4, 6, dtype=D),
    )


@pytest.mark.parametrize("init_scale", [1.0, 0.5])
def test_deep_mlp_preactivations_are_normalised(init_scale: float) -> None:
    model = _deep_mlp()
    x = torch.randn(256, 10, dtype=D) * 3 + 1
    before = _preactivations(model, x)
    for t in before.values():  # v ~ N(0, 0.05²): far from the target before the init
        assert (t.std(dim=1) - init_scale).abs().max() > 0.2
    names = data_dependent_init(model, x, init_scale=init_scale)
    assert names == ["0", "2", "4", "6", "8"]
    after = _preactivations(model, x)
    assert len(after) == 5
    for t in after.values():
        _assert_stats(t, init_scale)


def test_cnn_preactivations_are_normalised_per_channel() -> None:
    model = _cnn()
    x = torch.rand(16, 3, 16, 16, dtype=D)
    data_dependent_init(model, x)
    after = _preactivations(model, x)
    assert [tuple(t.shape) for t in after.values()] == [(8, 16 * 8 * 8), (16, 16 * 4 * 4), (16, 16 * 4 * 4), (6, 16)]
    for t in after.values():
        _assert_stats(t, 1.0)


def test_init_changes_only_g_and_bias() -> None:
    model = _deep_mlp()
    vs = [m.v.detach().clone() for _, m in weight_norm_layers(model)]
    data_dependent_init(model, torch.randn(64, 10, dtype=D))
    for (_, m), v in zip(weight_norm_layers(model), vs, strict=True):
        assert torch.equal(m.v, v)


def test_nested_sequentials() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Sequential(WeightNormLinear(6, 12, dtype=D), nn.Tanh()),
        nn.Sequential(nn.Sequential(WeightNormLinear(12, 12, dtype=D), nn.ReLU()), WeightNormLinear(12, 4, dtype=D)),
    )
    x = torch.randn(100, 6, dtype=D)
    names = data_dependent_init(model, x)
    assert names == ["0.0", "1.0.0", "1.1"]
    for t in _preactivations(model, x).values():
        _assert_stats(t, 1.0)


class _TwoHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(WeightNormLinear(5, 16, dtype=D), nn.ReLU())
        self.pi = WeightNormLinear(16, 3, dtype=D)
        self.vf = nn.Sequential(WeightNormLinear(16, 8, dtype=D), nn.ReLU(), WeightNormLinear(8, 1, dtype=D))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.pi(h), self.vf(h)


def test_two_head_module() -> None:
    torch.manual_seed(2)
    model = _TwoHead()
    x = torch.randn(128, 5, dtype=D)
    names = data_dependent_init(model, x)
    assert set(names) == {"trunk.0", "pi", "vf.0", "vf.2"} and names[0] == "trunk.0"
    pre = _preactivations(model, x)
    assert set(pre) == set(names)
    for t in pre.values():
        _assert_stats(t, 1.0)


@pytest.mark.parametrize("by", ["name", "module"])
def test_skip_leaves_layer_untouched(by: str) -> None:
    model = _deep_mlp()
    head = model[8]
    state = {k: v.clone() for k, v in head.state_dict().items()}
    x = torch.randn(64, 10, dtype=D)
    names = data_dependent_init(model, x, skip=["8"] if by == "name" else [head])
    assert "8" not in names and names == ["0", "2", "4", "6"]
    for k, v in head.state_dict().items():
        assert torch.equal(v, state[k]), k
    pre = _preactivations(model, x)
    for n in names:
        _assert_stats(pre[n], 1.0)
    assert pre["8"].std(dim=1).max() < 0.5  # the head kept its small init


def test_skip_by_prefix_covers_children() -> None:
    model = _TwoHead()
    state = {k: v.clone() for k, v in model.vf.state_dict().items()}
    names = data_dependent_init(model, torch.randn(64, 5, dtype=D), skip=["vf"])
    assert sorted(names) == ["pi", "trunk.0"]
    assert all(torch.equal(v, state[k]) for k, v in model.vf.state_dict().items())


def test_scales_override_one_layer() -> None:
    model = _deep_mlp()
    x = torch.randn(128, 10, dtype=D)
    data_dependent_init(model, x, init_scale=1.0, scales={"8": 0.1, "4": 2.0})
    pre = _preactivations(model, x)
    _assert_stats(pre["8"], 0.1)
    _assert_stats(pre["4"], 2.0)
    for n in ("0", "2", "6"):
        _assert_stats(pre[n], 1.0)


def test_batch_of_one_raises_clear_error() -> None:
    model = _deep_mlp()
    g = model[0].g.detach().clone()
    with pytest.raises(ValueError, match="at least 2 examples"):
        data_dependent_init(model, torch.randn(1, 10, dtype=D))
    assert torch.equal(model[0].g, g)
    # the hooks were removed: the model still runs normally afterwards
    assert not model[0]._forward_pre_hooks
    model(torch.randn(1, 10, dtype=D))


def test_constant_unit_warns_and_stays_finite() -> None:
    torch.manual_seed(3)
    layer = WeightNormLinear(4, 3, dtype=D)
    with torch.no_grad():
        layer.v[1].copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))  # unit 1 only sees feature 0
    g1 = layer.g[1].item()
    x = torch.randn(32, 4, dtype=D)
    x[:, 0] = 2.5  # ...which is constant on the batch
    with pytest.warns(RuntimeWarning, match="1 of 3 units"):
        data_dependent_init(layer, x)
    assert torch.isfinite(layer.g).all() and torch.isfinite(layer.bias).all()
    assert layer.g[1].item() == g1  # its scale was left as it was
    with torch.no_grad():
        y = layer(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y[:, 1], torch.zeros(32, dtype=D), rtol=0, atol=1e-10)  # centred
    _assert_stats(y[:, [0, 2]].T, 1.0)


def test_nan_input_raises() -> None:
    model = _deep_mlp()
    x = torch.randn(16, 10, dtype=D)
    x[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        data_dependent_init(model, x)


def test_include_plain_initialises_plain_linear() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Linear(10, 32, dtype=D), nn.ReLU(), WeightNormLinear(32, 16, dtype=D), nn.ReLU(), nn.Linear(16, 4, dtype=D)
    )
    x = torch.randn(128, 10, dtype=D) * 5
    w0 = model[0].weight.detach().clone()
    assert data_dependent_init(model, x) == ["2"]
    assert torch.equal(model[0].weight, w0)  # by default plain layers are left alone
    names = data_dependent_init(model, x, include_plain=True)
    assert names == ["0", "2", "4"]
    pre = _preactivations(model, x, kinds=(nn.Linear, WeightNormLinear))
    for t in pre.values():
        _assert_stats(t, 1.0)
    # rows of W were rescaled, not redrawn
    ratio = model[0].weight / w0
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-10, atol=0)


def test_init_in_float32_default_layers() -> None:
    torch.manual_seed(5)
    model = nn.Sequential(
        WeightNormLinear(8, 64), nn.ReLU(), WeightNormLinear(64, 64), nn.ReLU(), WeightNormLinear(64, 4)
    )
    x = torch.randn(500, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no spurious constant-unit warnings
        data_dependent_init(model, x)
    model.eval()  # the cached inference path sees the new g and b
    for t in _preactivations(model, x).values():
        _assert_stats(t.double(), 1.0, tol=1e-4)

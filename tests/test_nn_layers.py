"""Weight-norm layers: the paper's gradients, norm growth, torch parity, the inference cache and
serialisation round trips. Real torch throughout, float64 where the comparison is exact math."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
import torch.nn.functional as F
from stable_baselines3.common.utils import polyak_update
from torch import nn
from torch.nn.utils import parametrizations

from wnrl.nn import WeightNormConv2d, WeightNormLinear, project_weight_norm_, weight_norm_layers
from wnrl.nn.weight_norm import TrackedParameter

D = torch.float64


def _randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every weight-norm layer a non-trivial g, v and bias (g ≠ ‖v‖, signs mixed)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, layer in weight_norm_layers(module):
            layer.v.copy_(torch.randn(layer.v.shape, generator=gen, dtype=layer.v.dtype))
            layer.g.copy_(torch.randn(layer.g.shape, generator=gen, dtype=layer.g.dtype) + 0.5)
            if layer.bias is not None:
                layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen, dtype=layer.bias.dtype))
    return module


def _mlp(dtype: torch.dtype = D, bias: bool = True, hidden: int = 16) -> nn.Sequential:
    return _randomize(
        nn.Sequential(
            WeightNormLinear(8, hidden, bias=bias, dtype=dtype),
            nn.Tanh(),
            WeightNormLinear(hidden, hidden, bias=bias, dtype=dtype),
            nn.Tanh(),
            WeightNormLinear(hidden, 3, bias=bias, dtype=dtype),
        )
    )


def _fresh(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's function recomputed from g and v right now (no cache anywhere)."""
    for m in model:
        if isinstance(m, WeightNormLinear):
            x = F.linear(x, m.weight, m.bias)
        elif isinstance(m, WeightNormConv2d):
            x = F.conv2d(x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)
        else:
            x = m(x)
    return x


def _loss(y: torch.Tensor, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    r = torch.randn(y.shape, generator=gen, dtype=y.dtype)
    return (y * r).sum() + 0.5 * y.square().mean()


# --------------------------------------------------------------------------- the paper's gradients


def _check_paper_gradients(layer: WeightNormLinear | WeightNormConv2d, grad_w: torch.Tensor) -> None:
    g, v = layer.g.detach(), layer.v.detach()
    vf, gw = v.flatten(1), grad_w.flatten(1)
    norm = vf.norm(dim=1)
    grad_g = (gw * vf).sum(1) / norm
    grad_v = (g / norm)[:, None] * gw - (g * grad_g / norm.square())[:, None] * vf
    torch.testing.assert_close(layer.g.grad, grad_g, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(layer.v.grad.flatten(1), grad_v, rtol=1e-10, atol=1e-12)
    # ∇v L ⟂ v per unit, while ∇w L itself is not (so the check can fail)
    dots = (layer.v.grad.flatten(1) * vf).sum(1) / (layer.v.grad.flatten(1).norm(dim=1) * norm)
    assert dots.abs().max() < 1e-10
    assert ((gw * vf).sum(1) / (gw.norm(dim=1) * norm)).abs().max() > 1e-3


@pytest.mark.parametrize("batch", [3, 64], ids=["batch<in_features", "batch>in_features"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients_match_paper_formulas(batch: int, bias: bool) -> None:
    wn = _mlp(bias=bias)
    plain = nn.Sequential(*[m.to_linear() if isinstance(m, WeightNormLinear) else m for m in wn])
    x = torch.randn(batch, 8, dtype=D)
    torch.testing.assert_close(wn(x), plain(x), rtol=1e-12, atol=1e-12)
    _loss(wn(x)).backward()
    _loss(plain(x)).backward()
    for m, p in zip(wn, plain, strict=True):
        if isinstance(m, WeightNormLinear):
            _check_paper_gradients(m, p.weight.grad)
            if bias:
                torch.testing.assert_close(m.bias.grad, p.bias.grad, rtol=1e-10, atol=1e-12)
            else:
                assert m.bias is None and "bias" not in dict(m.named_parameters())


@pytest.mark.parametrize("groups", [1, 2])
def test_conv_gradients_match_paper_formulas(groups: int) -> None:
    wn = _randomize(
        nn.Sequential(
            WeightNormConv2d(4, 6, 3, stride=2, padding=1, groups=groups, dtype=D),
            nn.Tanh(),
            WeightNormConv2d(6, 4, 2, bias=False, dtype=D),
        )
    )
    plain = nn.Sequential(*[m.to_conv() if isinstance(m, WeightNormConv2d) else m for m in wn])
    x = torch.randn(5, 4, 9, 9, dtype=D)
    torch.testing.assert_close(wn(x), plain(x), rtol=1e-12, atol=1e-12)
    _loss(wn(x)).backward()
    _loss(plain(x)).backward()
    for m, p in zip(wn, plain, strict=True):
        if isinstance(m, WeightNormConv2d):
            assert m.g.shape == (m.out_channels,)
            _check_paper_gradients(m, p.weight.grad)


def test_input_gradient_matches_plain_layer() -> None:
    wn = _mlp()
    plain = nn.Sequential(*[m.to_linear() if isinstance(m, WeightNormLinear) else m for m in wn])
    x1 = torch.randn(7, 8, dtype=D, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    _loss(wn(x1)).backward()
    _loss(plain(x2)).backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)


def test_v_norm_never_decreases_under_plain_sgd() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        WeightNormLinear(6, 16, dtype=D),
        nn.ReLU(),
        WeightNormLinear(16, 16, dtype=D),
        nn.ReLU(),
        WeightNormLinear(16, 2, dtype=D),
        nn.Unflatten(1, (2, 1, 1)),
        WeightNormConv2d(2, 3, 1, dtype=D),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.0, weight_decay=0.0)
    layers = [m for _, m in weight_norm_layers(model)]
    start = [m._v_norm().detach().clone() for m in layers]
    prev = [s.clone() for s in start]
    for _ in range(200):
        x = torch.randn(16, 6, dtype=D) * 3
        target = torch.randn(16, 3, 1, 1, dtype=D)
        opt.zero_grad()
        ((model(x) - target) ** 2).mean().backward()
        opt.step()
        for m, p in zip(layers, prev, strict=True):
            now = m._v_norm().detach()
            assert (now >= p * (1 - 1e-13)).all(), "‖v‖ decreased under plain SGD"
            p.copy_(now)
    growth = [(p / s).max().item() for p, s in zip(prev, start, strict=True)]
    assert max(growth) > 1.01  # it really moved: the check above is not vacuous


# --------------------------------------------------------------------------- parity with torch


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_forward_and_gradients_equal_torch_parametrization(kind: str) -> None:
    torch.manual_seed(1)
    if kind == "linear":
        ref = nn.Linear(12, 5, dtype=D)
        x = torch.randn(9, 12, dtype=D)
    else:
        ref = nn.Conv2d(3, 5, 3, stride=2, padding=1, dtype=D)
        x = torch.randn(4, 3, 8, 8, dtype=D)
    ref = parametrizations.weight_norm(ref, dim=0)
    with torch.no_grad():
        g0 = ref.parametrizations.weight.original0
        g0.mul_(torch.rand_like(g0) + 0.5)
    sd = {k: v.clone() for k, v in ref.state_dict().items()}
    ours = (
        WeightNormLinear(12, 5, dtype=D)
        if kind == "linear"
        else WeightNormConv2d(3, 5, 3, stride=2, padding=1, dtype=D)
    )
    ours.load_state_dict(sd)
    torch.testing.assert_close(ours.g, sd["parametrizations.weight.original0"].flatten(), rtol=0, atol=0)
    torch.testing.assert_close(ours.v, sd["parametrizations.weight.original1"], rtol=0, atol=0)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref, y = ref(x1), ours(x2)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    _loss(y_ref).backward()
    _loss(y).backward()
    g_ref = ref.parametrizations.weight.original0.grad
    v_ref = ref.parametrizations.weight.original1.grad
    torch.testing.assert_close(ours.g.grad, g_ref.flatten(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.v.grad, v_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-10, atol=1e-12)
    with torch.no_grad():  # the cached inference path agrees too
        ours.eval()
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- the inference cache


def _prime(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.eval()
    with torch.no_grad():
        y = model(x)
    return y, [m.cached_weight() for _, m in weight_norm_layers(model)]


def _assert_not_stale(
    model: nn.Module,
    x: torch.Tensor,
    before: torch.Tensor,
    cached: list[torch.Tensor],
    changed: bool = True,
    touched: tuple[int, ...] | None = None,
) -> None:
    """Cached forward equals a fresh computation; the caches of the ``touched`` layers (default:
    all) were rebuilt, those of the others were kept."""
    model.eval()
    with torch.no_grad():
        y = model(x)
        fresh = _fresh(model, x)
    torch.testing.assert_close(y, fresh, rtol=1e-6, atol=1e-7)
    if changed:  # the mutation really changed the function, so a stale cache would show
        assert not torch.allclose(before.to(y.dtype), fresh, rtol=1e-4, atol=1e-5)
    for i, ((_, m), old) in enumerate(zip(weight_norm_layers(model), cached, strict=True)):
        if touched is None or i in touched:
            assert m.cached_weight() is not old, f"cache of layer {i} not invalidated"
        else:
            assert m.cached_weight() is old, f"cache of untouched layer {i} rebuilt"


def test_cache_is_used_when_nothing_changed() -> None:
    model = _mlp(torch.float32)
    model.eval()
    layer = model[0]
    with torch.no_grad():
        model(torch.randn(2, 8))
        w = layer.cached_weight()
        model(torch.randn(2, 8))
    assert layer.cached_weight() is w
    assert not w.requires_grad and w.grad_fn is None
    torch.testing.assert_close(w, layer.weight.detach(), rtol=0, atol=0)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("opt_cls", [torch.optim.Adam, torch.optim.SGD])
def test_cache_not_stale_after_optimizer_step(opt_cls: type, foreach: bool) -> None:
    torch.manual_seed(0)
    model = _mlp(torch.float32)
    x = torch.randn(4, 8)
    before, cached = _prime(model, x)
    opt = opt_cls(model.parameters(), lr=0.05, foreach=foreach)
    for _ in range(2):
        model.train()
        opt.zero_grad()
        _loss(model(torch.randn(32, 8))).backward()
        opt.step()
        _assert_not_stale(model, x, before, cached)
        before, cached = _prime(model, x)


def test_cache_not_stale_after_load_state_dict() -> None:
    model, other = _mlp(torch.float32), _randomize(_mlp(torch.float32), seed=5)
    x = torch.randn(4, 8)
    before, cached = _prime(model, x)
    model.load_state_dict(other.state_dict())
    _assert_not_stale(model, x, before, cached)
    with torch.no_grad():
        torch.testing.assert_close(model(x), other.eval()(x), rtol=0, atol=0)


def test_cache_not_stale_after_load_state_dict_assign() -> None:
    model, other = _mlp(torch.float32), _randomize(_mlp(torch.float32), seed=6)
    x = torch.randn(4, 8)
    before, cached = _prime(model, x)
    model.load_state_dict({k: v.clone() for k, v in other.state_dict().items()}, assign=True)
    _assert_not_stale(model, x, before, cached)


def test_cache_not_stale_after_projection() -> None:
    """Projection keeps the function, so staleness shows only as a cache that was not refreshed."""
    model = _mlp(torch.float32)
    x = torch.randn(4, 8)
    before, cached = _prime(model, x)
    assert project_weight_norm_(model) == 3
    _assert_not_stale(model, x, before, cached, changed=False)
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-6)


def test_cache_not_stale_after_manual_inplace_write() -> None:
    model = _mlp(torch.float32)
    x = torch.randn(4, 8)
    before, cached = _prime(model, x)
    with torch.no_grad():
        model[0].g.mul_(2)
        model[2].v[0].mul_(-1)
        model[4].v.add_(1.0)
    _assert_not_stale(model, x, before, cached)


def test_cache_not_stale_after_writes_through_data() -> None:
    """``p.data.mul_`` does not bump a plain Parameter's version; TrackedParameter makes it."""
    model = _mlp(torch.float32)
    x = torch.randn(4, 8)
    before, cached = _prime(model, x)
    model[0].g.data.mul_(3)
    torch.add(model[2].v.data, 1.0, out=model[2].v.data)
    model[4].v.data.copy_(torch.randn_like(model[4].v))
    _assert_not_stale(model, x, before, cached)
    # the premise: with a plain nn.Parameter the same write is invisible to the version counter
    p = nn.Parameter(torch.ones(3))
    p.data.mul_(2)
    assert p._version == 0 and model[0].g._version > 0


def test_cache_not_stale_after_data_assignment() -> None:
    model = _mlp(torch.float32)
    x = torch.randn(4, 8)
    before, cached = _prime(model, x)
    model[2].v.data = torch.randn_like(model[2].v)
    assert type(model[2].v) is TrackedParameter
    _assert_not_stale(model, x, before, cached, touched=(1,))


def test_cache_not_stale_after_dtype_move() -> None:
    model = _mlp(torch.float32)
    x = torch.randn(4, 8)
    before, cached = _prime(model, x)
    with torch.no_grad():
        model[0].g.mul_(1.5)  # also changed, so the float64 output differs from the float32 one
    model.to(torch.float64)
    assert all(type(m.v) is TrackedParameter for _, m in weight_norm_layers(model))
    x64 = x.double()
    _assert_not_stale(model, x64, before.double(), cached)
    for _, m in weight_norm_layers(model):
        assert m.cached_weight().dtype == torch.float64
    model.to(torch.float32)  # and back: a cache from before must not come back to life
    with torch.no_grad():
        model[2].g.mul_(0.5)
        torch.testing.assert_close(model(x), _fresh(model, x), rtol=1e-6, atol=1e-7)


if torch.cuda.is_available():

    def test_cache_not_stale_after_device_move() -> None:
        model = _mlp(torch.float32)
        x = torch.randn(4, 8)
        before, cached = _prime(model, x)
        model.to("cuda")
        with torch.no_grad():
            model[0].g.mul_(2)
        _assert_not_stale(model, x.cuda(), before.cuda(), cached)


@pytest.mark.parametrize("tau", [0.3, 1.0])
def test_cache_not_stale_after_sb3_polyak_update(tau: float) -> None:
    online, target = _randomize(_mlp(torch.float32), seed=2), _mlp(torch.float32)
    x = torch.randn(4, 8)
    before, cached = _prime(target, x)
    polyak_update(online.parameters(), target.parameters(), tau)
    _assert_not_stale(target, x, before, cached)
    if tau == 1.0:
        with torch.no_grad():
            torch.testing.assert_close(target(x), online.eval()(x), rtol=0, atol=0)


def test_cache_not_stale_in_a_dqn_like_loop() -> None:
    """Online net trained by Adam, target net read under no_grad and polyak-updated now and then."""
    torch.manual_seed(3)
    online = _mlp(torch.float32)
    target = copy.deepcopy(online).eval()
    opt = torch.optim.Adam(online.parameters(), lr=1e-2)
    x = torch.randn(8, 8)
    for step in range(12):
        with torch.no_grad():
            q_next = target(x)
            torch.testing.assert_close(q_next, _fresh(target, x), rtol=1e-6, atol=1e-7)
        opt.zero_grad()
        ((online.train()(x) - q_next.detach() - 1) ** 2).mean().backward()
        opt.step()
        if step % 3 == 2:
            polyak_update(online.parameters(), target.parameters(), 0.5)
    assert not torch.allclose(target(x), online(x))


def test_frozen_layer_with_grad_enabled_serves_fresh_weight() -> None:
    layer = _randomize(WeightNormLinear(5, 4))
    layer.requires_grad_(False)
    x = torch.randn(3, 5, requires_grad=True)
    y0 = layer(x)
    with torch.no_grad():
        layer.g.mul_(2)
    y1 = layer(x)
    torch.testing.assert_close(y1, F.linear(x, layer.weight, layer.bias))
    assert not torch.allclose(y0, y1)
    y1.sum().backward()  # gradients still reach the input through the cached weight
    torch.testing.assert_close(x.grad, layer.weight.sum(0).expand(3, 5))


def test_inference_mode_cache_is_usable_outside_inference_mode() -> None:
    layer = _randomize(WeightNormLinear(5, 4))
    layer.requires_grad_(False)
    with torch.inference_mode():
        layer(torch.randn(2, 5))
    w = layer.cached_weight()
    assert not w.is_inference()
    x = torch.randn(3, 5, requires_grad=True)
    layer(x).sum().backward()  # would raise if an inference tensor had been cached
    assert x.grad is not None


def test_plain_parameter_in_place_of_v_disables_the_cache_but_stays_correct() -> None:
    layer = _randomize(WeightNormLinear(5, 4)).eval()
    layer.v = nn.Parameter(layer.v.detach().clone())
    x = torch.randn(3, 5)
    with torch.no_grad():
        y0 = layer(x)
        layer.v.data.mul_(-1)  # invisible to the version counter of a plain Parameter
        y1 = layer(x)
    torch.testing.assert_close(y1, -y0 + 2 * layer.bias, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- round trips


def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


def _cnn() -> nn.Sequential:
    return _randomize(
        nn.Sequential(
            WeightNormConv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), WeightNormLinear(4 * 4 * 4, 2)
        )
    )


@pytest.mark.parametrize(
    "make,shape", [(lambda: _mlp(torch.float32), (5, 8)), (_cnn, (2, 3, 8, 8))], ids=["mlp", "cnn"]
)
def test_round_trips_give_identical_outputs(make, shape) -> None:
    model = make()
    x = torch.randn(*shape)
    y = _outputs(model, x)  # also fills the caches, which must not travel or go stale

    fresh = make()
    _randomize(fresh, seed=9)
    fresh.load_state_dict(model.state_dict())
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    copies = {
        "state_dict": fresh,
        "deepcopy": copy.deepcopy(model),
        "pickle": pickle.loads(pickle.dumps(model)),
        "torch.save": torch.load(buf, weights_only=False),
    }
    for name, other in copies.items():
        assert torch.equal(_outputs(other, x), y), name
        for _, layer in weight_norm_layers(other):
            assert type(layer.v) is TrackedParameter and type(layer.g) is TrackedParameter, name
        # the copy is independent and its cache still tracks writes (through .data as well)
        first = next(m for _, m in weight_norm_layers(other))
        first.g.data.mul_(2)
        assert not torch.equal(_outputs(other, x), y), name
        torch.testing.assert_close(_outputs(other, x), _fresh(other, x), rtol=1e-6, atol=1e-6)
    assert torch.equal(_outputs(model, x), y)


def test_state_dict_keys_and_weights_only_load() -> None:
    model = _mlp(torch.float32)
    sd = model.state_dict()
    assert set(sd) == {f"{i}.{k}" for i in (0, 2, 4) for k in ("v", "g", "bias")}
    assert all(type(t) is torch.Tensor for t in sd.values())
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    other = _mlp(torch.float32)
    _randomize(other, seed=4)
    other.load_state_dict(torch.load(buf, weights_only=True))
    x = torch.randn(3, 8)
    assert torch.equal(_outputs(other, x), _outputs(model, x))


def test_load_plain_linear_state_dict() -> None:
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    wn = nn.Sequential(WeightNormLinear(8, 16, dtype=D), nn.Tanh(), WeightNormLinear(16, 3, dtype=D))
    wn.load_state_dict(plain.state_dict())
    x = torch.randn(6, 8, dtype=D)
    torch.testing.assert_close(_outputs(wn, x), _outputs(plain, x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(wn[0].g, plain[0].weight.norm(dim=1), rtol=1e-12, atol=0)


def test_load_plain_conv_state_dict() -> None:
    torch.manual_seed(0)
    plain = nn.Conv2d(3, 4, 3, stride=2, padding=1, dtype=D)
    wn = WeightNormConv2d(3, 4, 3, stride=2, padding=1, dtype=D)
    wn.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 7, 7, dtype=D)
    torch.testing.assert_close(_outputs(wn, x), _outputs(plain, x), rtol=1e-12, atol=1e-12)


def test_load_torch_parametrization_state_dict() -> None:
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    for m in ref:
        if isinstance(m, nn.Linear):
            parametrizations.weight_norm(m, dim=0)
            with torch.no_grad():
                m.parametrizations.weight.original0.mul_(2.0)
    assert "0.parametrizations.weight.original0" in ref.state_dict()
    wn = nn.Sequential(WeightNormLinear(8, 16, dtype=D), nn.Tanh(), WeightNormLinear(16, 3, dtype=D))
    wn.load_state_dict(ref.state_dict())
    x = torch.randn(6, 8, dtype=D)
    torch.testing.assert_close(_outputs(wn, x), _outputs(ref, x), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit deprecations inside inductor
def test_torch_compile_matches_eager() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(WeightNormLinear(6, 8), nn.ReLU(), WeightNormLinear(8, 2))
    _randomize(model, seed=3)
    twin = copy.deepcopy(model)
    compiled = torch.compile(twin, fullgraph=True)
    x = torch.randn(5, 6)
    model.train(), twin.train()
    y_eager, y_comp = model(x), compiled(x)
    torch.testing.assert_close(y_comp, y_eager, rtol=1e-5, atol=1e-6)
    _loss(y_eager).backward()
    _loss(y_comp).backward()
    for (n, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-6, msg=n)
    model.eval(), twin.eval()
    with torch.no_grad():
        twin[0].g.mul_(2)  # the compiled graph computes the weight itself: no stale cache
        model[0].g.mul_(2)
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-6)


def test_tracked_parameter_behaves_like_a_parameter() -> None:
    layer = WeightNormLinear(3, 2)
    assert isinstance(layer.v, nn.Parameter) and type(layer.v) is TrackedParameter
    assert [n for n, _ in layer.named_parameters()] == ["v", "g", "bias"]
    assert repr(layer.g).startswith("Parameter containing:\ntensor(")
    d = layer.v.data
    assert type(d) is torch.Tensor and not d.requires_grad and d.data_ptr() == layer.v.data_ptr()
    # default Adam picks its multi-tensor path for these parameters as for plain ones
    from torch.optim.optimizer import _default_to_fused_or_foreach, _foreach_supported_types

    assert TrackedParameter in _foreach_supported_types
    assert _default_to_fused_or_foreach([layer.v, layer.g], False) == _default_to_fused_or_foreach(
        [nn.Parameter(layer.v.detach())], False
    )


def test_functional_call_uses_the_given_parameters_and_leaves_the_cache_sound() -> None:
    model, other = _mlp(torch.float32), _randomize(_mlp(torch.float32), seed=8)
    x = torch.randn(4, 8)
    before, _ = _prime(model, x)
    params = {k: v.detach().clone() for k, v in other.named_parameters()}
    with torch.no_grad():
        y_other = torch.func.functional_call(model, params, (x,))
        torch.testing.assert_close(y_other, other.eval()(x), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(model(x), before, rtol=0, atol=0)  # own parameters again
    y_grad = torch.func.functional_call(model, params, (x,))
    torch.testing.assert_close(y_grad, y_other, rtol=1e-6, atol=1e-7)


def test_default_init_matches_plain_layer_scale_and_paper_init_on_request() -> None:
    """By default v (and bias) start as nn.Linear/nn.Conv2d's do, so Adam's per-element steps
    rotate directions as fast as in the plain twin; init_std gives the paper's N(0, σ²)."""
    torch.manual_seed(0)
    plain = torch.nn.Linear(256, 128)
    wn = WeightNormLinear(256, 128)
    ratio = wn.v.norm(dim=1).mean() / plain.weight.norm(dim=1).mean()
    assert 0.9 < float(ratio) < 1.1
    assert float(wn.bias.abs().max()) <= 1 / 16 and float(wn.bias.abs().max()) > 0
    torch.testing.assert_close(wn.g, wn.v.norm(dim=1))
    paper = WeightNormLinear(256, 128, init_std=0.05)
    assert abs(float(paper.v.std()) - 0.05) < 0.002 and float(paper.bias.abs().max()) == 0.0
    conv_plain, conv = torch.nn.Conv2d(16, 32, 3), WeightNormConv2d(16, 32, 3)
    ratio = conv.v.flatten(1).norm(dim=1).mean() / conv_plain.weight.flatten(1).norm(dim=1).mean()
    assert 0.9 < float(ratio) < 1.1

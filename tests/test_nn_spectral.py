"""Spectral normalization: σ_max(W/σ̂) ≈ 1, power iteration only in training, a plain-cost cached
weight at inference that no in-place change can make stale."""

from __future__ import annotations

import copy
import pickle

import torch
import torch.nn.functional as F
from stable_baselines3.common.utils import polyak_update

from wnrl.nn.spectral import SpectralNormConv2d, SpectralNormLinear


def _sigma(w: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(w.detach().flatten(1), ord=2))


def test_normalized_weight_has_unit_spectral_norm_and_gradients_flow() -> None:
    torch.manual_seed(0)
    layer = SpectralNormLinear(12, 7)
    assert abs(_sigma(layer.normalized_weight()) - 1) < 1e-3, "15 power iterations at build"
    x = torch.randn(5, 12)
    y = layer(x)
    assert torch.allclose(y, F.linear(x, layer.weight / layer.sigma(), layer.bias), atol=1e-6)
    y.square().sum().backward()
    assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()
    conv = SpectralNormConv2d(3, 4, 3)
    assert abs(_sigma(conv.normalized_weight()) - 1) < 1e-3
    assert conv(torch.randn(2, 3, 8, 8)).shape == (2, 4, 6, 6)


def test_no_power_iteration_in_eval_and_the_cache_follows_in_place_writes() -> None:
    torch.manual_seed(0)
    layer = SpectralNormLinear(6, 6).eval()
    u = layer.sn_u.clone()
    x = torch.randn(3, 6)
    with torch.no_grad():
        first = layer._forward_weight()
        assert layer._forward_weight() is first, "served from the cache"
        layer(x)
    assert torch.equal(u, layer.sn_u)
    target = copy.deepcopy(layer)
    with torch.no_grad():
        layer.weight.mul_(2)  # scale: same normalized weight
        polyak_update(layer.parameters(), target.parameters(), 0.5)  # writes through .data
        assert target._forward_weight() is not first
    layer.train()
    layer(x)
    assert not torch.equal(u, layer.sn_u), "training mode iterates"


def test_state_dict_pickle_and_deepcopy_keep_the_estimates() -> None:
    layer = SpectralNormLinear(4, 3)
    clone = pickle.loads(pickle.dumps(layer))
    assert torch.equal(clone.sn_u, layer.sn_u) and clone._sn_cache is None
    fresh = SpectralNormLinear(4, 3)
    fresh.load_state_dict(layer.state_dict())
    x = torch.randn(2, 4)
    assert torch.equal(fresh.eval()(x), copy.deepcopy(layer).eval()(x))

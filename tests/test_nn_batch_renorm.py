"""Batch Renormalization: sb3-contrib's math, wnrl's buffers (SB3's ``running_*`` copies see them)."""

from __future__ import annotations

import pytest
import torch
from sb3_contrib.common.torch_layers import BatchRenorm1d

from wnrl.nn import BATCH_NORMS
from wnrl.nn.batch_renorm import BatchRenorm


def _pair(warmup: int) -> tuple[BatchRenorm, BatchRenorm1d]:
    ours, theirs = BatchRenorm(5, warmup_steps=warmup), BatchRenorm1d(5, warmup_steps=warmup)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 1.5)
        ours.bias.uniform_(-1, 1)
        theirs.scale.copy_(ours.weight)
        theirs.bias.copy_(ours.bias)
    return ours, theirs


@pytest.mark.parametrize("warmup", [0, 3, 1000])
def test_equals_sb3_contribs_layer_in_training_and_eval(warmup: int) -> None:
    torch.manual_seed(0)
    ours, theirs = _pair(warmup)
    for step in range(6):
        x = torch.randn(32, 5) * (1 + step) + step
        assert torch.allclose(ours(x), theirs(x), atol=1e-5), step
    assert torch.allclose(ours.running_mean, theirs.ra_mean) and torch.allclose(ours.running_var, theirs.ra_var)
    assert int(ours.num_batches_tracked) == int(theirs.steps) == 6
    ours.eval()
    theirs.eval()
    x = torch.randn(8, 5)
    assert torch.allclose(ours(x), theirs(x), atol=1e-5)


@pytest.mark.parametrize("warmup", [0, 1000])
def test_gradients_equal_sb3_contribs_layer(warmup: int) -> None:
    """The centred-statistics forward is the same function as sb3-contrib's, so its gradients
    (input, γ, β) are too, in plain batch norm (warm-up) and renormalization (r, d clipped)."""
    torch.manual_seed(1)
    ours, theirs = _pair(warmup)
    for step in range(4):  # move the running statistics away from the batch's, so r and d act
        x = torch.randn(64, 5) * (1 + 2 * step) + 3 * step
        ours(x), theirs(x)
    x = (torch.randn(64, 5) * 4 - 2).requires_grad_()
    xt = x.detach().clone().requires_grad_()
    upstream = torch.randn(64, 5)
    (ours(x) * upstream).sum().backward()
    (theirs(xt) * upstream).sum().backward()
    assert x.grad is not None and xt.grad is not None
    assert torch.allclose(x.grad, xt.grad, atol=1e-5)
    assert torch.allclose(ours.weight.grad, theirs.scale.grad, atol=1e-4)
    assert torch.allclose(ours.bias.grad, theirs.bias.grad, atol=1e-4)


def test_images_match_batch_norm_over_channels_with_unbiased_variance() -> None:
    """(N, C, H, W): statistics over N, H and W, in training (unbiased) and eval (running)."""
    torch.manual_seed(2)
    layer = BatchRenorm(3, eps=1e-3, warmup_steps=10)
    x = torch.randn(4, 3, 5, 5) * 3 + 1
    mean, var = x.mean(dim=(0, 2, 3), keepdim=True), x.var(dim=(0, 2, 3), keepdim=True)
    assert torch.allclose(layer(x), (x - mean) / (var + 1e-3).sqrt(), atol=1e-5)
    assert torch.allclose(layer.running_var, 0.99 + 0.01 * var.flatten())
    layer.eval()
    running = layer.running_mean.view(1, -1, 1, 1), layer.running_var.view(1, -1, 1, 1)
    assert torch.allclose(layer(x), (x - running[0]) / (running[1] + 1e-3).sqrt(), atol=1e-5)


def test_hand_computed_renormalization_and_frozen_eval_statistics() -> None:
    layer = BatchRenorm(1, eps=0.0, momentum=0.5, affine=False, warmup_steps=0)
    layer.running_mean.fill_(1.0)
    layer.running_var.fill_(4.0)
    layer.num_batches_tracked.fill_(1)  # past the warm-up
    x = torch.tensor([[0.0], [2.0], [4.0]])  # mean 2, unbiased var 4, std 2
    # r = 2/2 = 1, d = (2 - 1)/2 = 0.5: x̂ = (x - 2)/2 + 0.5
    assert torch.allclose(layer(x), (x - 2) / 2 + 0.5)
    assert float(layer.running_mean) == 1.5 and float(layer.running_var) == 4.0
    layer.eval()
    before = [b.clone() for b in layer.buffers()]
    assert torch.allclose(layer(x), (x - 1.5) / 2)
    assert all(torch.equal(a, b) for a, b in zip(before, layer.buffers())), "eval never updates"


def test_per_channel_images_batch_norms_family_and_contrib_checkpoints() -> None:
    layer = BatchRenorm(3)
    assert isinstance(layer, BATCH_NORMS)
    y = layer(torch.randn(4, 3, 5, 5) * 3 + 2)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert {n for n, _ in layer.named_buffers()} >= {"running_mean", "running_var"}
    theirs = BatchRenorm1d(3)
    theirs.ra_mean.fill_(0.25)
    fresh = BatchRenorm(3)
    fresh.load_state_dict(theirs.state_dict())
    assert torch.allclose(fresh.running_mean, torch.full((3,), 0.25))
    with pytest.raises(ValueError, match="expected"):
        layer(torch.randn(4, 2))

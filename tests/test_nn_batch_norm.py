"""Mean-only batch normalisation: subtract the batch mean (running mean at eval), add a bias,
never divide by the std."""

from __future__ import annotations

import pytest
import torch

from wnrl.nn import MeanOnlyBatchNorm


def test_train_mode_subtracts_batch_mean_1d() -> None:
    torch.manual_seed(0)
    bn = MeanOnlyBatchNorm(5)
    x = torch.randn(32, 5) * torch.tensor([1.0, 10.0, 0.1, 3.0, 100.0]) + 7.0
    y = bn(x)
    torch.testing.assert_close(y, x - x.mean(0))
    torch.testing.assert_close(y.std(0), x.std(0))  # the scale is kept: no division by the std
    torch.testing.assert_close(bn.running_mean, 0.1 * x.mean(0))
    assert bn.num_batches_tracked.item() == 1


def test_train_mode_subtracts_mean_over_batch_and_space_2d() -> None:
    torch.manual_seed(1)
    bn = MeanOnlyBatchNorm(3)
    x = torch.randn(4, 3, 5, 6) * 2 + torch.tensor([1.0, -4.0, 9.0]).view(1, 3, 1, 1)
    y = bn(x)
    mean = x.mean(dim=(0, 2, 3))
    torch.testing.assert_close(y, x - mean.view(1, 3, 1, 1))
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(3), rtol=0, atol=1e-5)
    assert not torch.allclose(y.mean(dim=(0, 2)), torch.zeros(3, 6), atol=1e-3)  # not per position
    torch.testing.assert_close(y.std(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)))


def test_running_mean_is_an_ema_with_momentum_0_1() -> None:
    torch.manual_seed(2)
    bn = MeanOnlyBatchNorm(4)
    expected = torch.zeros(4)
    for i in range(5):
        x = torch.randn(16, 4) + i
        bn(x)
        expected = 0.9 * expected + 0.1 * x.mean(0)
    torch.testing.assert_close(bn.running_mean, expected)
    assert bn.num_batches_tracked.item() == 5


def test_eval_mode_uses_running_mean_and_does_not_update_it() -> None:
    torch.manual_seed(3)
    bn = MeanOnlyBatchNorm(4)
    for _ in range(3):
        bn(torch.randn(8, 4) + 5)
    bn.eval()
    running = bn.running_mean.clone()
    x = torch.randn(6, 4) - 3
    torch.testing.assert_close(bn(x), x - running)
    torch.testing.assert_close(bn(x[:1]), x[:1] - running)  # a batch of one works at eval
    assert torch.equal(bn.running_mean, running)
    assert bn.num_batches_tracked.item() == 3


def test_learnable_bias_is_added_and_trained() -> None:
    torch.manual_seed(4)
    bn = MeanOnlyBatchNorm(3)
    with torch.no_grad():
        bn.bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
    x = torch.randn(10, 3)
    y = bn(x)
    torch.testing.assert_close(y, x - x.mean(0) + bn.bias)
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    torch.testing.assert_close(bn.bias.grad, torch.tensor([10.0, 20.0, 30.0]))
    # gradient to the input is centred (the mean was subtracted in the graph)
    x2 = x.clone().requires_grad_()
    (bn(x2) * torch.arange(10.0).view(10, 1)).sum().backward()
    torch.testing.assert_close(x2.grad.sum(0), torch.zeros(3), rtol=0, atol=1e-4)
    bn.eval()
    torch.testing.assert_close(bn(x), x - bn.running_mean + bn.bias)


def test_no_bias_option() -> None:
    bn = MeanOnlyBatchNorm(3, bias=False)
    assert bn.bias is None and not list(bn.parameters())
    x = torch.randn(7, 3) + 2
    torch.testing.assert_close(bn(x), x - x.mean(0))


@pytest.mark.parametrize("shape", [(8, 4), (8,), (8, 3, 5)])
def test_bad_shape_raises(shape: tuple[int, ...]) -> None:
    bn = MeanOnlyBatchNorm(5)
    with pytest.raises(ValueError, match=r"expected \(N, 5"):
        bn(torch.randn(*shape))

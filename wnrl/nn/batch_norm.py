r"""Mean-only batch normalization (Salimans & Kingma, 2016, section 2.1).

.. math::
    y = x - \mu_B + b

where :math:`\mu_B` is the per-feature minibatch mean in training mode and the running mean
(exponential moving average) in eval mode. The variance is never divided out, so the layer adds
no noise to the gradient scale; used on top of weight norm it centres pre-activations.

:data:`BATCH_NORMS` names every layer that normalizes with batch statistics in training mode and
running statistics (buffers named ``running_*``) in eval mode: torch's batch norms and this one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["BATCH_NORMS", "MeanOnlyBatchNorm"]


class MeanOnlyBatchNorm(nn.Module):
    """Subtract the per-feature batch mean (running mean at eval), then add a learned bias.

    Works on ``(N, C)``, ``(N, C, L)`` and ``(N, C, H, W)`` inputs: feature dimension 1, the mean
    is taken over every other dimension.

    :param num_features: number of features / channels ``C``
    :param momentum: weight of the new batch in the running-mean update
        (``running = (1 - momentum) · running + momentum · batch``; 0.1 = the paper's EMA 0.9)
    :param bias: whether to learn an additive bias
    """

    running_mean: Tensor
    num_batches_tracked: Tensor

    def __init__(
        self, num_features: int, momentum: float = 0.1, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.num_features, self.momentum = num_features, momentum
        self.bias = nn.Parameter(torch.zeros(num_features, **kw)) if bias else None
        self.register_buffer("running_mean", torch.zeros(num_features, **kw))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def _shape(self, x: Tensor) -> list[int]:
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"MeanOnlyBatchNorm({self.num_features}) got input of shape "
                f"{tuple(x.shape)}; expected (N, {self.num_features}, ...)"
            )
        return [1, -1] + [1] * (x.dim() - 2)

    def forward(self, x: Tensor) -> Tensor:
        shape = self._shape(x)
        if self.training:
            dims = [0] + list(range(2, x.dim()))
            mean = x.mean(dim=dims)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.num_batches_tracked.add_(1)
        else:
            mean = self.running_mean
        shift = mean if self.bias is None else mean - self.bias
        return x - shift.view(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, momentum={self.momentum}, bias={self.bias is not None}"


#: Layers using batch statistics in training mode and their ``running_*`` buffers in eval mode.
BATCH_NORMS: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._BatchNorm, MeanOnlyBatchNorm)

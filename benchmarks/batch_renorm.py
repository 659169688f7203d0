"""Per-call cost of wnrl's ``BatchRenorm`` against sb3-contrib's ``BatchRenorm1d`` (the same
formula; CrossQ's layer) and torch's ``BatchNorm1d`` (a fused kernel, biased variance: not the
same function, the floor).

Shapes are CrossQ's on Pendulum with a [256, 256] critic: the joint s/s' pass is a batch of 512;
256 features per hidden layer, 4 at the critic's input (3 observation + 1 action dims). Two
measurements per shape: a training step's forward + backward (in the warm-up phase, plain batch
norm, and after it, with r and d), and an eval-mode forward under ``no_grad`` (acting).
Variants are interleaved within each repeat; times are medians over repeats of the mean per call,
ratios the median of the paired per-repeat ratios to sb3-contrib. One torch thread.

    python benchmarks/batch_renorm.py [--repeats 7] [--calls 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from sb3_contrib.common.torch_layers import BatchRenorm1d
from torch import nn

from wnrl.nn.batch_renorm import BatchRenorm

SHAPES = [(512, 256), (256, 256), (512, 4)]
VARIANTS: dict[str, Callable[[int, int], nn.Module]] = {
    "sb3-contrib": lambda c, warmup: BatchRenorm1d(c, warmup_steps=warmup),
    "wnrl": lambda c, warmup: BatchRenorm(c, warmup_steps=warmup),
    "torch BatchNorm1d": lambda c, warmup: nn.BatchNorm1d(c, eps=1e-3, momentum=0.01),
}


def _time(layer: nn.Module, x: torch.Tensor, train: bool, calls: int) -> float:
    """Mean microseconds per call: forward + backward in training mode, forward in eval mode."""
    layer.train(train)
    start = time.perf_counter()
    if train:
        for _ in range(calls):
            layer(x).sum().backward()
    else:
        with torch.no_grad():
            for _ in range(calls):
                layer(x)
    return (time.perf_counter() - start) / calls * 1e6


def measure(
    shape: tuple[int, int], phase: str, train: bool, repeats: int, calls: int
) -> dict[str, tuple[float, float]]:
    """``{variant: (median µs per call, median ratio to sb3-contrib)}`` for one cell."""
    n, c = shape
    warmup = 10**9 if phase == "warm-up" else 0
    torch.manual_seed(0)
    x = (torch.randn(n, c) * 3 + 1).requires_grad_(train)
    layers = {name: make(c, warmup) for name, make in VARIANTS.items()}
    for layer in layers.values():  # move the running statistics off their init, then warm the allocator
        for _ in range(5):
            layer.train()(torch.randn(n, c) * 2)
        _time(layer, x, train, 10)
    times: dict[str, list[float]] = {name: [] for name in layers}
    names = list(layers)
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            times[name].append(_time(layers[name], x, train, calls))
    base = times["sb3-contrib"]
    return {
        name: (statistics.median(t), statistics.median(a / b for a, b in zip(t, base))) for name, t in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"One torch thread, median of {args.repeats} repeats of {args.calls} calls; ratio: to sb3-contrib\n")
    print("| shape | measurement | " + " | ".join(VARIANTS) + " |")
    print("|---|---|" + "---:|" * len(VARIANTS))
    cells = [("warm-up", True), ("renorm", True), ("eval", False)]
    for shape in SHAPES:
        for phase, train in cells:
            res = measure(shape, phase, train, args.repeats, args.calls)
            what = f"train fwd+bwd, {phase}" if train else "eval forward"
            cols = " | ".join(f"{us:,.0f} µs ({ratio:.2f}×)" for us, ratio in res.values())
            print(f"| {shape[0]}×{shape[1]} | {what} | {cols} |", flush=True)


if __name__ == "__main__":
    main()

"""Per-call cost of wnrl's weight-norm layers against plain layers and the alternatives.

Everything is measured side by side in one process, one thread (``torch.set_num_threads(1)``),
round-robin: each repeat times every variant of a cell in turn (rotating the order), and the
reported time is the median over repeats of the mean time per call within a block. Ratios to the
plain network of the same cell are paired: the median over repeats of (variant block / plain block
of the same repeat), so machine load that drifts between repeats cancels out.

Networks (all with the same plain weights before any normalization is applied):

* ``MLP 64`` / ``MLP 256``: obs 8 → h → h → 4 outputs, ReLU;
* ``NatureCNN``: 4×84×84 → conv 32@8s4 → 64@4s2 → 64@3s1 → linear 512 → 6 outputs
  (an Atari Q-net).

Rows: plain; ``wnrl`` (WeightNormLinear / WeightNormConv2d via ``convert_to_weight_norm``);
``wnrl, plain head`` (every layer but the output one: what wnrl's policies build by default,
``norm_output=False``); ``torch WN`` (``torch.nn.utils.parametrizations.weight_norm``, dim 0) and, for forward passes,
the same inside ``parametrize.cached()`` (entered per call, as a ``predict`` would); BatchNorm
and LayerNorm after every hidden layer (``GroupNorm(1, C)``, i.e. LayerNorm over C×H×W, after a
conv).

Measurements: forward in eval mode under ``no_grad`` (MLP batch 1/8/256, CNN 1/8/32) and a train
step (zero_grad, forward, MSE loss, backward, ``Adam.step``) at MLP batch 64/256, CNN 32, twice:
with torch's default Adam (a per-parameter Python loop on CPU; what stock SB3 uses) and with
``Adam(fused=True)`` (what wnrl's policies use by default, :mod:`wnrl.policies.speed`). Every
variant of a cell uses the same optimizer.

Usage::

    python benchmarks/layer_overhead.py [--quick] [--out FILE] [--foreach] [--device cuda]

``--foreach`` adds train-step rows with ``Adam(foreach=True)`` next to the default ones (on CPU
torch's default Adam loops over parameters in Python, so a layer with three parameter tensors
(v, g, bias) instead of two pays for the extra one in the optimizer step).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations, parametrize

from wnrl.nn import convert_to_weight_norm

VARIANTS = ["plain", "wnrl", "wnrl, plain head", "torch WN", "torch WN cached()", "BatchNorm", "LayerNorm"]
TARGET_INFER, TARGET_TRAIN = 1.05, 1.15


# --------------------------------------------------------------------------- networks


def _mlp(hidden: int, norm: str | None = None) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = 8
    for _ in range(2):
        layers.append(nn.Linear(d, hidden))
        if norm == "bn":
            layers.append(nn.BatchNorm1d(hidden))
        elif norm == "ln":
            layers.append(nn.LayerNorm(hidden))
        layers.append(nn.ReLU())
        d = hidden
    layers.append(nn.Linear(hidden, 4))
    return nn.Sequential(*layers)


def _cnn(norm: str | None = None) -> nn.Sequential:
    def after(c: int, conv: bool) -> list[nn.Module]:
        if norm == "bn":
            return [nn.BatchNorm2d(c) if conv else nn.BatchNorm1d(c)]
        if norm == "ln":
            return [nn.GroupNorm(1, c) if conv else nn.LayerNorm(c)]
        return []

    return nn.Sequential(
        nn.Conv2d(4, 32, 8, stride=4),
        *after(32, True),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2),
        *after(64, True),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=1),
        *after(64, True),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 512),
        *after(512, False),
        nn.ReLU(),
        nn.Linear(512, 6),
    )


def _torch_wn(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            parametrizations.weight_norm(m, dim=0)
    return model


def _copy_plain_weights(src: nn.Module, dst: nn.Module) -> nn.Module:
    layers = [m for m in src.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    others = [m for m in dst.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        for a, b in zip(layers, others):
            b.weight.copy_(a.weight)
            assert a.bias is not None and b.bias is not None
            b.bias.copy_(a.bias)
    return dst


def build(family: str) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    make = (
        (lambda norm=None: _mlp(64, norm))
        if family == "MLP 64"
        else (lambda norm=None: _mlp(256, norm))
        if family == "MLP 256"
        else _cnn
    )
    plain = make()
    last = [name for name, m in plain.named_modules() if isinstance(m, nn.Linear)][-1]
    return {
        "plain": plain,
        "wnrl": convert_to_weight_norm(copy.deepcopy(plain)),
        "wnrl, plain head": convert_to_weight_norm(copy.deepcopy(plain), skip=[last]),
        "torch WN": _torch_wn(plain),
        "BatchNorm": _copy_plain_weights(plain, make("bn")),
        "LayerNorm": _copy_plain_weights(plain, make("ln")),
    }


# --------------------------------------------------------------------------- timing


@dataclass
class Cell:
    family: str
    task: str  # "forward", "train" or "train-foreach"
    batch: int
    times: dict[str, list[float]] = field(default_factory=dict)

    def median(self, variant: str) -> float | None:
        t = self.times.get(variant)
        return statistics.median(t) if t else None

    def ratio(self, variant: str) -> float | None:
        """Median over repeats of the paired ratio to plain."""
        t, p = self.times.get(variant), self.times["plain"]
        return statistics.median(a / b for a, b in zip(t, p)) if t else None


def _forward_fn(model: nn.Module, x: torch.Tensor, cached: bool) -> Callable[[], object]:
    model.eval()

    if cached:

        def run() -> object:
            with torch.no_grad(), parametrize.cached():
                return model(x)
    else:

        def run() -> object:
            with torch.no_grad():
                return model(x)

    return run


OPTIMIZERS: dict[str, dict[str, Any]] = {
    "train": {},
    "train-fused": {"fused": True},
    "train-foreach": {"foreach": True},
}


def _train_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str) -> Callable[[], object]:
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, **OPTIMIZERS[task])

    def run() -> object:
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return run


#: The device of the models and data (``--device``); CUDA blocks are synchronised before timing.
DEVICE = torch.device("cpu")


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def measure(fns: dict[str, Callable[[], object]], repeats: int, block_s: float, warmup: int) -> dict[str, list[float]]:
    for f in fns.values():
        for _ in range(warmup):
            f()
    # calls per block from the slowest variant, the same for every variant of the cell
    slowest = 0.0
    for f in fns.values():
        _sync()
        t0 = time.perf_counter()
        f()
        _sync()
        slowest = max(slowest, time.perf_counter() - t0)
    n = max(1, int(block_s / max(slowest, 1e-7)))
    if n == 1:  # slow cells (the CNN): one call per block, so take more blocks
        repeats = max(repeats, min(61, int(1.0 / max(slowest, 1e-7))))
    names = list(fns)
    out: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            f = fns[k]
            _sync()
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            _sync()
            out[k].append((time.perf_counter() - t0) / n)
    return out


def run_all(quick: bool, with_foreach: bool) -> list[Cell]:
    repeats, block_s, warmup = (3, 0.01, 3) if quick else (21, 0.025, 20)
    plan = [("MLP 64", (1, 8, 256), (64, 256)), ("MLP 256", (1, 8, 256), (64, 256)), ("NatureCNN", (1, 8, 32), (32,))]
    cells: list[Cell] = []
    for family, fwd_batches, train_batches in plan:
        in_shape = (8,) if family.startswith("MLP") else (4, 84, 84)
        n_out = 4 if family.startswith("MLP") else 6
        for batch in fwd_batches:
            models = {k: m.to(DEVICE) for k, m in build(family).items()}
            x = torch.rand(batch, *in_shape, device=DEVICE)
            fns = {k: _forward_fn(m, x, cached=False) for k, m in models.items()}
            fns["torch WN cached()"] = _forward_fn(models["torch WN"], x, cached=True)
            cell = Cell(family, "forward", batch, measure(fns, repeats, block_s, warmup))
            cells.append(cell)
            _progress(cell)
        for batch in train_batches:
            for task in ("train", "train-fused", "train-foreach") if with_foreach else ("train", "train-fused"):
                models = {k: m.to(DEVICE) for k, m in build(family).items()}
                x, y = torch.rand(batch, *in_shape, device=DEVICE), torch.randn(batch, n_out, device=DEVICE)
                fns = {k: _train_fn(m, x, y, task) for k, m in models.items()}
                cell = Cell(family, task, batch, measure(fns, repeats, block_s, max(3, warmup // 4)))
                cells.append(cell)
                _progress(cell)
    return cells


def _progress(cell: Cell) -> None:
    print(
        f"  {cell.family:9s} {cell.task:13s} batch {cell.batch:3d}: plain "
        f"{_fmt(cell.median('plain'))}, wnrl {_fmt(cell.median('wnrl'))} "
        f"({cell.ratio('wnrl'):.3f}x)",
        file=sys.stderr,
        flush=True,
    )


# --------------------------------------------------------------------------- report


def _fmt(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.1f} µs"
    return f"{t * 1e3:.2f} ms"


TASKS = {
    "forward": "forward (eval, no_grad)",
    "train": "train step, Adam default",
    "train-fused": "train step, Adam fused",
    "train-foreach": "train step, Adam foreach",
}


def table(cells: list[Cell]) -> str:
    lines = [
        f"torch {torch.__version__}, device {DEVICE}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} thread, Python {platform.python_version()}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end. Train step = "
        "zero_grad + forward + MSE + backward + Adam step ('Adam default': torch's per-parameter "
        "Python loop on CPU, as stock SB3; 'Adam fused': fused=True, wnrl's policies' default; "
        "every variant of a cell uses the same optimizer). Time per call (median over "
        "repeats), paired ratio to plain in the same cell.",
        "",
        "| network | measurement | batch | " + " | ".join(VARIANTS) + " |",
        "|---|---|---:|" + "---:|" * len(VARIANTS),
    ]
    for c in cells:
        row = []
        for v in VARIANTS:
            t = c.median(v)
            row.append("—" if t is None else f"{_fmt(t)} ({c.ratio(v):.2f}×)")
        lines.append(f"| {c.family} | {TASKS[c.task]} | {c.batch} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def targets(cells: list[Cell]) -> str:
    out = ["", "Targets for wnrl (ratio to plain; torch WN = parametrization, best of its rows):", ""]
    ok_all = True
    for task, target in (
        ("forward", TARGET_INFER),
        ("train", TARGET_TRAIN),
        ("train-fused", TARGET_TRAIN),
        ("train-foreach", TARGET_TRAIN),
    ):
        for c in (c for c in cells if c.task == task):
            r, head = c.ratio("wnrl"), c.ratio("wnrl, plain head")
            assert r is not None, "every cell times the wnrl row"
            rt = min(t for t in (c.ratio("torch WN"), c.ratio("torch WN cached()")) if t is not None)
            ok = r <= target and r < rt
            ok_all &= ok
            out.append(
                f"- {c.family} {TASKS[task]} batch {c.batch}: wnrl {r:.3f}× "
                f"(target ≤ {target}; with a plain head, as the policies build it: {head:.3f}×), "
                f"torch WN {rt:.3f}× → {'OK' if ok else 'MISSED'}"
            )
    out.append("")
    out.append("All targets met." if ok_all else "Some targets missed (see above).")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few repeats, short blocks (smoke run)")
    ap.add_argument("--out", help="also write the markdown table to this file")
    ap.add_argument("--foreach", action="store_true", help="also time the train step with Adam(foreach=True)")
    ap.add_argument("--device", default="cpu", help="torch device of the models and data (cpu, cuda)")
    args = ap.parse_args(argv)
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cells = run_all(args.quick, args.foreach)
    md = table(cells) + "\n" + targets(cells) + "\n"
    print(md)
    print(f"(measured in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What the default ``train.checkpoint_freq: auto`` (a checkpoint every 10% of the budget, only the
newest kept, removed at the end) costs: training wall time with ``auto`` against ``0`` (no
checkpoints), side by side in one process, interleaved, median over repeats; and the size of one
checkpoint (model + replay buffer for DQN).

    python benchmarks/checkpoint_cost.py [--steps 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from wnrl.config import load_config
from wnrl.train import train
from wnrl.train.callbacks import latest_checkpoint

CONFIGS = ("cartpole_ppo", "cartpole_dqn", "minatar_breakout_dqn")


def one_run(name: str, steps: int, freq: str, root: Path, keep: bool) -> tuple[float, int]:
    """Wall seconds of one training run and the bytes of its newest checkpoint (``keep``: an
    explicit frequency, so the checkpoint stays to be measured)."""
    every = "auto" if freq == "auto" else "0"
    if keep and freq == "auto":
        every = str(max(1, steps // 10))  # the same schedule as auto, kept for measuring
    overrides = [
        f"train.total_timesteps={steps}",
        f"train.checkpoint_freq={every}",
        "train.eval_freq=0",
        "train.eval_episodes=1",
        "train.progress_bar=false",
        "train.device=cpu",
    ]
    config = load_config(name, overrides)
    out = root / f"{name}-{freq}-{time.monotonic_ns()}"
    start = time.perf_counter()
    train(config, out=out, progress_bar=False)
    seconds = time.perf_counter() - start
    found = latest_checkpoint(out / "checkpoints")
    size = 0
    if found is not None:
        size = sum(p.stat().st_size for p in found[1].parent.glob(f"{found[1].stem}*"))
    return seconds, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| config | steps | no checkpoints (s) | auto (s) | ratio | one checkpoint (MB) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in args.configs:
            times: dict[str, list[float]] = {"0": [], "auto": []}
            for _ in range(args.repeats):
                for freq in ("0", "auto"):  # interleaved, so drift hits both alike
                    times[freq].append(one_run(name, args.steps, freq, root, keep=False)[0])
            _, size = one_run(name, args.steps, "auto", root, keep=True)
            base, auto = statistics.median(times["0"]), statistics.median(times["auto"])
            print(f"| {name} | {args.steps} | {base:.2f} | {auto:.2f} | {auto / base:.3f} | {size / 1e6:.1f} |")


if __name__ == "__main__":
    main()

"""Throughput of the local sweep backend: the same grid of tiny runs with 1, 2, ... workers.

    python benchmarks/harness_scaling.py                     # 16 runs, 1 and 2 workers (and more
                                                             # where the machine has the cores)
    python benchmarks/harness_scaling.py --workers 1,2,4 --runs 16 --steps 4096 --repeat 3 --out scaling.md

Each setting runs the whole grid (PPO on CartPole-v1, ``--steps`` environment steps per run, final
evaluation only) in a fresh sweep directory through :func:`wnrl.harness.execute.run_local`, pool
start-up included (the best of ``--repeat`` repetitions, for shared machines). Speedup = wall time
with 1 worker / wall time with N; the target is speedup ≥ 0.85 × N. Prints a markdown table (and
writes it to ``--out``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def _sweep(runs: int, steps: int) -> dict:
    seeds = max(1, runs // 2)
    return {
        "name": "scaling",
        "base": {
            "env": {"id": "CartPole-v1", "n_envs": 8},
            "agent": {
                "algo": "ppo",
                "net_arch": [64, 64],
                "hyperparams": {"n_steps": 32, "batch_size": 256, "n_epochs": 20, "learning_rate": "lin_0.001"},
            },
            "train": {
                "total_timesteps": steps,
                "eval_freq": 0,
                "eval_episodes": 2,
                "device": "cpu",
                "diagnostics_freq": 0,
            },
        },
        "grid": {"agent.norm": ["none", "weight"]},
        "seeds": seeds,
    }


def measure(workers: int, runs: int, steps: int) -> dict:
    """Run the grid with ``workers`` processes.

    :param workers: pool size
    :param runs: runs in the grid (rounded to an even number)
    :param steps: environment steps per run
    :returns: wall time, per-run training seconds, failures
    """
    from wnrl.harness.execute import make_task, run_local
    from wnrl.harness.sweep import expand_sweep
    from wnrl.train.record import RunRecord

    sweep = expand_sweep(_sweep(runs, steps), "<scaling>")
    results: list[RunRecord] = []
    ends: list[float] = []

    def on_done(result: RunRecord) -> None:
        results.append(result)
        ends.append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory(prefix="wnrl-scaling-") as tmp:
        tasks = [make_task(r, Path(tmp), "<scaling>") for r in sweep.runs]
        start = time.perf_counter()
        run_local(tasks, workers, on_done)
        wall = time.perf_counter() - start
    failed = [r for r in results if not r.finished]
    if failed:
        raise SystemExit(f"{len(failed)} runs failed, e.g. {failed[0].error}")
    return {
        "workers": workers,
        "runs": len(results),
        "wall": wall,
        "first": ends[0],
        "train": sum(r.seconds for r in results) / len(results),
        "run_wall": sum(r.wall_seconds or 0.0 for r in results) / len(results),
    }


def table(rows: list[dict], steps: int) -> str:
    """The markdown table of the measurements.

    :param rows: outputs of :func:`measure`
    :param steps: environment steps per run
    """
    base = next((r["wall"] for r in rows if r["workers"] == 1), None)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Sweep throughput: {rows[0]['runs']} PPO CartPole-v1 runs of {steps} steps, local backend "
        f"(spawn pool, 1 torch thread per run); {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"load average {load:.1f} after the runs. The first run of each worker includes its start-up "
        "(spawn, importing torch and SB3: a fixed cost that short runs do not amortise).",
        "",
        "| workers | wall (s) | first run done (s) | runs/min | mean run time (s): whole / learn | speedup | "
        "speedup / workers | target ≥ 0.85 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        speed = base / r["wall"] if base else float("nan")
        eff = speed / r["workers"]
        lines.append(
            f"| {r['workers']} | {r['wall']:.1f} | {r['first']:.1f} | {60 * r['runs'] / r['wall']:.1f} | "
            f"{r['run_wall']:.2f} / {r['train']:.2f} | "
            f"{speed:.2f}× | {eff:.2f} | {'yes' if eff >= 0.85 else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point.

    :param argv: command-line arguments
    """
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = ",".join(str(w) for w in (1, 2, 4, 8) if w == 1 or w <= (os.cpu_count() or 1))
    p.add_argument("--workers", default=default, help=f"comma-separated pool sizes (default {default})")
    p.add_argument("--runs", type=int, default=16, help="runs in the grid (default 16)")
    p.add_argument("--steps", type=int, default=4096, help="environment steps per run (default 4096)")
    p.add_argument("--repeat", type=int, default=1, help="repetitions per setting; the fastest counts")
    p.add_argument("--out", help="also write the markdown table to this file")
    args = p.parse_args(argv)
    rows = []
    for w in [int(x) for x in args.workers.split(",")]:
        tries = [measure(w, args.runs, args.steps) for _ in range(max(1, args.repeat))]
        rows.append(min(tries, key=lambda r: r["wall"]))
        walls = ", ".join(f"{t['wall']:.1f}" for t in tries)
        print(f"{w} workers: {walls} s", file=sys.stderr, flush=True)
    text = table(rows, args.steps)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput of the local sweep backend: the same grid of tiny runs with 1, 2, ... workers.

    python benchmarks/harness_scaling.py                     # 16 runs, 1 and 2 workers (and more
                                                             # where the machine has the cores)
    python benchmarks/harness_scaling.py --workers 1,2,4 --runs 16 --steps 4096 --repeat 3 --out scaling.md

Each setting runs the whole grid (PPO on CartPole-v1, ``--steps`` environment steps per run, final
evaluation only) in a fresh sweep directory through :func:`wnrl.harness.run.pool.run_all` on a
:class:`~wnrl.harness.run.pool.LocalPool`, pool start-up included. The settings are interleaved
within each of ``--repeat`` repetitions (default 3) and the median wall time counts (the speedup is
the median of the per-repetition ratios), so drifting load on a shared machine hits all settings
alike. Speedup = wall time with 1 worker / wall time with N; the target is speedup ≥ 0.9 × N.
Per-run overhead = a run's whole wall time in its worker (``wall_seconds``: config check, env and
model build, final evaluation, writing the record) minus its ``learn`` time (``seconds``); the
target is ≤ 0.5 s. The pool's worker processes are reused across runs (``ProcessPoolExecutor``
without ``max_tasks_per_child``) and forked from a fork server that imported torch, SB3 and wnrl
once (:func:`wnrl.harness.run.backends.worker_context`). That server starts once per sweep process,
whatever the number of workers: it is started (and timed, "fork server start-up") before the
measurements, as the first ``wnrl compare`` pool of a process starts it. Prints a markdown table
(and writes it to ``--out``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
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
    from wnrl.harness.run.options import ExecOptions
    from wnrl.harness.run.pool import LocalPool, run_all
    from wnrl.harness.run.task import make_task
    from wnrl.harness.sweeps.spec import expand_sweep
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
        run_all(LocalPool(ExecOptions(workers=min(workers, len(tasks)))), tasks, on_done)
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
        "overhead": statistics.median(r.overhead_seconds or 0.0 for r in results),
    }


def start_fork_server() -> float:
    """Start the workers' fork server (preloading torch, SB3 and wnrl) and return the seconds it
    took; 0 where the platform spawns its workers instead."""
    from wnrl.harness.run.backends import worker_context

    start = time.perf_counter()  # worker_context() starts the server
    ctx = worker_context()
    if ctx.get_start_method() != "forkserver":
        return 0.0
    proc = ctx.Process(target=os.getpid)  # the first fork waits until the server has imported all
    proc.start()
    proc.join()
    return time.perf_counter() - start


def table(rows: list[dict], steps: int, speedups: dict[int, float], loads: list[str], server: float) -> str:
    """The markdown table of the measurements.

    :param rows: the median measurement per worker count (outputs of :func:`measure`)
    :param steps: environment steps per run
    :param speedups: median over repetitions of (1-worker wall / N-worker wall) per worker count
    :param loads: load averages after each repetition
    :param server: seconds the fork server took to start (once, before the measurements)
    """
    lines = [
        f"Sweep throughput: {rows[0]['runs']} PPO CartPole-v1 runs of {steps} steps, local backend "
        f"(workers forked from a fork server, reused, 1 torch thread per run); {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}; medians over the repetitions; load average "
        f"(1 min) after each repetition: {', '.join(loads)}. Fork server start-up (once per sweep "
        f"process, importing torch, SB3 and wnrl; not in the walls): {server:.2f} s. The first run "
        "of each worker includes forking it.",
        "",
        "| workers | wall (s) | first run done (s) | runs/min | mean run time (s): whole / learn | "
        "per-run overhead (s) | speedup | speedup / workers | target ≥ 0.9 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        speed = speedups.get(r["workers"], float("nan"))
        eff = speed / r["workers"]
        lines.append(
            f"| {r['workers']} | {r['wall']:.1f} | {r['first']:.1f} | {60 * r['runs'] / r['wall']:.1f} | "
            f"{r['run_wall']:.2f} / {r['train']:.2f} | {r['overhead']:.2f} | "
            f"{speed:.2f}× | {eff:.2f} | {'yes' if eff >= 0.9 else 'no'} |"
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
    p.add_argument("--repeat", type=int, default=3, help="repetitions (interleaved); medians count")
    p.add_argument("--out", help="also write the markdown table to this file")
    args = p.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",")]
    tries: dict[int, list[dict]] = {w: [] for w in counts}
    loads = []
    server = start_fork_server()
    for rep in range(max(1, args.repeat)):
        for w in counts[rep % len(counts) :] + counts[: rep % len(counts)]:
            tries[w].append(measure(w, args.runs, args.steps))
            print(f"repeat {rep}, {w} workers: {tries[w][-1]['wall']:.1f} s", file=sys.stderr, flush=True)
        loads.append(f"{os.getloadavg()[0]:.2f}")
    rows = []
    for w in counts:
        walls = sorted(tries[w], key=lambda r: r["wall"])
        rows.append(walls[len(walls) // 2])
    speedups = {}
    if 1 in tries:
        speedups = {w: statistics.median(a["wall"] / b["wall"] for a, b in zip(tries[1], tries[w])) for w in counts}
    text = table(rows, args.steps, speedups, loads, server)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

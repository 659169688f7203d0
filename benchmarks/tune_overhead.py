"""The tuner's own overhead: wall time of a tuning study against the same runs launched as a plain
sweep (``wnrl compare``), same workers.

Both variants are tuned by a grid search over the same learning rates (budget = the grid), so the
study's runs are exactly the runs of the sweep ``agent.norm × learning_rate × seeds``: the same
configs, the same pool size. The difference is the tuner: Optuna ask/tell on SQLite, the budget
bookkeeping, the objective and its bootstrap interval per trial, intermediate values, progress.

    .venv/bin/python benchmarks/tune_overhead.py --workers 2 --trials 4 --seeds 3 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

BASE = {
    "env": {"id": "CartPole-v1", "n_envs": 4},
    "agent": {"algo": "ppo", "net_arch": [32, 32], "hyperparams": {"n_steps": 64, "batch_size": 128, "n_epochs": 4}},
    "train": {"total_timesteps": 4096, "eval_freq": 1024, "eval_episodes": 3, "device": "cpu", "diagnostics_freq": 0},
}
LR = "agent.hyperparams.learning_rate"


def main() -> None:
    """Time the study and the sweep and print the overhead."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--trials", type=int, default=4, help="trials per variant (= learning rates)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="timings of each, alternating")
    args = ap.parse_args()
    lrs = [float(f"{1e-4 * 3**i:.3g}") for i in range(args.trials)]
    norms = ["none", "weight"]
    ap_runs = len(norms) * args.trials * args.seeds
    times: dict[str, list[float]] = {"tune": [], "sweep": []}
    for rep in range(args.repeats):  # alternate the order: the machine's load drifts
        for kind in ("tune", "sweep") if rep % 2 == 0 else ("sweep", "tune"):
            times[kind].append(_once(kind, lrs, norms, args.seeds, args.trials, args.workers))
    t_tune, t_sweep = statistics.median(times["tune"]), statistics.median(times["sweep"])
    print(
        f"{ap_runs} runs on {args.workers} workers, median of {args.repeats}: tuning study {t_tune:.1f} s "
        f"{times['tune']}, plain sweep {t_sweep:.1f} s {times['sweep']}, "
        f"tuner overhead {100 * (t_tune - t_sweep) / t_sweep:+.1f}%"
    )


def _once(kind: str, lrs: list[float], norms: list[str], seeds: int, trials: int, workers: int) -> float:
    """Wall time of the study (``tune``) or of the plain sweep (``sweep``) in a fresh directory."""
    from wnrl.harness.api import compare
    from wnrl.harness.tune.session import tune

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        spec = {
            "name": "overhead",
            "base": BASE,
            "variants": {"agent.norm": norms},
            "space": {LR: {"type": "categorical", "choices": lrs}},
            "budget": trials,
            "seeds": seeds,
            "sampler": "grid",
        }
        (d / "tune.yaml").write_text(yaml.safe_dump(spec))
        sweep = {"name": "overhead", "base": BASE, "grid": {"agent.norm": norms, LR: lrs}, "seeds": seeds}
        (d / "sweep.yaml").write_text(yaml.safe_dump(sweep))
        t0 = time.perf_counter()
        if kind == "tune":
            outcome = tune(d / "tune.yaml", out=d / "tune", workers=workers, progress=False, write_report=False)
            assert len(outcome.trials) == len(norms) * trials
        else:
            plain = compare(d / "sweep.yaml", out=d / "sweep", workers=workers, write_report=False, progress=False)
            assert plain.total == len(norms) * trials * seeds and plain.ok
        return round(time.perf_counter() - t0, 1)


if __name__ == "__main__":
    main()

"""The report of a sweep directory, on synthetic results: files, figures and numbers that match
wnrl.harness.stats computed independently here."""

from __future__ import annotations

import csv
import json
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wnrl.cli import main
from wnrl.harness import stats
from wnrl.harness.execute import write_result
from wnrl.harness.report import build_report

REPS = 300
ENVS = {"CartPole-v1": (0.0, 500.0), "Acrobot-v1": (-500.0, -60.0)}
NORMS = ("none", "batch", "weight")


def _final(env: str, norm: str, noise: float, seed: int) -> float:
    rng = np.random.default_rng(zlib.crc32(f"{env}/{norm}/{noise}/{seed}".encode()))
    lo, hi = ENVS[env]
    skill = {"none": 0.5, "batch": 0.55, "weight": 0.7}[norm] - noise
    return float(np.clip(lo + (hi - lo) * (skill + 0.15 * rng.standard_normal()), lo, hi).round(1))


def make_sweep_dir(root: Path, lr: bool = False) -> tuple[Path, list[dict[str, Any]]]:
    """A sweep directory as `wnrl compare` writes it: env × noise (or lr) × norm × 4 seeds; one run
    failed, one never ran."""
    third = ("agent.hyperparams.learning_rate", [1e-4, 1e-3, "lin_0.01"]) if lr else ("env.noise.obs_std", [0.0, 0.2])
    keys = ["env.id", third[0], "agent.norm"]
    runs, rows = [], []
    for env in ENVS:
        for v in third[1]:
            for norm in NORMS:
                for seed in range(4):
                    grid = {"env.id": env, third[0]: v, "agent.norm": norm}
                    run_id = f"{env}-{v}-{norm}-s{seed}"
                    runs.append({"id": run_id, "grid": grid, "seed": seed})
                    noise = 0.1 * third[1].index(v)
                    rows.append({"id": run_id, "grid": grid, "seed": seed, "env": env,
                                 "final": _final(env, norm, noise, seed)})
    index = {"name": "synthetic", "source": "synthetic.yaml", "grid_keys": keys,
             "grid": {"env.id": list(ENVS), third[0]: third[1], "agent.norm": list(NORMS)},
             "seeds": [0, 1, 2, 3], "command": "wnrl compare synthetic.yaml --out X", "overrides": [],
             "runs": runs, "sessions": [{"wall_seconds": 60.0, "ran": len(runs), "backend": "local", "workers": 2}]}
    root.mkdir(parents=True)
    (root / "index.json").write_text(json.dumps(index))
    steps = [1000, 2000, 3000]
    for i, r in enumerate(rows):
        run_dir = root / "runs" / r["id"]
        if i == 5:
            r["status"] = "failed"
            write_result(run_dir, {"id": r["id"], "status": "failed", "grid": r["grid"], "seed": r["seed"],
                                   "env_id": r["env"], "error": "RuntimeError: boom | bad", "final": None})
            continue
        if i == 7:
            r["status"] = "missing"
            continue
        r["status"] = "finished"
        curve = [r["final"] * f for f in (0.3, 0.7, 1.0)]
        auc = float(stats.area_under_curve(steps, curve))
        r["auc"] = auc
        write_result(run_dir, {"id": r["id"], "status": "finished", "grid": r["grid"], "seed": r["seed"],
                               "env_id": r["env"], "final": {"mean": r["final"], "std": 1.0, "episodes": [r["final"]]},
                               "auc": auc, "curve": {"steps": steps, "mean": curve, "std": [0, 0, 0]},
                               "seconds": 2.5, "error": None})
        if i == 0:
            (run_dir / "system.json").write_text(json.dumps({"wnrl": "0.1.0", "torch": "9.9", "python": "3.x"}))
    return root, rows


def _fmt(v: tuple[float, float, float], d: int) -> str:
    return f"{v[0]:.{d}f} [{v[1]:.{d}f}, {v[2]:.{d}f}]"


def test_report_files_and_figures(tmp_path: Path) -> None:
    sweep_dir, rows = make_sweep_dir(tmp_path / "s")
    path = build_report(sweep_dir, reps=REPS)
    text = path.read_text()
    with open(sweep_dir / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    assert list(table[0]) == ["id", "env.id", "env.noise.obs_std", "agent.norm", "seed", "status",
                              "final_mean", "final_std", "auc", "seconds", "error"]
    assert [t["status"] for t in table].count("failed") == 1 and [t["status"] for t in table].count("missing") == 1
    figures = sorted(p.name for p in (sweep_dir / "figures").glob("*.png"))
    assert figures == sorted(["final_scores.png", "probability_of_improvement.png", "performance_profiles.png",
                              *(f"curves_env_{e}_obs_std_{n}.png" for e in ENVS for n in ("0.0", "0.2"))])
    for name in figures:
        assert (sweep_dir / "figures" / name).stat().st_size > 1000
        assert f"](figures/{name})" in text
    for needle in ("wnrl compare synthetic.yaml --out X", "seeds: 0, 1, 2, 3", "1 failed", "1 not run",
                   "RuntimeError: boom / bad", "torch 9.9", f"tensorboard --logdir {sweep_dir}",
                   "CartPole-v1: 0..500 (known return range)", "Acrobot-v1: -", "min/max final return"):
        assert needle in text, needle


def test_report_numbers_match_stats(tmp_path: Path) -> None:
    sweep_dir, rows = make_sweep_dir(tmp_path / "s")
    text = build_report(sweep_dir, reps=REPS).read_text()
    summary = json.loads((sweep_dir / "summary.json").read_text())
    done = [r for r in rows if r["status"] == "finished"]
    # per group: IQM with CI and AUC mean with CI
    for env in ENVS:
        for noise in (0.0, 0.2):
            for norm in NORMS:
                grp = [r for r in done if r["grid"] == {"env.id": env, "env.noise.obs_std": noise, "agent.norm": norm}]
                s = stats.summarize_runs([r["final"] for r in grp], reps=REPS, seed=0)
                auc = stats.stratified_bootstrap_ci(np.array([r["auc"] for r in grp]), stats.mean, REPS, seed=0)
                row = f"| {env} | {noise} | {norm} | {len(grp)}/4"
                line = next(ln for ln in text.splitlines() if ln.startswith(row))
                assert _fmt((s["iqm"], s["iqm_lo"], s["iqm_hi"]), 1) in line and _fmt(auc, 1) in line, line
                assert f"| {s['mean']:.1f} | {s['median']:.1f} |" in line
    # tasks = env × noise; a method uses the seeds finished in every task
    tasks = [(e, n) for e in ENVS for n in (0.0, 0.2)]
    lo = {"CartPole-v1": (0.0, 500.0)}
    acro = [r["final"] for r in done if r["env"] == "Acrobot-v1"]
    lo["Acrobot-v1"] = (min(acro), max(acro))

    def matrix(norm: str, normalise: bool) -> np.ndarray:
        cells = [{r["seed"]: r["final"] for r in done if r["grid"]["agent.norm"] == norm
                  and (r["env"], r["grid"]["env.noise.obs_std"]) == t} for t in tasks]
        seeds = sorted(set.intersection(*(set(c) for c in cells)))
        m = np.array([[c[s] for c in cells] for s in seeds])
        if normalise:
            low = np.array([lo[t[0]][0] for t in tasks])
            high = np.array([lo[t[0]][1] for t in tasks])
            m = stats.normalize_scores(m, low, high)
        return m

    for norm in ("batch", "weight"):
        poi = stats.probability_of_improvement_ci(matrix(norm, False), matrix("none", False), REPS, seed=0)
        assert f"| {norm} | {_fmt(poi, 3)} |" in text
        assert np.allclose(summary["poi"][f"{norm} vs none"], poi)
    agg = stats.aggregate_methods({n: matrix(n, True) for n in NORMS}, REPS, 0)
    for norm in NORMS:
        cells = " | ".join(_fmt(agg[k][norm], 3) for k in ("iqm", "median", "mean", "optimality_gap"))
        assert f"| {norm} | {cells} |" in text
    assert "| method | IQM [95% CI] | median [95% CI] | mean [95% CI] | optimality gap [95% CI] |" in text
    assert re.search(r"runs left out of the statistics over tasks", text)  # the failed seed


def test_learning_rate_sensitivity_figure_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep_dir, _ = make_sweep_dir(tmp_path / "lr", lr=True)
    assert main(["report", str(sweep_dir), "--reps", "100"]) == 0
    assert "report.md" in capsys.readouterr().out
    fig = sweep_dir / "figures" / "lr_sensitivity.png"
    assert fig.stat().st_size > 1000 and "figures/lr_sensitivity.png" in (sweep_dir / "report.md").read_text()
    sens = json.loads((sweep_dir / "summary.json").read_text())["lr_sensitivity"]
    assert set(sens) == {*NORMS, *(f"{n} (lin schedule)" for n in NORMS)}
    assert set(sens["none"]) == {"0.0001", "0.001"} and set(sens["none (lin schedule)"]) == {"0.01"}
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "not a sweep directory" in capsys.readouterr().err

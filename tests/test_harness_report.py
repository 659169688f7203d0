"""The report of a sweep directory, on synthetic results: files, figures and numbers that match
wnrl.harness.stats.aggregate computed independently here."""

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
from wnrl.harness.reports.build import build_report
from wnrl.harness.reports.diagnostics import reduce_diagnostics
from wnrl.harness.reports.rows import load_rows
from wnrl.harness.stats import aggregate as stats
from wnrl.harness.stats.lr_range import lr_range
from wnrl.train.record import (
    RESULT_FILE,
    Curve,
    Evaluation,
    RecordError,
    RunRecord,
    area_under_curve,
    read_record,
    write_record,
)

REPS = 300
LR = "agent.hyperparams.learning_rate"
ENVS = {"CartPole-v1": (0.0, 500.0), "MountainCarContinuous-v0": (-500.0, -60.0)}
NORMS = ("none", "batch", "weight")


def _final(env: str, norm: str, noise: float, seed: int) -> float:
    rng = np.random.default_rng(zlib.crc32(f"{env}/{norm}/{noise}/{seed}".encode()))
    lo, hi = ENVS[env]
    skill = {"none": 0.5, "batch": 0.55, "weight": 0.7}[norm] - noise
    return float(np.clip(lo + (hi - lo) * (skill + 0.15 * rng.standard_normal()), lo, hi).round(1))


CORRUPT_TEXT = '{"status": "finished", "env_id": "CartPole-v1", "final": {"mea'  # killed mid-write
STEPS = [1000, 2000, 3000]
FAILED, MISSING, CORRUPT = 5, 7, 9  # the rows that did not finish


def _plan(lr: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The index (env × noise or lr × norm × 4 seeds) and the expected row of each run."""
    third: tuple[str, list[Any]] = (
        ("agent.hyperparams.learning_rate", [1e-4, 1e-3, "lin_0.01"]) if lr else ("env.noise.obs_std", [0.0, 0.2])
    )
    runs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for env in ENVS:
        for j, v in enumerate(third[1]):
            for norm in NORMS:
                for seed in range(4):
                    grid = {"env.id": env, third[0]: v, "agent.norm": norm}
                    run_id = f"{env}-{v}-{norm}-s{seed}"
                    runs.append({"id": run_id, "grid": grid, "seed": seed})
                    rows.append(
                        {
                            "id": run_id,
                            "grid": grid,
                            "seed": seed,
                            "env": env,
                            "final": _final(env, norm, 0.1 * j, seed),
                        }
                    )
    session = {"wall_seconds": 60.0, "ran": len(runs), "backend": "local", "workers": 2}
    index = {
        "name": "synthetic",
        "source": "synthetic.yaml",
        "grid_keys": ["env.id", third[0], "agent.norm"],
        "grid": {"env.id": list(ENVS), third[0]: third[1], "agent.norm": list(NORMS)},
        "seeds": [0, 1, 2, 3],
        "command": "wnrl compare synthetic.yaml --out X",
        "overrides": [],
        "runs": runs,
        "sessions": [session],
    }
    return index, rows


def _write_run(run_dir: Path, i: int, r: dict[str, Any]) -> None:
    """Write row ``i``'s result.json (none for MISSING, truncated for CORRUPT); sets its status."""
    base: dict[str, Any] = {
        "id": r["id"],
        "grid": r["grid"],
        "seed": r["seed"],
        "env_id": r["env"],
        "norm": r["grid"]["agent.norm"],
        "algo": "ppo",
    }
    r["status"] = {FAILED: "failed", MISSING: "missing", CORRUPT: "corrupt"}.get(i, "finished")
    if i == FAILED:
        write_record(run_dir, RunRecord(status="failed", error="RuntimeError: boom | bad", **base))
    elif i == CORRUPT:
        run_dir.mkdir(parents=True)
        (run_dir / RESULT_FILE).write_text(CORRUPT_TEXT)
    elif i != MISSING:
        final = float(r["final"])
        curve = [final * f for f in (0.3, 0.7, 1.0)]
        r["auc"] = float(area_under_curve(STEPS, curve))
        write_record(
            run_dir,
            RunRecord(
                status="finished",
                **base,
                auc=r["auc"],
                seconds=2.5,
                wall_seconds=2.5 + 0.1 * (i % 5),  # overheads 0.0 .. 0.4 s
                steps=3000,
                final=Evaluation(mean=final, std=1.0, episodes=[final]),
                curve=Curve(steps=STEPS, mean=curve, std=[0.0, 0.0, 0.0]),
                diagnostics=_diagnostics(r),
            ),
        )


def _diagnostics(r: dict[str, Any]) -> dict[str, float]:
    """Per-layer diagnostics as a run records them (layer names differ by norm); ``r["eff_lr"]``
    and ``r["srank"]`` get the values the report should reduce them to."""
    lr = r["grid"].get(LR, 1e-3)
    scale = 1.0 if r["env"] == "CartPole-v1" else 7.0  # an env mixed into another would show
    base = (float(lr[4:]) if isinstance(lr, str) else lr) * (1 + 0.1 * r["seed"]) * scale
    layers = [base, 3 * base, 10 * base] if r["grid"]["agent.norm"] != "weight" else [base, 2 * base, 100 * base]
    prefix = "net_0_" if r["grid"]["agent.norm"] == "batch" else "net_"
    r["eff_lr"], r["srank"] = float(np.median(layers)), (20.0 + r["seed"] + 30.0) / 2
    return {
        **{f"{prefix}{i}/eff_lr:mean": v for i, v in enumerate(layers)},
        f"{prefix}0/eff_lr": 1e6,  # the last value, not the run's mean: not used
        "pi/srank:mean": 20.0 + r["seed"],
        "vf/srank:mean": 30.0,
        "q_bias_rel:mean": float("nan"),  # not finite: left out
    }


def make_sweep_dir(root: Path, lr: bool = False) -> tuple[Path, list[dict[str, Any]]]:
    """A sweep directory as `wnrl compare` writes it: env × noise (or lr) × norm × 4 seeds; one run
    failed, one never ran, one has a corrupt (truncated) result.json."""
    index, rows = _plan(lr)
    root.mkdir(parents=True)
    (root / "index.json").write_text(json.dumps(index))
    for i, r in enumerate(rows):
        _write_run(root / "runs" / r["id"], i, r)
    system = {"wnrl": "0.1.0", "torch": "9.9", "python": "3.x"}
    (root / "runs" / rows[0]["id"] / "system.json").write_text(json.dumps(system))
    return root, rows


def _env_range(done: list[dict[str, Any]], env: str) -> tuple[float, float]:
    """The report's normalisation range of ``env``: CartPole's known one, else its runs' min/max.

    :param done: the finished runs
    :param env: the environment
    """
    finals = [r["final"] for r in done if r["env"] == env]
    return (0.0, 500.0) if env == "CartPole-v1" else (min(finals), max(finals))


def _fmt(v: tuple[float, float, float], d: int) -> str:
    return f"{v[0]:.{d}f} [{v[1]:.{d}f}, {v[2]:.{d}f}]"


def test_report_files_and_figures(tmp_path: Path) -> None:
    sweep_dir, rows = make_sweep_dir(tmp_path / "s")
    path = build_report(sweep_dir, reps=REPS)
    text = path.read_text()
    with open(sweep_dir / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    assert list(table[0]) == [
        "id",
        "env.id",
        "env.noise.obs_std",
        "agent.norm",
        "seed",
        "status",
        "final_mean",
        "final_std",
        "auc",
        "seconds",
        "error",
    ]
    statuses = [t["status"] for t in table]
    assert statuses.count("failed") == statuses.count("missing") == statuses.count("corrupt") == 1
    figures = sorted(p.name for p in (sweep_dir / "figures").glob("*.png"))
    assert figures == sorted(
        [
            "final_scores.png",
            "probability_of_improvement.png",
            "performance_profiles.png",
            *(f"curves_env_{e}_obs_std_{n}.png" for e in ENVS for n in ("0.0", "0.2")),
        ]
    )
    for name in figures:
        assert (sweep_dir / "figures" / name).stat().st_size > 1000
        assert f"](figures/{name})" in text
    assert not [p.name for p in sweep_dir.rglob(".*tmp*")]  # atomic writes leave no temp file
    for needle in (
        "wnrl compare synthetic.yaml --out X",
        "seeds: 0, 1, 2, 3",
        "1 failed",
        "1 not run",
        "RuntimeError: boom / bad",
        "torch 9.9",
        f"tensorboard --logdir {sweep_dir}",
        "CartPole-v1: 0..500 (known return range)",
        "MountainCarContinuous-v0: -",
        "min/max final return",
    ):
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
                grid = {"env.id": env, "env.noise.obs_std": noise, "agent.norm": norm}
                grp = [r for r in done if r["grid"] == grid]
                s = stats.summarize_runs([r["final"] for r in grp], reps=REPS, seed=0)
                aucs = np.array([r["auc"] for r in grp])
                auc = stats.stratified_bootstrap_ci(aucs, stats.mean, REPS, seed=0)
                row = f"| {env} | {noise} | {norm} | {len(grp)}/4"
                line = next(ln for ln in text.splitlines() if ln.startswith(row))
                assert _fmt((s["iqm"], s["iqm_lo"], s["iqm_hi"]), 1) in line and _fmt(auc, 1) in line, line
                assert f"| {s['mean']:.1f} | {s['median']:.1f} |" in line
                # P(norm > none) within the setting, over every finished seed of both (unpaired)
                base = [[r["final"]] for r in done if r["grid"] == {**grid, "agent.norm": "none"}]
                poi = stats.probability_of_improvement_ci([[r["final"]] for r in grp], base, REPS, seed=0)
                assert line.endswith("| — |" if norm == "none" else f"| {_fmt(poi, 3)} |"), line
    # tasks = env × noise; a method uses the seeds finished in every task
    tasks = [(e, n) for e in ENVS for n in (0.0, 0.2)]
    lo = {"CartPole-v1": (0.0, 500.0)}
    mcc = [r["final"] for r in done if r["env"] == "MountainCarContinuous-v0"]
    lo["MountainCarContinuous-v0"] = (min(mcc), max(mcc))

    def matrix(norm: str, normalise: bool) -> np.ndarray:
        cells = [
            {
                r["seed"]: r["final"]
                for r in done
                if r["grid"]["agent.norm"] == norm and (r["env"], r["grid"]["env.noise.obs_std"]) == t
            }
            for t in tasks
        ]
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
        # rliable's median: the median over tasks of the per-task mean scores (not of all runs pooled)
        m = matrix(norm, True)
        assert summary["aggregate"]["median"][norm][0] == pytest.approx(float(np.median(m.mean(axis=0))))
    assert "| method | IQM [95% CI] | median [95% CI] | mean [95% CI] | optimality gap [95% CI] |" in text
    assert re.search(r"runs left out of the statistics over tasks", text)  # the failed seed


def test_learning_rate_sensitivity_figure_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep_dir, rows = make_sweep_dir(tmp_path / "lr", lr=True)
    assert main(["report", str(sweep_dir), "--reps", "100"]) == 0
    assert "report.md" in capsys.readouterr().out
    fig = sweep_dir / "figures" / "lr_sensitivity.png"
    assert fig.stat().st_size > 1000 and "figures/lr_sensitivity.png" in (sweep_dir / "report.md").read_text()
    sens = json.loads((sweep_dir / "summary.json").read_text())["lr_sensitivity"]
    assert set(sens) == {*NORMS, *(f"{n} (lin schedule)" for n in NORMS)}
    assert set(sens["none"]) == {"0.0001", "0.001"} and set(sens["none (lin schedule)"]) == {"0.01"}
    # the learning-rate ranges: lines with two or more learning rates, recomputed from the scores
    ranges = json.loads((sweep_dir / "summary.json").read_text())["lr_ranges"]
    assert set(ranges) == set(NORMS)  # the lin-schedule lines have one learning rate each
    again = lr_range({float(x): v for x, v in sens["weight"].items()}, reps=100, seed=0)
    assert ranges["weight"]["decades"] == pytest.approx(list(again.decades))
    text = (sweep_dir / "report.md").read_text()
    point, lo, hi = ranges["weight"]["decades"]
    assert f"| {point:.2f} [{lo:.2f}, {hi:.2f}] |" in text and "### Learning-rate robustness" in text
    # per environment (there are two): all its finished runs (the pooled matrices keep only the
    # seeds finished in both), normalised as in the pooled ones; its own ranges and figure
    by_env = json.loads((sweep_dir / "summary.json").read_text())["lr_by_env"]
    assert list(by_env) == list(ENVS)
    done = [r for r in rows if r["status"] == "finished"]
    for env in ENVS:
        low, high = _env_range(done, env)
        own = by_env[env]["sensitivity"]["weight"]
        for x in (1e-4, 1e-3):
            sub = [r for r in done if r["env"] == env and r["grid"]["agent.norm"] == "weight"]
            want = sorted((r["final"] - low) / (high - low) for r in sub if r["grid"][LR] == x)
            assert sorted(v[0] for v in own[repr(x)]) == pytest.approx(want)
        again = lr_range({float(x): v for x, v in own.items()}, reps=100, seed=0)
        assert by_env[env]["ranges"]["weight"]["decades"] == pytest.approx(list(again.decades))
        assert f"**{env} alone:**" in text
        assert (sweep_dir / "figures" / f"lr_sensitivity_{env}.png").stat().st_size > 1000, env
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "not a sweep directory" in capsys.readouterr().err


def _numbers(x: Any) -> set[str]:
    """Every number of a JSON value as the report may print it (1 or 3 decimals, 3 significant
    digits), and its strings."""
    if isinstance(x, dict):
        return set().union(*(_numbers(v) for v in x.values())) if x else set()
    if isinstance(x, list):
        return set().union(*(_numbers(v) for v in x)) if x else set()
    if isinstance(x, bool) or x is None:
        return set()
    if isinstance(x, (int, float)):
        return {f"{x:.1f}", f"{x:.3f}", f"{x:g}", f"{x:.3g}"}
    return {str(x)}


def _try_read(run_dir: Path) -> RunRecord | None:
    try:
        return read_record(run_dir)
    except RecordError:  # the fixture's corrupt run
        return None


def test_every_number_of_the_report_is_in_summary_json(tmp_path: Path) -> None:
    sweep_dir, rows = make_sweep_dir(tmp_path / "s")
    text = build_report(sweep_dir, reps=REPS).read_text()
    known = _numbers(json.loads((sweep_dir / "summary.json").read_text()))
    tables = [ln for ln in text.splitlines() if ln.startswith("| ")]
    for r in rows:  # run ids (in the tables of failed and corrupt runs) hold grid values, not results
        tables = [ln.replace(r["id"], "") for ln in tables]
    numbers = [n for ln in tables for n in re.findall(r"-?\d+\.\d+", ln)]
    assert len(numbers) > 100
    assert not [n for n in numbers if n not in known]
    # the normalisation ranges and the time line are in it too
    norm = json.loads((sweep_dir / "summary.json").read_text())["normalisation"]
    mcc = norm["MountainCarContinuous-v0"]
    assert f"MountainCarContinuous-v0: {mcc['low']:g}..{mcc['high']:g} ({mcc['how']})" in text
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert f"training time summed over runs: {summary['train_seconds'] / 60:.1f} min" in text
    assert summary["session"]["workers"] == 2 and "2 workers" in text
    # the median per-run overhead (wall time outside learn()) is recorded per run and reported
    overheads = sorted(
        rec.overhead_seconds
        for rec in (_try_read(p) for p in sweep_dir.glob("runs/*"))
        if rec is not None and rec.finished and rec.overhead_seconds is not None
    )
    assert overheads[0] == 0.0 and overheads[-1] == 0.4
    assert summary["overhead_seconds"] == pytest.approx(float(np.median(overheads)))
    assert f"outside `learn()` (start-up, final evaluation, saving): median {summary['overhead_seconds']:.2f} s" in text


def test_corrupt_and_invalid_results_are_reported_not_counted(tmp_path: Path) -> None:
    sweep_dir, rows = make_sweep_dir(tmp_path / "s")
    # a record of the wrong shape (valid JSON) is corrupt too; a NaN final score is invalid
    wrong, nan, corrupt = rows[10], rows[11], rows[CORRUPT]
    runs = sweep_dir / "runs"
    (runs / wrong["id"] / RESULT_FILE).write_text(json.dumps({"status": "finished", "final": "x"}))
    nan_final = Evaluation(mean=float("nan"), std=0.0)
    write_record(runs / nan["id"], RunRecord(status="finished", env_id=nan["env"], final=nan_final))
    _, loaded = load_rows(sweep_dir)
    by_id = {r.id: r for r in loaded}
    assert by_id[corrupt["id"]].status == "corrupt" and "not valid JSON" in str(by_id[corrupt["id"]].error)
    assert by_id[wrong["id"]].status == "corrupt" and "not a run record" in str(by_id[wrong["id"]].error)
    assert by_id[nan["id"]].status == "invalid" and by_id[nan["id"]].record is not None
    missing = by_id[rows[MISSING]["id"]]
    assert missing.status == "missing" and missing.record is None
    failed = by_id[rows[FAILED]["id"]]
    assert failed.status == "failed" and failed.error == "RuntimeError: boom | bad"
    text = build_report(sweep_dir, reps=50).read_text()
    assert (
        "- runs: 48: 43 finished, 1 failed, 1 not run (yet), 2 corrupt (will be rerun), "
        "1 finished without a usable score or curve (left out)"
    ) in text
    section = text.split("## Corrupt results (2)")[1].split("## ")[0]
    assert wrong["id"] in section and corrupt["id"] in section and "not valid JSON (truncated?)" in section
    assert nan["id"] in text.split("## Finished runs left out (1)")[1].split("## ")[0]
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert summary["counts"] == {"finished": 43, "failed": 1, "missing": 1, "corrupt": 2, "invalid": 1}
    with open(sweep_dir / "results.csv") as f:
        status = {t["id"]: t["status"] for t in csv.DictReader(f)}
    assert status[wrong["id"]] == status[corrupt["id"]] == "corrupt" and status[nan["id"]] == "invalid"
    # rows 9 (CORRUPT), 10, 11 are seeds 1, 2, 3 of one group: 1 of its 4 seeds finished
    grid = {k: str(v) for k, v in corrupt["grid"].items()}
    grp = next(g for g in summary["groups"] if g["grid"] == grid)
    assert (grp["n"], grp["runs"], grp["counts"]["corrupt"], grp["counts"]["invalid"]) == (1, 4, 2, 1)
    assert "| CartPole-v1 | 0.0 | weight | 1/4 (2 corrupt, 1 invalid) |" in text


def test_a_sweep_that_has_not_run_yet_gets_a_report(tmp_path: Path) -> None:
    index, rows = _plan(lr=False)
    sweep_dir = tmp_path / "s"
    sweep_dir.mkdir()
    (sweep_dir / "index.json").write_text(json.dumps(index))
    text = build_report(sweep_dir, reps=20).read_text()
    assert f"- runs: {len(rows)}: 0 finished, 0 failed, {len(rows)} not run (yet)" in text
    assert "compared over all tasks" not in text and not list((sweep_dir / "figures").glob("*.png"))
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert summary["aggregate"] == {} and summary["poi"] == {} and summary["profiles"] is None
    assert all(g["n"] == 0 and g["iqm"] is None for g in summary["groups"])


def test_results_of_the_wrong_shape_never_break_the_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep_dir, rows = make_sweep_dir(tmp_path / "s")
    good = {"status": "finished", "env_id": "CartPole-v1", "final": {"mean": 100.0, "std": 0.0}, "auc": 50.0}
    bad: dict[int, tuple[Any, str, str]] = {  # row -> (result.json, status, problem)
        0: ({"status": "finished", "final": "abc"}, "corrupt", "not a run record (final:"),
        1: ([1, 2], "corrupt", "not a run record"),
        2: ("finished", "corrupt", "not a run record"),
        3: ({**good, "curve": {"steps": [1, 2, 3], "mean": [1.0]}}, "invalid", "3 steps but 1 means"),
        4: ({**good, "curve": {"steps": [3, 2, 1], "mean": [1.0, 2.0, 3.0]}}, "invalid", "steps are not increasing"),
        6: ({**good, "curve": {"steps": [1, 2], "mean": [float("nan"), 1.0]}}, "invalid", "not finite"),
    }
    for i, (data, _, _) in bad.items():
        (sweep_dir / "runs" / rows[i]["id"] / RESULT_FILE).write_text(json.dumps(data))
    assert main(["report", str(sweep_dir), "--reps", "30"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    _, loaded = load_rows(sweep_dir)
    for i, (_, status, problem) in bad.items():
        row = loaded[i]
        assert row.status == status and problem in str(row.error), (i, row)
    text = (sweep_dir / "report.md").read_text()
    assert "## Corrupt results (4)" in text and "## Finished runs left out (3)" in text


def test_a_report_of_something_else_than_a_sweep_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    run_dir = tmp_path / "run"  # what `wnrl train` writes
    run_dir.mkdir()
    for name in ("config.yaml", "system.json", RESULT_FILE):
        (run_dir / name).write_text("{}")
    index, _ = _plan(lr=False)
    damaged = {
        "list": [],
        "no_runs": {k: v for k, v in index.items() if k != "runs"},
        "bad_id": {**index, "runs": [{**index["runs"][0], "id": "../../etc"}]},
        "no_grid_value": {**index, "runs": [{**index["runs"][0], "grid": {}}]},
        "seed_str": {**index, "runs": [{**index["runs"][0], "seed": "0"}]},
        "sessions": {**index, "sessions": ["x"]},
    }
    cases: list[tuple[Path, str]] = []
    for name, data in damaged.items():
        d = tmp_path / name
        d.mkdir()
        (d / "index.json").write_text(json.dumps(data))
        cases.append((d, f"{d / 'index.json'}: "))
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "index.json").write_text(json.dumps(index)[:50])
    cases.append((truncated, "index.json: not valid JSON (truncated?)"))
    cases += [(a_file, "is a file, not a sweep directory"), (run_dir, "not a sweep directory (a `wnrl train` run")]
    for path, expected in cases:
        assert main(["report", str(path)]) == 2, path
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"wnrl: error: {path}") and expected in err, err
        assert not (path / "report.md").exists() if path.is_dir() else True


def _one_group_dir(root: Path, seeds: int) -> Path:
    """A sweep directory of one setting (agent.norm=none) with ``seeds`` finished seeds."""
    runs = [{"id": f"none-s{s}", "grid": {"agent.norm": "none"}, "seed": s} for s in range(seeds)]
    index = {"name": "one", "grid_keys": ["agent.norm"], "grid": {"agent.norm": ["none"]}, "seeds": list(range(seeds))}
    root.mkdir()
    (root / "index.json").write_text(json.dumps({**index, "runs": runs}))
    for r in runs:
        final = Evaluation(mean=100.0 + r["seed"], std=1.0)
        write_record(root / "runs" / r["id"], RunRecord(status="finished", env_id="CartPole-v1", final=final))
    return root


def test_fewer_than_5_seeds_per_setting_are_called_unreliable(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from wnrl.harness.reports.build import MIN_SEEDS

    assert MIN_SEEDS == 5
    sweep_dir, _ = make_sweep_dir(tmp_path / "s")  # 4 seeds; rows 5 (failed) and 7 (missing) are of one group
    build_report(sweep_dir, reps=20)
    err = capsys.readouterr().err
    warning = (
        "Only 2 to 4 finished seeds per setting: bootstrap intervals with fewer than 5 seeds are unreliable; "
        "rerun with more seeds (seeds: 10"
    )
    assert err.count(warning) == 1 and err.startswith("wnrl: warning: ")
    head = (sweep_dir / "report.md").read_text().split("## ")[0]  # before the first table
    assert f"> **Warning:** {warning}" in head
    three = _one_group_dir(tmp_path / "three", 3)
    build_report(three, reps=20)
    assert "Only 3 seeds per setting: bootstrap intervals" in (three / "report.md").read_text()
    assert capsys.readouterr().err.count("Only 3 seeds per setting") == 1
    five = _one_group_dir(tmp_path / "five", 5)
    build_report(five, reps=20)
    assert "unreliable" not in (five / "report.md").read_text() and not capsys.readouterr().err


def test_known_return_ranges_normalise_and_others_use_the_sweeps_own_range() -> None:
    """One table of return ranges serves the report and the tuner; an env outside it is scaled
    by the min/max final return of its runs."""
    from types import SimpleNamespace

    from wnrl.harness.reports.scores import KNOWN_RANGES, normalisations
    from wnrl.harness.tune.objective import Scorer

    scores = [("Acrobot-v1", -80.0), ("Acrobot-v1", -300.0), ("MountainCarContinuous-v0", -20.0)]
    scores.append(("MountainCarContinuous-v0", 90.0))
    norm = normalisations([SimpleNamespace(env_id=e, score=x) for e, x in scores])  # type: ignore[misc]
    assert (norm["Acrobot-v1"].low, norm["Acrobot-v1"].high) == KNOWN_RANGES["Acrobot-v1"] == (-500.0, 0.0)
    assert norm["Acrobot-v1"](-100.0) == pytest.approx(0.8)
    assert (norm["MountainCarContinuous-v0"].low, norm["MountainCarContinuous-v0"].high) == (-20.0, 90.0)
    assert Scorer("final", "iqm", ["env.id"], {}).normalise("Acrobot-v1", -100.0, 2) == pytest.approx(0.8)


def _matrix(done: list[dict[str, Any]], norm: str, key: str, tasks: list[tuple[Any, ...]], of: Any) -> np.ndarray:
    """The (seeds × tasks) matrix of ``key`` for one norm: the seeds present in every task."""
    cells = [{r["seed"]: r[key] for r in done if r["grid"]["agent.norm"] == norm and of(r) == t} for t in tasks]
    seeds = sorted(set.intersection(*(set(c) for c in cells)))
    return np.array([[c[s] for c in cells] for s in seeds])


def test_mechanism_diagnostics_per_method_and_learning_rate(tmp_path: Path) -> None:
    """Layer diagnostics are reduced per run (median over layers of eff_lr, mean over networks of
    srank; non-finite values left out) and compared per method with a stratified interval, over
    the same tasks for every method: a task where one method has no diagnostics is left out for all."""
    sweep_dir, rows = make_sweep_dir(tmp_path / "lr", lr=True)
    for r in rows:  # weight on MountainCarContinuous at 1e-3: runs without diagnostics (an old record, say)
        if (
            r["status"] == "finished"
            and r["grid"]["agent.norm"] == "weight"
            and r["env"] != "CartPole-v1"
            and r["grid"][LR] == 1e-3
        ):
            rec = read_record(sweep_dir / "runs" / r["id"])
            write_record(sweep_dir / "runs" / r["id"], rec.model_copy(update={"diagnostics": {}}))
            r["no_diagnostics"] = True
    build_report(sweep_dir, reps=REPS)
    summary = json.loads((sweep_dir / "summary.json").read_text())
    diag = summary["diagnostics"]
    assert set(diag) == {"eff_lr", "srank"}  # q_bias_rel is NaN in every run
    done = [r for r in rows if r["status"] == "finished" and not r.get("no_diagnostics")]
    tasks = [t for t in dict.fromkeys((r["env"], r["grid"][LR]) for r in done) if t[1] != 1e-3 or t[0] == "CartPole-v1"]
    assert len(tasks) == 5
    for norm in NORMS:
        for name in ("eff_lr", "srank"):
            m = _matrix(done, norm, name, tasks, lambda r: (r["env"], r["grid"][LR]))
            assert diag[name][norm] == pytest.approx(list(stats.stratified_bootstrap_ci(m, stats.iqm, REPS, seed=0)))
    text = (sweep_dir / "report.md").read_text()
    point, lo, hi = diag["eff_lr"]["weight"]
    assert f"| weight | {point:.3g} [{lo:.3g}, {hi:.3g}] |" in text and "### Mechanism diagnostics" in text
    assert "these pool all its values" in text  # the learning rate is a task here
    # eff_lr against the constant learning rates (not the lin schedule): per lr, the envs where
    # every method has it; and its figure
    by_lr = summary["eff_lr_by_lr"]
    assert set(by_lr["none"]) == {"0.0001", "0.001"}
    for norm in NORMS:
        for lr, envs in ((1e-4, list(ENVS)), (1e-3, ["CartPole-v1"])):
            sub = [r for r in done if r["grid"][LR] == lr]
            want = _matrix(sub, norm, "eff_lr", [(e,) for e in envs], lambda r: (r["env"],))
            assert np.array(by_lr[norm][repr(lr)]) == pytest.approx(want)
    assert (sweep_dir / "figures" / "eff_lr.png").stat().st_size > 1000


def test_relative_q_bias_is_the_ratio_of_the_runs_means() -> None:
    """A run whose first snapshots came before the agent scored (G_0 = 0) has an unbounded mean of
    per-snapshot ratios (MinAtar Seaquest's runs recorded 1e8): the report takes the run's mean
    bias over its mean return instead, leaves the run out when that return is 0, and falls back
    to the recorded mean ratio only for records without the two means."""
    d = {"q_bias:mean": 2.0, "return_start:mean": -4.0, "q_bias_rel:mean": 7.3e8}
    assert reduce_diagnostics(d)["q_bias_rel"] == pytest.approx(0.5)
    assert "q_bias_rel" not in reduce_diagnostics({**d, "return_start:mean": 0.0})
    assert reduce_diagnostics({"q_bias_rel:mean": 0.25})["q_bias_rel"] == pytest.approx(0.25)


def test_a_sweep_with_one_environment_left_has_no_per_environment_section(tmp_path: Path) -> None:
    """Per-environment learning-rate lines need two environments with finished runs: runs not
    run yet (no record, so no environment of their own) must not make a second one."""
    sweep_dir, rows = make_sweep_dir(tmp_path / "lr", lr=True)
    for r in rows:
        if r["env"] != "CartPole-v1" and r["status"] == "finished":
            (sweep_dir / "runs" / r["id"] / RESULT_FILE).unlink()  # not run yet
    build_report(sweep_dir, reps=REPS)
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert "lr_by_env" not in summary and summary["lr_ranges"]
    assert "alone:**" not in (sweep_dir / "report.md").read_text()
    assert sorted(p.name for p in (sweep_dir / "figures").glob("lr_sensitivity*.png")) == ["lr_sensitivity.png"]


def test_per_environment_iqm_and_probability_of_improvement(tmp_path: Path) -> None:
    """With two environments the report also compares the norms on each one alone: its tasks
    (noise levels here), its seeds finished in all of them, its normalisation."""
    sweep_dir, rows = make_sweep_dir(tmp_path / "s")
    text = build_report(sweep_dir, reps=REPS).read_text()
    by_env = json.loads((sweep_dir / "summary.json").read_text())["by_env"]
    assert list(by_env) == list(ENVS)
    done = [r for r in rows if r["status"] == "finished"]
    for env in ENVS:
        low, high = _env_range(done, env)
        sub = [r for r in done if r["env"] == env]
        tasks = [(n,) for n in (0.0, 0.2)]
        of = lambda r: (r["grid"]["env.noise.obs_std"],)  # noqa: E731
        none = _matrix(sub, "none", "final", tasks, of)
        for norm in NORMS:
            x = _matrix(sub, norm, "final", tasks, of)
            iqm = stats.stratified_bootstrap_ci((x - low) / (high - low), stats.iqm, REPS, seed=0)
            assert by_env[env]["iqm"][norm] == pytest.approx(list(iqm))
            if norm != "none":
                poi = stats.probability_of_improvement_ci(x, none, REPS, seed=0)
                assert by_env[env]["poi"][f"{norm} vs none"] == pytest.approx(list(poi))
    assert "### Per environment" in text
    assert "| method | CartPole-v1: IQM | CartPole-v1: P(X > none) | MountainCarContinuous-v0: IQM |" in text


def test_wnrl_report_reads_each_run_record_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """``wnrl report`` reads every run's result.json once (rows, summary, diagnostics, figures and
    tables all use the one :class:`~wnrl.harness.reports.rows.Row` read), and curve.json at most once."""
    sweep_dir, rows = make_sweep_dir(tmp_path / "sweep")
    reads: dict[tuple[str, Path], int] = {}
    read_text, read_bytes = Path.read_text, Path.read_bytes

    def counted(real: Any) -> Any:
        def read(self: Path, *args: Any, **kwargs: Any) -> Any:
            if self.name in ("result.json", "curve.json"):
                key = (self.name, self.parent.resolve())
                reads[key] = reads.get(key, 0) + 1
            return real(self, *args, **kwargs)

        return read

    monkeypatch.setattr(Path, "read_text", counted(read_text))
    monkeypatch.setattr(Path, "read_bytes", counted(read_bytes))
    assert main(["report", str(sweep_dir), "--reps", "50"]) == 0
    capsys.readouterr()
    records = {run_dir for name, run_dir in reads if name == "result.json"}
    assert records == {(sweep_dir / "runs" / r["id"]).resolve() for r in rows}
    assert set(reads.values()) == {1}, {k: n for k, n in reads.items() if n != 1}

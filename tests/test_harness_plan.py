"""The seed planner (``wnrl report --plan``) against hand-computed values and known behaviour."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from wnrl.cli import main
from wnrl.harness.stats.seeds import iqm_width, plan_seeds, poi_power, poi_se, seeds_for_effect


def test_poi_standard_error_is_the_mann_whitney_normal_approximation() -> None:
    assert poi_se(10) == pytest.approx(math.sqrt(21 / 1200))
    assert poi_se(10, tasks=4) == pytest.approx(math.sqrt(21 / 1200) / 2)


def test_seeds_for_an_effect_of_0_6() -> None:
    # 80% power at P = 0.6 on one task needs (1.96 + 0.84)·se(n) ≤ 0.1, i.e. n ≥ 131: 200 is the
    # first candidate; over 4 tasks se halves, n ≥ 33: 50.
    assert seeds_for_effect(0.6, tasks=1) == 200
    assert seeds_for_effect(0.6, tasks=4) == 50
    assert seeds_for_effect(0.9, tasks=1) == 10  # (2.80·se(n) ≤ 0.4 ⇒ n ≥ 9)
    assert seeds_for_effect(0.51, tasks=1) is None


def test_iqm_width_shrinks_with_seeds_and_is_zero_without_spread() -> None:
    x = np.random.default_rng(0).normal(size=(10, 2))
    widths = [iqm_width(x, n, reps=2000) for n in (5, 20, 80)]
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[0] / widths[2] == pytest.approx(4.0, rel=0.35)  # ∝ 1/√n
    assert iqm_width(np.ones((5, 1)), 10) == 0.0


def test_power_is_the_test_level_without_an_effect_and_one_with_separated_arms() -> None:
    rng = np.random.default_rng(1)
    same = poi_power(rng.normal(size=(50, 1)), rng.normal(size=(50, 1)), 20, reps=4000)
    assert same < 0.12  # about the 5% level (the normal approximation is slightly liberal)
    assert poi_power(np.full((4, 1), 2.0) + np.arange(4)[:, None], np.zeros((4, 1)), 3) == 1.0


def test_plan_pairs_every_method_with_the_baseline() -> None:
    x = {"none": np.zeros((3, 1)), "weight": np.ones((3, 1))}
    methods, pairs = plan_seeds(x, x, "none", width=0.1)
    assert [m.method for m in methods] == ["none", "weight"]
    assert [p.pair for p in pairs] == ["weight vs none"] and pairs[0].poi == 1.0


def test_report_plan_on_a_sweep_and_its_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from test_harness_report import make_sweep_dir  # a sweep directory as `wnrl compare` writes it

    sweep, _ = make_sweep_dir(tmp_path / "s")
    assert main(["report", str(sweep), "--plan"]) == 0
    out = capsys.readouterr().out
    assert "How many seeds?" in out and "vs none" in out
    assert main(["report", str(sweep), "--plan", "--poi", "0.4"]) == 2
    assert "--poi" in capsys.readouterr().err
    shutil.rmtree(sweep)


def test_report_plan_of_one_setting(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``--only KEY=VALUE`` plans from one setting's runs: its own P(weight > none) and one task's
    seed needs (200 seeds for P = 0.6, where the whole sweep's four tasks need 50)."""
    from test_harness_report import make_sweep_dir

    from wnrl.harness.stats.aggregate import probability_of_improvement_ci

    sweep, rows = make_sweep_dir(tmp_path / "s")
    assert main(["report", str(sweep), "--plan"]) == 0
    assert "| weight vs none |" in (whole := capsys.readouterr().out) and "| 50 |" in whole
    only = ["--only", "env.id=CartPole-v1", "--only", "env.noise.obs_std=0.0"]
    assert main(["report", str(sweep), "--plan", *only]) == 0
    out = capsys.readouterr().out
    done = [r for r in rows if r["status"] == "finished" and r["env"] == "CartPole-v1"]
    done = [r for r in done if r["grid"]["env.noise.obs_std"] == 0.0]
    arm = {n: [[r["final"]] for r in done if r["grid"]["agent.norm"] == n] for n in ("weight", "none")}
    poi = probability_of_improvement_ci(arm["weight"], arm["none"], reps=10)[0]
    line = next(ln for ln in out.splitlines() if ln.startswith("| weight vs none |"))
    assert line.startswith(f"| weight vs none | {poi:.3f} |") and line.endswith("| 200 |"), line
    assert f"| none | {len(arm['none'])} |" in out
    assert main(["report", str(sweep), "--plan", "--only", "algo=ppo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a grid key" in err and "env.id, env.noise.obs_std, agent.norm" in err
    assert main(["report", str(sweep), "--plan", "--only", "env.id=Pong"]) == 2
    assert "the values of env.id: CartPole-v1, MountainCarContinuous-v0" in capsys.readouterr().err
    assert main(["report", str(sweep), "--plan", "--only", "agent.norm=weight"]) == 2
    assert "the plan compares the values of agent.norm" in capsys.readouterr().err
    assert main(["report", str(sweep), "--plan", "--only", "env.id=CartPole-v1", "--only", "env.id=Pong"]) == 2
    assert "filtered twice" in capsys.readouterr().err
    assert main(["report", str(sweep), "--only", "env.id=CartPole-v1"]) == 2  # a filter for --plan only

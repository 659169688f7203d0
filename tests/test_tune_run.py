"""Tuning for real (tiny CartPole PPO runs): equal budgets used exactly, objectives recomputed from
the runs' result.json, failed trials recorded, pruning, tuned.yaml, and `compare --tuned` on fresh
seeds with each variant at its own values."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from test_tune_helpers import TINY_BASE, studies, tune_file

from wnrl.config import ConfigError
from wnrl.harness.stats import aggregate as stats
from wnrl.harness.tune.session import tune
from wnrl.train.record import read_record

LR = "agent.hyperparams.learning_rate"


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    tmp = tmp_path_factory.mktemp("tune")
    path = tune_file(tmp)
    out = tmp / "tiny"
    outcome = tune(path, out=out, workers=2)
    return path, out, outcome


def test_every_variant_gets_exactly_its_budget(tuned: tuple[Path, Path, Any]) -> None:
    _, out, outcome = tuned
    by_name = studies(out)
    assert sorted(by_name) == ["tiny/none", "tiny/weight"]
    for study in by_name.values():
        trials = study.get_trials()
        assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)
        assert study.user_attrs["wnrl_budget"] == 3
    assert len(outcome.trials) == 6
    again = tune(tuned[0], out=out, workers=2)  # rerun: nothing left to do
    assert again.trials == [] and all(len(s.get_trials()) == 3 for s in studies(out).values())


def test_a_trials_objective_is_the_iqm_of_its_runs_result_json(tuned: tuple[Path, Path, Any]) -> None:
    _, out, _ = tuned
    for study in studies(out).values():
        for t in study.get_trials():
            slug = study.study_name.split("/")[1]
            trial_dir = out / "studies" / slug / f"trial-{t.user_attrs['wnrl_slot']:04d}"
            records = [read_record(d) for d in sorted((trial_dir / "runs").iterdir())]
            assert sorted(r.seed for r in records) == [0, 1]  # the tuning seeds, every trial
            scores = np.array([[r.final.mean] for r in records])
            assert math.isclose(t.value, stats.iqm(scores), rel_tol=1e-12)
            assert {r.norm for r in records} == {slug}
            cfg = yaml.safe_load((trial_dir / "runs" / records[0].id / "config.yaml").read_text())
            assert math.isclose(cfg["agent"]["hyperparams"]["learning_rate"], t.params[LR])
            info = json.loads((trial_dir / "trial.json").read_text())
            assert info["state"] == "complete" and math.isclose(info["value"], t.value)
            lo, hi = t.user_attrs["wnrl_ci"]
            assert lo <= t.value <= hi


def test_tuned_yaml_and_report(tuned: tuple[Path, Path, Any]) -> None:
    _, out, outcome = tuned
    data = yaml.safe_load((out / "tuned.yaml").read_text())
    assert data["tuning_seeds"] == [0, 1] and data["confirm_seeds"] == [2, 3]
    by = {tuple(e["variant"].values()): e for e in data["best"]}
    for name, study in studies(out).items():
        e = by[(name.split("/")[1],)]
        assert e["objective"] == study.best_value and e["params"][LR] == study.best_params[LR]
        assert e["trials"] == {"complete": 3}
    report = (out / "report.md").read_text()
    assert "**3 trials** per study" in report and "optuna-dashboard sqlite:///" in report
    assert (out / "figures" / f"sensitivity_{LR}.png").stat().st_size > 0
    assert (out / "figures" / "best_so_far.png").stat().st_size > 0


def test_compare_tuned_runs_each_variant_at_its_own_values_on_fresh_seeds(tuned: tuple[Path, Path, Any]) -> None:
    from wnrl.harness.api import compare

    _, out, _ = tuned
    best = {
        tuple(e["variant"].values())[0]: e["params"] for e in yaml.safe_load((out / "tuned.yaml").read_text())["best"]
    }
    with pytest.raises(ConfigError, match=r"the seeds \[1\] were used in tuning"):
        from wnrl.harness.tune.confirm import confirm

        confirm(out, out / "nope", seeds=[1, 5])
    assert not (out / "nope").exists()
    conf = out.parent / "confirm"
    # a stage (--seeds 2): both halves on seed 2 only, with the same n in every cell
    outcome = compare(tuned=out, out=conf, workers=2, progress=False, seeds=[2])
    assert outcome.ok and outcome.total == 4 and len(outcome.ran) == 4
    assert "on the 1 seeds [2]" in (conf / "confirmation.md").read_text()
    # the whole confirmation then runs only what the stage did not (seed 3), keeping seed 2's runs
    outcome = compare(tuned=out, out=conf, workers=2, progress=False)
    assert outcome.ok and outcome.total == 8 and len(outcome.ran) == 4
    indexes = {half: (conf / half / "index.json").read_bytes() for half in ("default", "tuned")}
    for half in ("default", "tuned"):
        assert json.loads(indexes[half])["seeds"] == [2, 3]
    # a stage that is already there runs and rewrites nothing (no session, no extra sweep entry)
    outcome = compare(tuned=out, out=conf, workers=2, progress=False, seeds=[3])
    assert outcome.ok and outcome.total == 4 and not outcome.ran
    assert {half: (conf / half / "index.json").read_bytes() for half in ("default", "tuned")} == indexes
    for part, expect_tuned in (("default", False), ("tuned", True)):
        for run_dir in sorted((conf / part / "runs").iterdir()):
            cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
            norm, hp = cfg["agent"]["norm"], cfg["agent"]["hyperparams"]
            assert cfg["train"]["seed"] in (2, 3)  # disjoint from the tuning seeds 0, 1
            if expect_tuned:
                assert (
                    math.isclose(hp["learning_rate"], best[norm][LR])
                    and hp["gamma"] == best[norm]["agent.hyperparams.gamma"]
                )
            else:
                assert "learning_rate" not in TINY_BASE["agent"]["hyperparams"] and "learning_rate" not in hp
    # the tuned half's report lists each norm's own values, never one norm's as the whole directory's
    header = (conf / "tuned" / "report.md").read_text().split("## ")[0]
    assert "- overrides (--set):" not in header
    for norm, params in best.items():
        lines = [line for line in header.splitlines() if f"tuned-{norm}.sweep.yaml, seeds" in line]
        assert len(lines) == 2 and all(f"{LR}={params[LR]}" in line for line in lines)  # two stages
    text = (conf / "confirmation.md").read_text()
    assert "on the 2 seeds [2, 3], **disjoint from every tuning seed**" in text
    assert "Verdicts that change with tuning:" in text
    assert "weight vs none" in text


def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path: Path) -> None:
    space = {"env.kwargs": {"type": "categorical", "choices": [{}, {"not_an_arg": 1}]}}
    path = tune_file(tmp_path, variants={"agent.norm": ["none"]}, space=space, sampler="grid", budget=2, seeds=1)
    outcome = tune(path, out=tmp_path / "t", workers=2, write_report=False)
    states = sorted(t["state"] for t in outcome.trials)
    assert states == ["complete", "failed"]
    (study,) = studies(tmp_path / "t").values()
    failed = [t for t in study.get_trials() if t.state.name == "FAIL"]
    assert len(failed) == 1 and "not_an_arg" in failed[0].user_attrs["wnrl_error"]
    info = [json.loads(p.read_text()) for p in (tmp_path / "t" / "studies").rglob("trial.json")]
    assert sorted(i["state"] for i in info) == ["complete", "failed"]
    tuned = yaml.safe_load((tmp_path / "t" / "tuned.yaml").read_text())
    assert tuned["best"][0]["params"] == {"env.kwargs": {}}


def test_pruning_stops_a_hopeless_trial_early(tmp_path: Path) -> None:
    import optuna

    from wnrl.harness.tune.spec import load_tune
    from wnrl.harness.tune.storage import open_storage, open_studies

    base = {**TINY_BASE, "train": {**TINY_BASE["train"], "total_timesteps": 3072, "eval_freq": 128}}
    space = {LR: {"type": "categorical", "choices": [3e-3, 1e-9]}}
    pruner = {"type": "median", "n_startup_trials": 1}
    path = tune_file(
        tmp_path, base=base, variants={"agent.norm": ["none"]}, space=space, budget=2, seeds=2, pruner=pruner
    )
    out = tmp_path / "p"
    out.mkdir()
    loaded = load_tune(path)
    (study,) = open_studies(loaded, open_storage(f"sqlite:///{out / 'optuna.db'}", "test")).values()
    study.enqueue_trial({LR: 3e-3})  # the good one first, then the hopeless one (lr ~ 0)
    study.enqueue_trial({LR: 1e-9})
    # one worker: the hopeless trial starts once the good one is complete, which the median pruner
    # (n_startup_trials=1) needs before it prunes; with two, a loaded machine could let the
    # hopeless trial's runs finish before the good trial does (seen once under load)
    tune(path, out=out, workers=1, write_report=False)
    trials = {t.params[LR]: t for t in studies(out)["tiny/none"].get_trials()}
    assert trials[3e-3].state == optuna.trial.TrialState.COMPLETE
    hopeless = trials[1e-9]
    assert hopeless.state == optuna.trial.TrialState.PRUNED
    from wnrl.harness.tune.objective import curve_points

    def evals(trial: str) -> list[int]:
        return [len(curve_points(d)) for d in sorted((out / "studies" / "none" / trial / "runs").iterdir())]

    full, cut = evals("trial-0000"), evals("trial-0001")
    assert all(n > 20 for n in full) and sum(cut) < sum(full)  # evaluations every 128 of 3072 steps
    errors = [read_record(d).error for d in (out / "studies" / "none" / "trial-0001" / "runs").iterdir()]
    assert any(str(e).startswith("Pruned") for e in errors)  # a run was stopped in training
    assert len(hopeless.intermediate_values) < len(trials[3e-3].intermediate_values)


def test_a_pruned_run_that_fails_on_its_way_out_counts_as_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prune signal can land inside a checkpoint's zip writer, whose own RuntimeError then
    replaces ``Pruned`` (seen in CI under load): a run that failed once its trial's PRUNE file
    exists is recorded as pruned, not as a failure of the trial."""
    from wnrl.config import validate
    from wnrl.harness.run import task as tasks
    from wnrl.harness.run.task import Task, failed_result
    from wnrl.train.record import write_record

    run_dir, flag = tmp_path / "runs" / "r", tmp_path / "PRUNE"
    data = {"env": {"id": "CartPole-v1"}, "agent": {"algo": "ppo"}, "train": {"total_timesteps": 64}}
    config = validate(data, "t.yaml")
    task = Task(id="r", run_dir=run_dir, config=config, source="t.yaml", prune_file=flag)

    def cut_short(t: Task) -> Any:
        flag.write_text("pruned\n")  # the tuner prunes; the run's exit raises something else
        record = failed_result(t, "RuntimeError: [enforce fail at inline_container.cc:672] unexpected pos")
        write_record(run_dir, record)
        return record

    monkeypatch.setattr(tasks, "_run_stoppable", cut_short)
    record = tasks.run_task(task)
    assert str(record.error).startswith("Pruned") and str(read_record(run_dir).error).startswith("Pruned")
    flag.unlink()

    def plain_failure(t: Task) -> Any:  # no prune: a real failure stays one
        record = failed_result(t, "TypeError: bad")
        write_record(run_dir, record)
        return record

    monkeypatch.setattr(tasks, "_run_stoppable", plain_failure)
    assert tasks.run_task(task).error == "TypeError: bad"


def test_tuning_on_ray_uses_the_budget_and_writes_the_same_records(tmp_path: Path) -> None:
    """``--backend ray``: every trial's runs are Ray tasks; the budget, the objectives recomputed
    from the runs' result.json and tuned.yaml are as on the local pool."""
    pytest.importorskip("ray")
    path = tune_file(tmp_path, variants={"agent.norm": ["weight"]}, budget=2, seeds=2)
    out = tmp_path / "ray"
    outcome = tune(path, out=out, workers=2, backend="ray", write_report=False, progress=False)
    assert sorted(t["state"] for t in outcome.trials) == ["complete", "complete"]
    (study,) = studies(out).values()
    for t in study.get_trials():
        trial_dir = out / "studies" / "weight" / f"trial-{t.user_attrs['wnrl_slot']:04d}"
        records = [read_record(d) for d in sorted((trial_dir / "runs").iterdir())]
        assert sorted(r.seed for r in records) == [0, 1] and all(r.finished for r in records)
        assert math.isclose(t.value, stats.iqm(np.array([[r.final.mean] for r in records])), rel_tol=1e-12)
    assert yaml.safe_load((out / "tuned.yaml").read_text())["best"][0]["variant"]


def test_importances_are_reproducible_and_find_the_parameter_that_matters() -> None:
    """Importances need no scikit-learn and are the same on every call, so the committed tuning
    reports are rewritten byte for byte from their databases (tests/test_results_reproduce.py);
    the one parameter the objective depends on carries nearly all the importance."""
    import optuna

    from wnrl.harness.tune.report import importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 0.0, 1.0)
        trial.suggest_float("x", 0.0, 1.0)  # sampled, but the objective ignores it
        return -((lr - 0.3) ** 2)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3))
    study.optimize(objective, 30)
    first, second = importances(study), importances(study)
    assert first == second
    assert first["lr"] > 0.8 > first["x"]

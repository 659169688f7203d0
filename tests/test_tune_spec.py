"""Tune files: every bad input is one line naming the file and the key, exit code 2, nothing written;
one budget for every variant; tuning and confirmation seeds disjoint; studies of another tune file
and unreachable storages refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_tune_helpers import TINY_TUNE, tune_file

from wnrl.cli import main as wnrl_main
from wnrl.config import ConfigError
from wnrl.harness.tune.spec import load_tune

LR = "agent.hyperparams.learning_rate"


def _space(**param: Any) -> dict[str, Any]:
    return {LR: param}


BAD: list[tuple[dict[str, Any], str]] = [
    ({"budgett": 3}, "unknown key 'budgett'"),
    ({"variants": {"agent.nrom": ["none"]}}, "unknown key 'agent.nrom'"),
    ({"space": _space(type="log_uniform", low=1e-3, high=1e-2, logg=True)}, "unknown key"),
    # a key inside a distribution (the space is a mapping of free keys): the fix names its fields
    ({"space": _space(type="int", low=1, high=8, stepp=2)}, f"unknown key 'space.{LR}.stepp'; did you mean 'step'?"),
    ({"space": _space(type="log_uniform", low=1e-2, high=1e-3)}, "inverted range"),
    ({"space": _space(type="uniform", low=0.1, high=0.1)}, "empty range"),
    ({"space": _space(type="log_uniform", low=0.0, high=1e-2)}, "a log range must be > 0"),
    ({"space": _space(type="categorical", choices=[])}, "non-empty list"),
    ({"budget": 0}, "budget: must be a positive number"),
    ({"budget": -2}, "budget: must be a positive number"),
    ({"seeds": 0}, "seeds: must be at least 1"),
    ({"budget": {"none": 3, "weight": 4}}, "unequal budgets (none: 3, weight: 4)"),
    ({"budget": {"none": 3}}, "one entry per variant"),
    ({"confirm_seeds": [1, 5]}, "confirm_seeds: [1] are also tuning seeds"),
    ({"sampler": "grid"}, "grid search needs categorical"),
    ({"space": {"train.seed": {"type": "int", "low": 0, "high": 3}}}, "the seeds come from `seeds`"),
    ({"tasks": {"agent.norm": ["none"]}}, "also in variants"),
    ({"base": {**TINY_TUNE["base"], "agent": {"norm": "weigth"}}}, "agent.norm"),
]


@pytest.mark.parametrize(("change", "expected"), BAD, ids=[b[1][:30] for b in BAD])
def test_bad_tune_files_are_one_line_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture, change: dict[str, Any], expected: str
) -> None:
    path = tune_file(tmp_path, **change)
    out = tmp_path / "out"
    assert wnrl_main(["tune", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"wnrl: error: {path}: ") and expected in err, err
    assert not out.exists()


def test_equal_budgets_pass_and_one_variant_with_more_is_refused(tmp_path: Path) -> None:
    tune = load_tune(tune_file(tmp_path, budget={"none": 4, "weight": 4}))
    assert tune.budget == 4 and len(tune.cells) == 2
    with pytest.raises(ConfigError, match=r"unequal budgets \(none: 4, weight: 5\)"):
        load_tune(tune_file(tmp_path, budget={"none": 4, "weight": 5}))


def test_confirmation_seeds_are_after_the_tuning_seeds(tmp_path: Path) -> None:
    tune = load_tune(tune_file(tmp_path, seeds=[0, 3, 7], confirm_seeds=10))
    assert tune.confirm_seeds == list(range(8, 18)) and not set(tune.confirm_seeds) & {0, 3, 7}
    assert load_tune(tune_file(tmp_path, space=None)).spec.space[LR].type == "log_uniform"  # the default space


def test_unreachable_storage_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tune_file(tmp_path, storage="postgresql://wnrl:secret@127.0.0.1:9/optuna")
    out = tmp_path / "out"
    assert wnrl_main(["tune", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "storage: cannot reach postgresql://wnrl:***@127.0.0.1:9/optuna" in err and "secret" not in err
    assert len(err.splitlines()) == 1 and not out.exists()
    assert wnrl_main(["tune", str(path), "--out", str(out), "--storage", f"journal:{tmp_path}/no/such/dir/j.log"]) == 2
    assert "cannot reach journal:" in capsys.readouterr().err and not out.exists()


def test_a_study_created_by_another_tune_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from wnrl.harness.tune.storage import open_storage, open_studies

    journal = tmp_path / "shared.log"
    first = load_tune(tune_file(tmp_path, "a.yaml"))
    open_studies(first, open_storage(f"journal:{journal}", first.source))
    other = tune_file(tmp_path, "b.yaml", seeds=3)  # same name "tiny", other trials
    out = tmp_path / "out"
    assert wnrl_main(["tune", str(other), "--out", str(out), "--storage", f"journal:{journal}"]) == 2
    err = capsys.readouterr().err
    assert "the study 'tiny/none'" in err and "created by another tune file" in err and str(tmp_path / "a.yaml") in err
    assert not out.exists()


def test_the_parser_imports_neither_torch_nor_optuna() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom wnrl.cli import build_parser\n"
        "build_parser().parse_args(['tune', 'x.yaml'])\n"
        "heavy = [m for m in ('torch', 'optuna', 'stable_baselines3') if m in sys.modules]\nassert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_tune_file_in_configs_loads() -> None:
    """The shipped tune files stay valid as the schema changes; each gives every variant the same
    budget and confirms on seeds disjoint from the tuning ones."""
    files = sorted((Path(__file__).resolve().parents[1] / "configs" / "tune").glob("*.yaml"))
    assert {f.stem for f in files} >= {"cartpole_small", "noisy_classic", "noisy_cartpole"}
    for f in files:
        tune = load_tune(f)
        assert tune.cells and tune.budget >= 1, f
        assert not set(tune.confirm_seeds) & set(tune.spec.seeds), f


def test_a_shipped_shared_settings_sweep_is_the_one_the_confirmation_runs() -> None:
    """A sweep file named ``<tune>-default`` (run before the tuning, e.g. noisy_cartpole_dqn_default)
    must hold the runs ``wnrl compare --tuned`` runs first for that tune file (same grid order and
    run ids; a stage file a subset), or the confirmation could not reuse them: an edit to either
    file alone fails here."""
    from wnrl.harness.sweeps.spec import load_sweep
    from wnrl.harness.tune.confirm import confirmation_parts

    root = Path(__file__).resolve().parents[1]
    tunes = {t.name: t for t in map(load_tune, sorted((root / "configs" / "tune").glob("*.yaml")))}
    stages = sorted((root / "docs" / "results").glob("**/stages/*.yaml"))  # a study's stage files
    checked = 0
    for f in sorted((root / "configs" / "sweeps").glob("*.yaml")) + stages:
        sweep = load_sweep(f)
        tune = tunes.get(sweep.name.removesuffix("-default")) if sweep.name.endswith("-default") else None
        if tune is None:
            continue
        nothing_tuned = {"best": [{"study": c.study_name, "params": {}} for c in tune.cells]}
        expected = confirmation_parts(tune, nothing_tuned, tune.confirm_seeds)[0].sweep  # the shared settings
        assert list(sweep.grid) == list(expected.grid), f
        assert {r.id for r in sweep.runs} <= {r.id for r in expected.runs}, f
        checked += 1
    assert checked >= 2  # noisy_cartpole_dqn_default and its stage 1

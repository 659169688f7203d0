"""docs/results.md is reproducible from committed files: ``wnrl report`` on each committed study
directory (its runs' records only: result.json, curve.json, config.yaml) rewrites the committed
``summary.json`` and ``report.md`` byte for byte (paths aside), and ``wnrl tune`` on each committed
tune directory (its Optuna database and trial records) finds its budget spent, runs nothing and
rewrites ``tuned.yaml`` (what ``wnrl compare --tuned`` reads) and the tuning report byte for byte."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from wnrl.harness.api import report, tune

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
# A study directory, or a confirmation sweep inside one (`wnrl compare --tuned` writes OUT/default, OUT/tuned).
STUDIES = sorted(p.parent for p in RESULTS.glob("**/index.json"))
TUNES = sorted(p.parent for p in RESULTS.glob("*/tune.json"))


def _names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_there_is_a_committed_study() -> None:
    assert STUDIES, "docs/results/<study>/index.json: the published studies"


@pytest.mark.parametrize("study", STUDIES, ids=[str(p.relative_to(RESULTS)) for p in STUDIES])
def test_report_reproduces_the_committed_numbers(study: Path, tmp_path: Path) -> None:
    copy = tmp_path / "study"
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns("report.md", "summary.json", "results.csv", "figures"))
    reps = json.loads((study / "summary.json").read_text())["reps"]
    report(copy, reps=reps)
    for name in ("summary.json", "results.csv"):
        assert (copy / name).read_text() == (study / name).read_text(), name
    ours = (copy / "report.md").read_text().replace(str(copy), str(study.relative_to(ROOT)))
    assert ours == (study / "report.md").read_text()
    assert _names(copy / "figures") == _names(study / "figures")


def _paths_aside(text: str, *dirs: str) -> str:
    text = re.sub(r"sqlite:///\S*?optuna\.db", "sqlite:///TUNE_DIR/optuna.db", text)
    for d in dirs:
        text = text.replace(d, "TUNE_DIR")
    return text


@pytest.mark.parametrize("tune_dir", TUNES, ids=[p.name for p in TUNES])
def test_tune_reproduces_the_committed_settings(
    tune_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "tune"
    shutil.copytree(tune_dir, copy, ignore=shutil.ignore_patterns("report.md", "tuned.yaml", "figures"))
    source = json.loads((tune_dir / "tune.json").read_text())["source"]
    monkeypatch.chdir(ROOT)  # the tune file as recorded (a path relative to the repository)
    outcome = tune(source, out=copy, workers=1, progress=False)
    assert outcome.trials == [], "the committed budget is spent: nothing may run again"
    for name in ("tuned.yaml", "report.md"):
        ours = _paths_aside((copy / name).read_text(), str(copy))
        theirs = _paths_aside((tune_dir / name).read_text(), str(tune_dir), str(tune_dir.relative_to(ROOT)))
        assert ours == theirs, name
    assert _names(copy / "figures") == _names(tune_dir / "figures")

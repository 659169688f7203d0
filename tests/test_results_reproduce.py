"""docs/results.md is reproducible from committed files: ``wnrl report`` on each committed study
directory (its runs' records only: result.json, curve.json, config.yaml) rewrites the committed
``summary.json`` and ``report.md`` byte for byte (paths aside)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from wnrl.harness.api import report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
STUDIES = sorted(p.parent for p in RESULTS.glob("*/index.json"))


def test_there_is_a_committed_study() -> None:
    assert STUDIES, "docs/results/<study>/index.json: the published studies"


@pytest.mark.parametrize("study", STUDIES, ids=[p.name for p in STUDIES])
def test_report_reproduces_the_committed_numbers(study: Path, tmp_path: Path) -> None:
    copy = tmp_path / study.name
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns("report.md", "summary.json", "results.csv", "figures"))
    reps = json.loads((study / "summary.json").read_text())["reps"]
    report(copy, reps=reps)
    for name in ("summary.json", "results.csv"):
        assert (copy / name).read_text() == (study / name).read_text(), name
    ours = (copy / "report.md").read_text().replace(str(copy), str(study.relative_to(ROOT)))
    assert ours == (study / "report.md").read_text()
    assert sorted(p.name for p in (copy / "figures").iterdir()) == sorted(p.name for p in (study / "figures").iterdir())

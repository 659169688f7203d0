"""``wnrl compare --tuned`` runs the sweeps it builds in memory (no sweep file is read back), and
they are the sweeps its committed records name: for each published confirmation, the sweep file
it writes beside its halves is the committed one byte for byte, and the sweep it runs is the one
that file expands to (same runs, configs, ids and ``index.json`` entry)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from wnrl.harness.sweeps.spec import load_sweep
from wnrl.harness.tune.confirm import confirmation_parts, load_tuned_tune

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
# A confirmation's sweep files, beside the tune directory it confirms (docs/results/<study>_tune).
RECORDS = sorted(
    p for p in RESULTS.glob("*/*.sweep.yaml") if (RESULTS / f"{p.parent.name}_tune" / "tune.json").is_file()
)


def test_there_is_a_committed_confirmation() -> None:
    assert len({p.parent for p in RECORDS}) >= 2, RECORDS


@pytest.mark.parametrize("record", RECORDS, ids=[str(p.relative_to(RESULTS)) for p in RECORDS])
def test_a_confirmation_part_is_the_sweep_its_record_names(record: Path) -> None:
    tune, tuned = load_tuned_tune(RESULTS / f"{record.parent.name}_tune")
    parts = {p.file: p for p in confirmation_parts(tune, tuned, yaml.safe_load(record.read_text())["seeds"])}
    part = parts[record.name]
    assert yaml.safe_dump(part.data, sort_keys=False) == record.read_text()  # the record, as written
    ran = replace(part.sweep, source=str(record))  # what confirm hands to compare_sweep
    loaded = load_sweep(record, part.sets)  # what `wnrl compare` makes of the record
    assert ran.index() == loaded.index()
    assert [r.config.model_dump() for r in ran.runs] == [r.config.model_dump() for r in loaded.runs]

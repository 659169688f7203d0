"""The learning-rate range within 90% of the best IQM (study 1's robustness number), against
hand-computed cases, and its place in summary.json and the report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wnrl.harness.reports.sections import lr_range_section
from wnrl.harness.stats.lr_range import lr_range, lr_ranges

LRS = [1e-4, 1e-3, 1e-2, 1e-1]


def _constant(values: list[float], runs: int = 6) -> dict[float, np.ndarray]:
    return {lr: np.full(runs, v) for lr, v in zip(LRS, values)}


def test_a_contiguous_range_around_the_best() -> None:
    r = lr_range(_constant([0.5, 0.95, 1.0, 0.2]), reps=200)
    assert (r.best_lr, r.best_iqm, r.lo, r.hi) == (1e-2, 1.0, 1e-3, 1e-2)
    assert r.decades == pytest.approx((1.0, 1.0, 1.0))  # no spread: every resample agrees
    assert r.grid_decades == pytest.approx(3.0)


def test_only_neighbours_of_the_best_count() -> None:
    r = lr_range(_constant([0.95, 0.5, 1.0, 0.92]), reps=50)
    assert (r.lo, r.hi) == (1e-2, 1e-1)  # 1e-4 reaches 90% too, but 1e-3 in between does not
    assert r.decades[0] == pytest.approx(1.0)


def test_exactly_90_percent_is_inside_and_a_flat_curve_spans_the_grid() -> None:
    assert lr_range(_constant([0.9, 1.0, 0.3, 0.3]), reps=10).decades[0] == pytest.approx(1.0)
    assert lr_range(_constant([1.0, 1.0, 1.0, 1.0]), reps=10).decades[0] == pytest.approx(3.0)


def test_a_non_positive_best_is_a_range_of_one_point() -> None:
    r = lr_range(_constant([-1.0, -0.5, -0.8, -2.0]), reps=10)
    assert (r.lo, r.hi, r.decades[0]) == (1e-3, 1e-3, 0.0)


def test_the_interval_comes_from_resampling_the_runs() -> None:
    rng = np.random.default_rng(0)
    # at 1e-3 half the runs fail: its IQM sits near the 90% line, so resamples disagree
    per = {1e-4: rng.uniform(0.0, 0.2, 10), 1e-3: np.r_[np.full(5, 1.0), np.full(5, 0.7)], 1e-2: np.full(10, 1.0)}
    r = lr_range(per, reps=500, seed=1)
    point, lo, hi = r.decades
    iqm_1e3 = float(np.mean(np.sort(per[1e-3])[2:8]))  # 25% trimmed mean of 10 runs: the middle 6
    assert iqm_1e3 == pytest.approx(0.85) and point == 0.0  # 0.85 < 0.9: the point range is 1e-2 only
    assert lo == 0.0 and hi == pytest.approx(1.0)  # some resamples draw enough successes at 1e-3
    assert lr_range(per, reps=500, seed=1).decades == r.decades  # seeded


def test_bad_input_is_refused_and_unequal_tasks_are_left_out() -> None:
    with pytest.raises(ValueError, match="at least two positive learning rates"):
        lr_range({1e-3: [1.0, 2.0]})
    with pytest.raises(ValueError, match="at least two positive learning rates"):
        lr_range({0.0: [1.0], 1e-3: [1.0]})
    sens = {
        "weight": {repr(1e-3): [[1.0, 0.5], [1.0, 0.6]], repr(1e-2): [[0.9, 0.4], [0.8, 0.5]]},
        "none": {repr(1e-3): [[1.0, 0.5]], repr(1e-2): [[1.0]]},  # a task not run yet at 1e-2
    }
    assert list(lr_ranges(sens, reps=20, seed=0)) == ["weight"]


def test_section_shows_each_line() -> None:
    r = lr_range(_constant([0.5, 0.95, 1.0, 0.2]), reps=20)
    from dataclasses import asdict

    text = "\n".join(lr_range_section({"weight": asdict(r)}))
    assert "| weight | 0.01 | 1.000 | 0.001 to 0.01 | 1.00 [1.00, 1.00] |" in text
    assert "the grid spans 3.00" in text
    assert lr_range_section({}) == []
    assert not math.isnan(r.decades[0])

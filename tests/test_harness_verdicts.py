"""Holm's correction, bootstrap p-values and verdicts (wnrl.harness.stats.verdicts), against
values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from wnrl.harness.stats.verdicts import bootstrap_p_value, holm_adjust, holm_levels, verdict

# p = [0.01, 0.04, 0.03, 0.005], m = 4. Sorted: 0.005, 0.01, 0.03, 0.04; times 4, 3, 2, 1:
# 0.02, 0.03, 0.06, 0.04; running maximum: 0.02, 0.03, 0.06, 0.06.
P = [0.01, 0.04, 0.03, 0.005]


def test_holm_adjusted_p_values_by_hand() -> None:
    np.testing.assert_allclose(holm_adjust(P), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm_adjust([0.2]), [0.2])  # a family of one: unchanged
    np.testing.assert_allclose(holm_adjust([0.6, 0.5]), [1.0, 1.0])  # capped at 1, monotone


def test_holm_levels_by_hand() -> None:
    """At alpha 0.05 the thresholds are 0.0125, 0.0167, 0.025, 0.05: 0.005 and 0.01 are rejected,
    0.03 is the first acceptance, so it and 0.04 get the level 1 - 0.05/2."""
    np.testing.assert_allclose(holm_levels(P), [1 - 0.05 / 3, 0.975, 0.975, 1 - 0.05 / 4])
    np.testing.assert_allclose(holm_levels([0.001, 0.002]), [1 - 0.05 / 2, 0.95])  # all rejected


def test_holm_rejects_exactly_the_adjusted_p_values_under_alpha() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.uniform(0, 0.1, size=rng.integers(1, 12))
        rejected_by_level = p <= 1 - holm_levels(p)
        assert np.array_equal(rejected_by_level, holm_adjust(p) <= 0.05)


def test_bootstrap_p_value_by_hand() -> None:
    assert bootstrap_p_value([0.4, 0.6, 0.7, 0.8]) == pytest.approx(0.8)  # 2 * min(2/5, 4/5)
    assert bootstrap_p_value([0.6] * 9) == pytest.approx(0.2)  # 2 * (1 + 0) / 10: never 0
    assert bootstrap_p_value([0.5] * 9) == 1.0


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        ((0.55, 0.7), "better"),
        ((0.3, 0.45), "worse"),
        ((0.42, 0.58), "equivalent"),
        ((0.4, 0.6), "equivalent"),  # the margin's ends belong to it
        ((0.35, 0.6), "inconclusive"),
        ((0.45, 0.61), "inconclusive"),
        ((0.52, 0.58), "better"),  # a difference shown beats a negligible one
    ],
)
def test_verdicts(interval: tuple[float, float], expected: str) -> None:
    assert verdict(interval) == expected


def test_bad_input_is_refused() -> None:
    for bad in ([], [0.1, float("nan")], [1.2]):
        with pytest.raises(ValueError, match="pvalues"):
            holm_adjust(bad)
    with pytest.raises(ValueError, match="alpha"):
        holm_levels([0.1], alpha=1.0)
    with pytest.raises(ValueError, match="replicates"):
        bootstrap_p_value([])
    with pytest.raises(ValueError, match="lo must not exceed hi"):
        verdict((0.6, 0.4))
    with pytest.raises(ValueError, match="margin"):
        verdict((0.4, 0.6), margin=0.5)

"""Tests of wnrl.harness.stats.aggregate against hand-computed values and bootstrap properties."""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import pytest
from scipy import stats as sps

from wnrl.harness.stats import aggregate as S
from wnrl.harness.stats import bootstrap
from wnrl.train.record import area_under_curve

# --------------------------------------------------------------------------------------------
# Point statistics, hand-computed
# --------------------------------------------------------------------------------------------


def test_iqm_hand_computed():
    # 8 values sorted: 1 2 3 4 5 6 7 100; floor(0.25 * 8) = 2 cut on each side -> 3 4 5 6 -> 4.5
    # (the outlier 100 has no effect; the mean would be 16).
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 100]], dtype=float)
    assert S.iqm(x) == pytest.approx(4.5)
    assert S.iqm(x.reshape(-1)) == pytest.approx(4.5)  # 1-D vector = one task
    assert S.mean(x) == pytest.approx(128 / 8)
    # rliable's median: per-task means 3, 4, 5, 52 -> (4 + 5) / 2 (here also the pooled median)
    assert S.median(x) == pytest.approx(4.5)
    # 10 values 0..9: floor(2.5) = 2 cut each side -> 2..7 -> 4.5
    assert S.iqm(np.arange(10.0).reshape(5, 2)) == pytest.approx(4.5)
    # fewer than 4 values: nothing trimmed, IQM = mean
    assert S.iqm([1.0, 2.0, 9.0]) == pytest.approx(4.0)
    assert isinstance(S.iqm(x), float)


def test_iqm_matches_scipy_trim_mean_over_flattened():
    x = np.random.default_rng(3).normal(size=(7, 3))
    assert S.iqm(x) == pytest.approx(sps.trim_mean(x.reshape(-1), 0.25))


def test_median_is_rliable_median_of_per_task_means():
    # runs x tasks; per-task means 0.5, 0.5, 10.5 -> median 0.5. The median of the 6 values
    # pooled (0, 0, 1, 1, 10, 11) would be 1.0.
    x = np.array([[0.0, 0.0, 10.0], [1.0, 1.0, 11.0]])
    assert S.median(x) == 0.5
    assert float(np.median(x)) == 1.0 and S.median_of_values(x) == 1.0  # not the same statistic
    # the batched (bootstrap) form has the same definition: point and every replication
    assert S.stratified_bootstrap_ci(x, S.median, reps=200)[0] == 0.5
    assert S.aggregate(x, reps=200)["median"][0] == 0.5
    rng = np.random.default_rng(5)
    y = rng.exponential(size=(5, 7))
    np.testing.assert_allclose(
        S.stratified_bootstrap_ci(y, S.median, reps=300, seed=2),
        S.stratified_bootstrap_ci(y, S.median, reps=300, seed=2, vectorized=False),
    )
    # one task: the median of per-task means is the task's mean
    assert S.median([1.0, 2.0, 9.0]) == pytest.approx(4.0)


def test_mean_is_mean_of_per_task_means_and_auc_has_one_definition():
    import wnrl.harness

    x = np.array([[0.0, 0.0, 10.0], [1.0, 1.0, 11.0]])
    assert S.mean(x) == pytest.approx(np.mean([0.5, 0.5, 10.5]))
    # the AUC is a run's record (train writes it into result.json): stats knows nothing of runs
    assert not hasattr(S, "area_under_curve")
    assert wnrl.harness.area_under_curve is area_under_curve


def test_optimality_gap_hand_computed():
    # gamma = 1: shortfalls max(1 - x, 0) = 0.5, 0, 1.0, 0.1 -> mean 1.6 / 4 = 0.4
    x = np.array([[0.5, 1.2], [0.0, 0.9]])
    assert S.optimality_gap(x) == pytest.approx(0.4)
    # gamma = 0.5: shortfalls 0, 0, 0.5, 0 -> 0.125
    assert S.optimality_gap(x, gamma=0.5) == pytest.approx(0.125)
    # all runs at or above the target -> 0
    assert S.optimality_gap([1.0, 3.0]) == 0.0


def test_normalize_scores_per_task():
    # task 0: low 0, high 20 -> 10 -> 0.5, 20 -> 1.0
    # task 1: low -5, high 5 -> 0 -> 0.5, 5 -> 1.0
    x = np.array([[10.0, 0.0], [20.0, 5.0]])
    got = S.normalize_scores(x, low=[0.0, -5.0], high=[20.0, 5.0])
    np.testing.assert_allclose(got, [[0.5, 0.5], [1.0, 1.0]])
    # scalar references broadcast over tasks: (x - 0) / 10
    np.testing.assert_allclose(S.normalize_scores(x, 0.0, 10.0), x / 10)
    with pytest.raises(ValueError, match="high == low"):
        S.normalize_scores(x, [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        S.normalize_scores(x, [0.0, 0.0, 0.0], 1.0)


def test_probability_of_improvement_with_ties():
    # x = 1, 2, 3 vs y = 2, 2, 1 (S = 1 if x > y, 1/2 if tie):
    #   x=1: vs 2, 2, 1 -> 0 + 0 + 0.5 = 0.5
    #   x=2: vs 2, 2, 1 -> 0.5 + 0.5 + 1 = 2.0
    #   x=3: vs 2, 2, 1 -> 1 + 1 + 1 = 3.0
    # total 5.5 over 3 * 3 = 9 pairs -> 11/18
    assert S.probability_of_improvement([1, 2, 3], [2, 2, 1]) == pytest.approx(11 / 18)
    # Antisymmetry: P(Y > X) = 1 - P(X > Y) (ties split in half).
    assert S.probability_of_improvement([2, 2, 1], [1, 2, 3]) == pytest.approx(7 / 18)
    # All ties -> 0.5; different run counts: 5 vs (1, 5, 9) -> (1 + 0.5 + 0) / 3 = 0.5
    assert S.probability_of_improvement([4, 4], [4, 4, 4]) == pytest.approx(0.5)
    assert S.probability_of_improvement([5], [1, 5, 9]) == pytest.approx(0.5)
    # Two tasks: task 0 as above (11/18), task 1 all of x below all of y (0) -> mean 11/36
    x = np.array([[1, 0], [2, 0], [3, 0]], dtype=float)
    y = np.array([[2, 1], [2, 1], [1, 1]], dtype=float)
    assert S.probability_of_improvement(x, y) == pytest.approx(11 / 36)


def test_probability_of_improvement_matches_mann_whitney():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(6, 3)).astype(float)  # small integers: many ties
    y = rng.integers(0, 5, size=(4, 3)).astype(float)
    expected = np.mean([sps.mannwhitneyu(x[:, t], y[:, t]).statistic / (6 * 4) for t in range(3)])
    assert S.probability_of_improvement(x, y) == pytest.approx(expected)


def test_probability_of_improvement_task_mismatch():
    with pytest.raises(ValueError, match="same number of tasks"):
        S.probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 3)))


def test_area_under_curve_hand_computed():
    # steps 0, 1, 3; returns 0, 2, 2: trapezoids (0+2)/2*1 = 1 and (2+2)/2*2 = 4 -> 5 / (3-0)
    assert area_under_curve([0, 1, 3], [0, 2, 2]) == pytest.approx(5 / 3)
    # per run: a linear ramp 0 -> 1 averages 0.5, a constant 7 averages 7
    auc = area_under_curve([0, 50, 100], [[0.0, 0.5, 1.0], [7.0, 7.0, 7.0]])
    np.testing.assert_allclose(auc, [0.5, 7.0])
    # a single point: the mean return over training is that point
    np.testing.assert_allclose(area_under_curve([10], [[3.0], [4.0]]), [3.0, 4.0])
    assert area_under_curve([10], [3.0]) == 3.0
    with pytest.raises(ValueError, match="increasing"):
        area_under_curve([0, 2, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="points"):
        area_under_curve([0, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        area_under_curve([0, 1], [1, np.nan])


def test_performance_profile_fractions():
    # values 0.1, 0.5, 0.9, 0.3; strictly greater than tau:
    #   tau 0 -> 4/4, tau 0.3 -> {0.5, 0.9} 2/4, tau 0.5 -> {0.9} 1/4, tau 1 -> 0
    x = np.array([[0.1, 0.5], [0.9, 0.3]])
    frac, lo, hi = S.performance_profile(x, [0.0, 0.3, 0.5, 1.0], reps=500)
    np.testing.assert_allclose(frac, [1.0, 0.5, 0.25, 0.0])
    assert frac.shape == lo.shape == hi.shape == (4,)
    assert np.all(lo <= frac) and np.all(frac <= hi)
    assert lo[0] == hi[0] == 1.0 and lo[-1] == hi[-1] == 0.0  # no score <= 0 or > 1 exists


# --------------------------------------------------------------------------------------------
# Stratified bootstrap
# --------------------------------------------------------------------------------------------


def _data(runs: int, tasks: int = 4, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(runs, tasks))


def test_bootstrap_ci_contains_point_and_is_ordered():
    x = _data(10)
    for stat in (S.iqm, S.mean, S.median, S.optimality_gap):
        point, lo, hi = S.stratified_bootstrap_ci(x, stat, reps=1000, seed=0)
        assert point == pytest.approx(stat(x))
        assert lo <= point <= hi and lo < hi


def test_bootstrap_reproducible_with_seed():
    x = _data(10)
    a = S.stratified_bootstrap_ci(x, S.iqm, seed=7)
    b = S.stratified_bootstrap_ci(x, S.iqm, seed=7)
    c = S.stratified_bootstrap_ci(x, S.iqm, seed=8)
    assert a == b
    assert a[1:] != c[1:]
    assert a[0] == c[0]  # the point never depends on the seed
    assert S.aggregate(x, seed=3) == S.aggregate(x, seed=3)


def test_bootstrap_ci_shrinks_with_more_runs():
    _, lo5, hi5 = S.stratified_bootstrap_ci(_data(5), S.mean, seed=0)
    _, lo200, hi200 = S.stratified_bootstrap_ci(_data(200), S.mean, seed=0)
    assert hi200 - lo200 < 0.5 * (hi5 - lo5)


def test_bootstrap_identical_runs_and_single_run_collapse():
    same = np.tile([[0.3, 1.7, -2.2]], (6, 1))  # 6 identical runs
    for stat in (S.iqm, S.mean, S.median, S.optimality_gap):
        point, lo, hi = S.stratified_bootstrap_ci(same, stat)
        assert lo == point == hi
    one = np.array([[0.3, 1.7, -2.2]])  # a single run per task
    point, lo, hi = S.stratified_bootstrap_ci(one, S.iqm)
    assert lo == point == hi == pytest.approx(S.iqm(one))
    agg = S.aggregate(one, reps=100)
    assert all(lo == p == hi for p, lo, hi in agg.values())
    p, lo, hi = S.probability_of_improvement_ci([[1.0]], [[0.0]], reps=100)
    assert p == lo == hi == 1.0


def test_bootstrap_is_stratified_constant_tasks():
    # Task 0 always scores 0, task 1 always scores 1. Resampling within each task keeps one value
    # of each per run, so every replication's mean is exactly 0.5 and the CI collapses. An
    # unstratified bootstrap (resampling the 8 pooled values) would draw e.g. mostly zeros.
    x = np.array([[0.0, 1.0]] * 4)
    assert S.stratified_bootstrap_ci(x, S.mean, reps=2000) == (0.5, 0.5, 0.5)
    assert S.stratified_bootstrap_ci(x, lambda m: float(m.mean()), reps=200) == (0.5, 0.5, 0.5)


def test_bootstrap_samples_keep_each_task_runs_in_that_task():
    # Disjoint value ranges per task; the statistic inspects every resampled matrix.
    x = np.array([[0.0, 10.0, 100.0], [1.0, 11.0, 101.0], [2.0, 12.0, 102.0]])
    seen = []

    def check(m: np.ndarray) -> float:
        assert m.shape == x.shape  # run count kept per task
        for t in range(x.shape[1]):
            assert set(m[:, t]) <= set(x[:, t])
        seen.append(m.copy())
        return float(m.mean())

    S.stratified_bootstrap_ci(x, check, reps=300, seed=0)
    assert len(seen) == 301  # point + replications
    # the columns really are resampled (not just copied), independently per task
    assert any(not np.array_equal(np.sort(m[:, 0]), x[:, 0]) for m in seen)
    assert any(not np.array_equal(m[:, 0] - x[0, 0], m[:, 1] - x[0, 1]) for m in seen)

    # Same property on the vectorised path (batches of shape (B, runs, tasks)).
    def check_batched(b: np.ndarray) -> np.ndarray:
        assert b.ndim == 3 and b.shape[1:] == x.shape
        for t in range(x.shape[1]):
            assert np.isin(b[:, :, t], x[:, t]).all()
        return b.mean(axis=(1, 2))

    S.stratified_bootstrap_ci(x, check_batched, reps=300, vectorized=True)


def test_bootstrap_two_samples_with_different_run_counts():
    # x has 5 runs, y has 3; each is resampled within its own tasks, run counts kept.
    x = np.array([[10.0, 20.0]] * 5) + np.arange(5)[:, None]
    y = np.array([[-10.0, -20.0]] * 3) - np.arange(3)[:, None]

    def check(a: np.ndarray, b: np.ndarray) -> float:
        assert a.shape == (5, 2) and b.shape == (3, 2)
        assert np.isin(a[:, 0], x[:, 0]).all() and np.isin(a[:, 1], x[:, 1]).all()
        assert np.isin(b[:, 0], y[:, 0]).all() and np.isin(b[:, 1], y[:, 1]).all()
        return S.probability_of_improvement(a, b)

    assert S.stratified_bootstrap_ci([x, y], check, reps=200) == (1.0, 1.0, 1.0)


def test_probability_of_improvement_ci():
    rng = np.random.default_rng(2)
    x, y = rng.normal(1.0, size=(10, 4)), rng.normal(size=(8, 4))
    p, lo, hi = S.probability_of_improvement_ci(x, y, seed=0)
    assert p == pytest.approx(S.probability_of_improvement(x, y))
    assert 0.0 <= lo <= p <= hi <= 1.0 and lo > 0.5  # a 1-std shift is detected
    # the generic entry point with a list of matrices gives the same interval
    assert S.stratified_bootstrap_ci([x, y], S.probability_of_improvement, seed=0) == (p, lo, hi)


def test_vectorised_and_looped_paths_agree():
    x = _data(10)
    fast = S.stratified_bootstrap_ci(x, S.iqm, reps=300, seed=4)
    slow = S.stratified_bootstrap_ci(x, S.iqm, reps=300, seed=4, vectorized=False)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)
    gap = functools.partial(S.optimality_gap, gamma=0.5)
    np.testing.assert_allclose(
        S.stratified_bootstrap_ci(x, gap, reps=300, seed=4),
        S.stratified_bootstrap_ci(x, gap, reps=300, seed=4, vectorized=False),
        atol=1e-12,
    )


def test_bootstrap_speed():
    x = _data(10)
    t0 = time.perf_counter()
    S.stratified_bootstrap_ci(x, S.iqm, reps=2000)
    S.probability_of_improvement_ci(x, x + 0.1, reps=2000)
    S.aggregate(x, reps=2000)
    assert time.perf_counter() - t0 < 0.5


def test_bootstrap_coverage_of_the_mean_is_near_nominal():
    # 300 datasets of 30 normal runs: a 90% percentile interval for the mean should cover the
    # true mean about 90% of the time (percentile bootstrap slightly undercovers at n = 30).
    rng = np.random.default_rng(123)
    hits = 0
    for i in range(300):
        _, lo, hi = S.stratified_bootstrap_ci(rng.normal(size=(30, 1)), S.mean, reps=400, confidence=0.9, seed=i)
        hits += lo <= 0.0 <= hi
    assert 0.82 <= hits / 300 <= 0.96


def test_vector_statistic_returns_arrays():
    x = _data(6)
    point, lo, hi = S.stratified_bootstrap_ci(x, lambda m: m.mean(axis=0), reps=200)
    assert point.shape == lo.shape == hi.shape == (4,)
    assert np.all(lo <= point) and np.all(point <= hi)


def test_chunking_does_not_change_the_intervals(monkeypatch):
    # The memory cap only splits the replications into chunks: the same draws, the same interval.
    x = _data(7, tasks=3)
    curve = np.random.default_rng(3).normal(size=(6, 5))
    whole = S.stratified_bootstrap_ci(x, S.iqm, reps=500, seed=1), S.curve_ci(np.arange(5), curve, reps=500)
    monkeypatch.setattr(bootstrap, "MAX_BOOTSTRAP_ELEMENTS", 2 * x.size + 1)  # 2 replications a chunk
    assert S.stratified_bootstrap_ci(x, S.iqm, reps=500, seed=1) == whole[0]
    chunked = S.curve_ci(np.arange(5), curve, reps=500)
    np.testing.assert_array_equal(chunked.lo, whole[1].lo)
    np.testing.assert_array_equal(chunked.hi, whole[1].hi)
    assert S.MAX_BOOTSTRAP_ELEMENTS == 4_000_000  # the public name, re-exported by stats


# --------------------------------------------------------------------------------------------
# Learning-curve bands and sensitivity intervals
# --------------------------------------------------------------------------------------------


def test_curve_ci_point_is_the_statistic_across_runs():
    # 3 runs, 2 points: per point mean (1, 2), median (1, 2)... and IQM = mean with < 4 runs.
    returns = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]])
    band = S.curve_ci([10, 20], returns, statistic="mean", reps=200)
    np.testing.assert_allclose(band.point, [1.0, 2.0])
    np.testing.assert_allclose(band.steps, [10.0, 20.0])
    assert band.runs == 3
    assert np.all(band.lo <= band.point) and np.all(band.point <= band.hi)
    np.testing.assert_allclose(S.curve_ci([10, 20], returns, statistic="median", reps=50).point, [1.0, 2.0])
    five = np.array([[0.0], [1.0], [2.0], [3.0], [100.0]])  # IQM cuts floor(1.25) = 1 each side -> 2
    assert S.curve_ci([0], five, reps=50).point[0] == pytest.approx(2.0)
    one = S.curve_ci([0, 1, 2], [3.0, 4.0, 5.0], reps=50)  # a single run: the band is the line
    np.testing.assert_array_equal(one.lo, one.point)
    np.testing.assert_array_equal(one.hi, one.point)


def test_curve_ci_resamples_whole_runs():
    # Each run's second point is its first + 10: resampling whole runs keeps that in every
    # replication, so the band at point 1 is the band at point 0 shifted by exactly 10. Resampling
    # each point independently would give two different bands.
    first = np.random.default_rng(4).normal(size=8)
    band = S.curve_ci([0, 1], np.stack([first, first + 10.0], axis=1), statistic="mean", reps=1000, seed=3)
    assert band.lo[1] - band.lo[0] == pytest.approx(10.0)
    assert band.hi[1] - band.hi[0] == pytest.approx(10.0)
    assert band.hi[0] - band.lo[0] > 0.1


def test_curve_ci_bad_input():
    with pytest.raises(ValueError, match="points"):
        S.curve_ci(np.arange(3), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        S.curve_ci([0, 1], [[0.0, np.nan]])
    with pytest.raises(ValueError, match="statistic must be one of"):
        S.curve_ci([0], [[1.0]], statistic="max")
    with pytest.raises(ValueError, match="confidence"):
        S.curve_ci([0], [[1.0]], confidence=1.5)


def test_sensitivity_ci_one_interval_per_value():
    rng = np.random.default_rng(6)
    data = {1e-3: rng.normal(size=6), 1e-4: rng.normal(size=(5, 2))}
    xs, est = S.sensitivity_ci(data, "iqm", reps=200, seed=1)
    np.testing.assert_allclose(xs, [1e-4, 1e-3])  # sorted
    assert est.shape == (2, 3)
    for x, row in zip(xs, est, strict=True):
        np.testing.assert_allclose(row, S.stratified_bootstrap_ci(data[float(x)], S.iqm, reps=200, seed=1))
    with pytest.raises(ValueError, match="statistic must be one of"):
        S.sensitivity_ci(data, "max")


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


def test_aggregate_matches_individual_statistics():
    x = _data(10)
    agg = S.aggregate(x, reps=500, seed=5)
    assert list(agg) == list(S.METRICS) == ["median", "iqm", "mean", "optimality_gap"]
    assert agg["iqm"][0] == pytest.approx(S.iqm(x))
    assert agg["median"][0] == pytest.approx(S.median(x))
    assert agg["mean"][0] == pytest.approx(S.mean(x))
    assert agg["optimality_gap"][0] == pytest.approx(S.optimality_gap(x))
    # same seed -> same replications as the single-statistic call
    np.testing.assert_allclose(agg["iqm"], S.stratified_bootstrap_ci(x, S.iqm, reps=500, seed=5))
    for p, lo, hi in agg.values():
        assert lo <= p <= hi


def test_summarize_runs_hand_computed():
    # 1, 2, 3, 4: mean 2.5, median 2.5, IQM (cut 1 each side -> 2, 3) 2.5,
    # sample std sqrt(((1.5^2 + 0.5^2) * 2) / 3) = sqrt(5/3)
    s = S.summarize_runs([1.0, 2.0, 3.0, 4.0], reps=500)
    assert s["n"] == 4
    assert s["mean"] == s["median"] == s["iqm"] == pytest.approx(2.5)
    assert s["std"] == pytest.approx(math.sqrt(5 / 3))
    assert s["iqm_lo"] <= 2.5 <= s["iqm_hi"]
    assert (s["min"], s["max"]) == (1.0, 4.0)
    # median: the plain median of the group's values (the mean here would be 4)
    assert S.summarize_runs([1.0, 2.0, 9.0], reps=50)["median"] == 2.0
    one = S.summarize_runs([3.0])
    assert one["n"] == 1 and math.isnan(one["std"])
    assert one["iqm_lo"] == one["iqm"] == one["iqm_hi"] == 3.0


def test_method_dict_helpers():
    rng = np.random.default_rng(0)
    d = {"weight": rng.normal(1.0, size=(5, 2)), "none": rng.normal(size=(5, 2))}
    est = S.aggregate_methods(d, reps=200)
    assert set(est) == set(S.METRICS) and set(est["iqm"]) == {"weight", "none"}
    # a method's interval does not depend on the other methods in the dict
    assert S.aggregate_methods({"none": d["none"]}, reps=200)["iqm"]["none"] == est["iqm"]["none"]
    poi = S.pairwise_probability_of_improvement(d, [("weight", "none")], reps=200)
    assert list(poi) == ["weight vs none"]
    with pytest.raises(KeyError):
        S.pairwise_probability_of_improvement(d, [("weight", "batch")])
    prof = S.performance_profiles(d, np.linspace(-1, 2, 7), reps=200)
    assert prof["weight"][0].shape == (7,)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        S.iqm,
        S.mean,
        S.median,
        S.optimality_gap,
        S.summarize_runs,
        S.aggregate,
        lambda x: S.stratified_bootstrap_ci(x, S.iqm),
    ],
)
def test_nan_refused_with_clear_message(fn):
    x = np.array([[1.0, 2.0], [np.nan, 3.0]])
    with pytest.raises(ValueError, match=r"1 NaN .*first at run 1, task 0"):
        fn(x)


def test_inf_and_empty_refused():
    with pytest.raises(ValueError, match="infinite"):
        S.iqm([1.0, np.inf])
    for empty in ([], np.zeros((0, 3)), np.zeros((3, 0))):
        with pytest.raises(ValueError, match="empty"):
            S.iqm(empty)
    with pytest.raises(ValueError, match="empty"):
        S.aggregate_methods({})
    with pytest.raises(ValueError, match="NaN"):
        S.probability_of_improvement([1.0, 2.0], [np.nan, 1.0])
    with pytest.raises(ValueError):
        S.iqm(np.zeros((2, 2, 2)))


def test_bad_bootstrap_arguments():
    x = _data(4)
    with pytest.raises(ValueError, match="confidence"):
        S.stratified_bootstrap_ci(x, S.mean, confidence=95)
    with pytest.raises(ValueError, match="reps"):
        S.stratified_bootstrap_ci(x, S.mean, reps=0)
    with pytest.raises(ValueError, match="same number of tasks"):
        S.stratified_bootstrap_ci([np.zeros((3, 2)), np.zeros((3, 1))], S.probability_of_improvement)

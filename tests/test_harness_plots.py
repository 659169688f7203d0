"""Tests of wnrl.harness.reports.plots: every figure is a readable, non-trivial PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from wnrl.harness.reports import palette
from wnrl.harness.reports import plots as P
from wnrl.harness.stats import aggregate as S

MIN_BYTES = 10_000


def _check_png(path: Path, expected: Path) -> np.ndarray:
    assert path == expected and path.is_file()
    assert path.stat().st_size > MIN_BYTES
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert img.std() > 0.01  # not a blank canvas
    return img


@pytest.fixture
def scores() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "weight": rng.normal(0.8, 0.2, size=(6, 3)),
        "none": rng.normal(0.6, 0.3, size=(6, 3)),
        "batch": rng.normal(0.5, 0.2, size=(6, 3)),
    }


def test_plot_learning_curves(tmp_path):
    rng = np.random.default_rng(1)
    steps = np.linspace(0, 10_000, 21)
    curves = {
        "weight": (steps, np.cumsum(rng.normal(1.0, 1.0, size=(5, 21)), axis=1)),
        "none": (steps, np.cumsum(rng.normal(0.7, 1.0, size=(5, 21)), axis=1)),
        "single run": (steps[::2], np.arange(11.0)),  # 1-D: one run, band collapses
    }
    out = P.plot_learning_curves(curves, tmp_path / "sub" / "curves.png", "CartPole-v1", reps=200, seed=0)
    _check_png(out, tmp_path / "sub" / "curves.png")
    out = P.plot_learning_curves(curves, tmp_path / "mean.png", "mean", statistic="mean", reps=50)
    _check_png(out, tmp_path / "mean.png")
    with pytest.raises(ValueError, match="points"):
        P.plot_learning_curves({"x": (steps, np.zeros((2, 5)))}, tmp_path / "bad.png", "bad")
    with pytest.raises(ValueError, match="NaN"):
        P.plot_learning_curves({"x": (steps[:2], [[0.0, np.nan]])}, tmp_path / "bad.png", "bad")
    with pytest.raises(ValueError, match="empty"):
        P.plot_learning_curves({}, tmp_path / "bad.png", "bad")


def test_plot_intervals(tmp_path, scores):
    est = S.aggregate_methods(scores, reps=200)
    out = P.plot_intervals(est, tmp_path / "intervals.png", "Aggregate metrics", xlabel="normalized score")
    _check_png(out, tmp_path / "intervals.png")
    # a method missing from one panel keeps its row there, empty
    est["iqm"].pop("batch")
    _check_png(P.plot_intervals(est, tmp_path / "partial.png", "partial"), tmp_path / "partial.png")


def test_plot_probability_of_improvement(tmp_path, scores):
    poi = S.pairwise_probability_of_improvement(
        scores, [("weight", "none"), ("weight", "batch"), ("batch", "none")], reps=200
    )
    out = P.plot_probability_of_improvement(poi, tmp_path / "poi.png", "P(X > Y)")
    _check_png(out, tmp_path / "poi.png")


def test_plot_performance_profiles(tmp_path, scores):
    taus = np.linspace(0.0, 1.5, 31)
    profiles = S.performance_profiles(scores, taus, reps=200)
    out = P.plot_performance_profiles(profiles, taus, tmp_path / "profiles.png", "Profiles")
    _check_png(out, tmp_path / "profiles.png")
    with pytest.raises(ValueError, match="len\\(taus\\)"):
        P.plot_performance_profiles(profiles, taus[:5], tmp_path / "bad.png", "bad")


def test_plot_sensitivity(tmp_path):
    rng = np.random.default_rng(2)
    lrs = [1e-4, 3e-4, 1e-3, 3e-3]
    data = {
        "weight": {lr: rng.normal(400, 30, size=5) for lr in lrs},
        "none": {lr: rng.normal(400 - 1e5 * lr, 60, size=5) for lr in lrs},
    }
    out = P.plot_sensitivity(data, tmp_path / "lr.png", "Learning-rate sensitivity", reps=200)
    _check_png(out, tmp_path / "lr.png")
    lin = {"weight": {0.0: rng.normal(size=4), 0.1: rng.normal(size=4)}}
    out = P.plot_sensitivity(lin, tmp_path / "noise.png", "Noise", xlabel="noise std", log_x=False, reps=100)
    _check_png(out, tmp_path / "noise.png")
    with pytest.raises(ValueError, match="log_x"):
        P.plot_sensitivity(lin, tmp_path / "bad.png", "bad", log_x=True)


def test_label_colours_are_consistent_and_colour_blind_safe():
    palette.reset_label_colors()
    try:
        palette.register_labels(["none", "weight"])
        assert palette.color_for("none") == palette.OKABE_ITO[0]
        assert palette.color_for("weight") == palette.OKABE_ITO[1]
        assert palette.color_for("batch") == palette.OKABE_ITO[2]  # first seen later -> next slot
        assert palette.color_for("weight") == palette.OKABE_ITO[1]  # stable on every call
        labels = [f"m{i}" for i in range(5)]
        assert len({palette.color_for(lab) for lab in ["none", "weight", "batch"] + labels}) == 8
        assert len({palette.style_for(lab) for lab in ["none", "weight", "batch"] + labels}) == 8
        palette.set_label_colors({"weight": "#123456"})
        assert palette.color_for("weight") == "#123456"
        assert palette.color_for("weight", colors={"weight": "red"}) == "red"
    finally:
        palette.reset_label_colors()


@pytest.fixture
def saved_figures(monkeypatch):
    """The figures the plots save, in order (each still written to its file)."""
    figs = []
    real_save = P._save

    def capture(fig, path):
        figs.append(fig)
        return real_save(fig, path)

    monkeypatch.setattr(P, "_save", capture)
    return figs


def test_figures_have_titles_axis_labels_and_legends(tmp_path, scores, saved_figures):
    figs = saved_figures
    P.plot_intervals(S.aggregate_methods(scores, reps=50), tmp_path / "a.png", "Agg")
    axes = figs[-1].axes
    assert figs[-1]._suptitle.get_text() == "Agg"
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["batch", "none", "weight"]
    assert [a.get_title() for a in axes] == ["Median", "IQM", "Mean", "Optimality gap\n(lower is better)"]
    P.plot_probability_of_improvement({"weight vs none": (0.7, 0.6, 0.8)}, tmp_path / "b.png", "PoI")
    ax = figs[-1].axes[0]
    assert ax.get_title() == "PoI" and ax.get_xlim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["weight vs none"]
    steps = np.arange(4.0)
    P.plot_learning_curves({"w": (steps, np.ones((3, 4)))}, tmp_path / "c.png", "LC", reps=20)
    taus = np.linspace(0, 1, 5)
    P.plot_performance_profiles(S.performance_profiles(scores, taus, reps=20), taus, tmp_path / "d.png", "PP")
    P.plot_sensitivity({"w": {1e-3: [1.0, 2.0]}}, tmp_path / "e.png", "LR", reps=20)
    for fig in figs[2:]:
        ax = fig.axes[0]
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert ax.get_legend() is not None


def test_plots_draw_the_numbers_of_stats(tmp_path, saved_figures):
    # plots only draws: the curve line and band are stats.curve_ci's, the sensitivity markers
    # and error bars stats.sensitivity_ci's.
    figs = saved_figures
    rng = np.random.default_rng(7)
    steps, returns = np.arange(6.0), rng.normal(size=(5, 6)).cumsum(axis=1)
    P.plot_learning_curves({"w": (steps, returns)}, tmp_path / "c.png", "LC", reps=300, seed=2)
    band = S.curve_ci(steps, returns, reps=300, seed=2)
    ax = figs[-1].axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), band.point)
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]  # fill_between's polygon: lo and hi
    assert np.isin(ys, np.r_[band.lo, band.hi]).all()
    assert np.isin(np.r_[band.lo, band.hi], ys).all()
    assert ax.lines[0].get_label() == "w (n=5)"
    per_x = {1e-3: rng.normal(size=5), 1e-2: rng.normal(size=5)}
    P.plot_sensitivity({"w": per_x}, tmp_path / "s.png", "LR", reps=300, seed=2)
    _, est = S.sensitivity_ci(per_x, "iqm", reps=300, seed=2)
    np.testing.assert_allclose(figs[-1].axes[0].lines[0].get_ydata(), est[:, 0])

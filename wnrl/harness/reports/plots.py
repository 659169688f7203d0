"""Figures for comparisons over seeds (rliable-style), rendered with matplotlib's Agg backend.

Every function writes one PNG and returns its path (parent folders are created). Figures are
built on ``matplotlib.figure.Figure`` with an explicit ``FigureCanvasAgg``: no pyplot global
state, no change to the process-wide backend, safe in worker threads and headless machines.

A method label keeps the same colour, line style and marker in every figure of the process
(:mod:`wnrl.harness.reports.palette`); every function also takes ``colors={label: colour}`` to override
per call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from wnrl.harness.reports.palette import color_for, style_for
from wnrl.harness.stats.aggregate import STATISTIC_LABELS, Interval, curve_ci, sensitivity_ci
from wnrl.harness.stats.aggregate import statistic as statistic_fn

__all__ = [
    "plot_learning_curves",
    "plot_intervals",
    "plot_probability_of_improvement",
    "plot_performance_profiles",
    "plot_sensitivity",
]

_METRIC_TITLES = {
    "median": "Median",
    "iqm": "IQM",
    "mean": "Mean",
    "optimality_gap": "Optimality gap\n(lower is better)",
}
_DPI = 150

PathLike = str | os.PathLike


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(ax: Any, fig: Figure, path: PathLike, title: str, xlabel: str, ylabel: str) -> Path:
    """Labels, grid and legend of a single-panel line plot, then save it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", frameon=False)
    return _save(fig, path)


def _save(fig: Figure, path: PathLike) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=_DPI, format="png")
    return p


def _nonempty(d: Mapping[str, Any], name: str) -> None:
    if not d:
        raise ValueError(f"{name} is empty: nothing to plot")


def _stat_ylabel(ylabel: str, statistic: str, confidence: float) -> str:
    """``"<ylabel> (<statistic>, <confidence>% CI)"``, e.g. ``"return (IQM, 95% CI)"``.

    :param ylabel: the score's unit
    :param statistic: a name of ``stats.STATISTICS``
    :param confidence: interval coverage
    """
    return f"{ylabel} ({STATISTIC_LABELS[statistic]}, {round(confidence * 100)}% CI)"


def _dodge(xs: NDArray[np.float64], i: int, n: int, all_x: Sequence[float], log_x: bool) -> NDArray[np.float64]:
    """Shift series ``i`` of ``n`` slightly sideways so error bars of different series do not hide
    each other: by a factor ``10^(0.02 (i - (n-1)/2))`` on a log axis, else by
    ``0.04 gap (i - (n-1)/2)`` with ``gap`` the smallest spacing of the x values.

    :param xs: the series' x values
    :param i: the series' index
    :param n: the number of series
    :param all_x: every x value of the figure, sorted
    :param log_x: logarithmic x axis
    """
    offset = i - (n - 1) / 2
    if log_x:
        return xs * 10 ** (0.02 * offset)
    gap = float(np.min(np.diff(all_x))) if len(all_x) > 1 else 1.0
    return xs + 0.04 * gap * offset


def _interval_panel(ax: Any, items: Sequence[tuple[str, Interval, str]], show_labels: bool) -> None:
    """Horizontal interval bars (lo..hi) with a tick at the point, one row per item."""
    n = len(items)
    for row, (_, (p, lo, hi), colour) in enumerate(items):
        y = n - 1 - row  # first item on top
        if not np.isfinite([float(p), float(lo), float(hi)]).all():
            continue  # method absent from this panel: keep its row, draw nothing
        ax.barh(y, float(hi) - float(lo), left=float(lo), height=0.6, color=colour, alpha=0.75, edgecolor=colour)
        ax.vlines(float(p), y - 0.3, y + 0.3, color="black", linewidth=2)
    ax.set_yticks(range(n))
    ax.set_yticklabels([it[0] for it in reversed(items)])
    # Shared y axes share tick labels: hide them on the other panels, do not erase them.
    ax.tick_params(axis="y", labelleft=show_labels)
    ax.set_ylim(-0.6, n - 0.4)
    ax.grid(axis="x", alpha=0.3)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def plot_learning_curves(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: PathLike,
    title: str,
    ylabel: str = "return",
    xlabel: str = "environment steps",
    reps: int = 2000,
    seed: int | None = 0,
    statistic: str = "iqm",
    confidence: float = 0.95,
    colors: Mapping[str, str] | None = None,
) -> Path:
    """Learning curves: per-point IQM (or mean/median) across runs with a bootstrap CI band.

    The line and band are :func:`wnrl.harness.stats.aggregate.curve_ci`: the band resamples whole runs with
    replacement (the same runs at every point), a pointwise ``confidence`` interval of the
    statistic across seeds.

    :param curves: label -> ``(steps (points,), returns (runs, points))``; a 1-D ``returns`` is a
        single run (its band collapses onto the line). Methods may use different step vectors.
    :param path: output PNG path.
    :param title: figure title.
    :param ylabel: y-axis label.
    :param xlabel: x-axis label.
    :param reps: bootstrap replications.
    :param seed: RNG seed.
    :param statistic: ``"iqm"``, ``"mean"`` or ``"median"`` across runs at each point.
    :param confidence: band coverage.
    :param colors: per-call label -> colour overrides.
    :returns: the written path.
    """
    _nonempty(curves, "curves")
    fig = _new_figure((6.4, 4.2))
    ax = fig.add_subplot()
    for label, (steps, returns) in curves.items():
        band = curve_ci(steps, returns, statistic, reps, confidence, seed, name=f"returns of {label!r}")
        colour = color_for(label, colors)
        ls, _ = style_for(label)
        ax.plot(band.steps, band.point, color=colour, linestyle=ls, linewidth=2, label=f"{label} (n={band.runs})")
        ax.fill_between(band.steps, band.lo, band.hi, color=colour, alpha=0.2, linewidth=0)
    return _finish(ax, fig, path, title, xlabel, _stat_ylabel(ylabel, statistic, confidence))


def plot_intervals(
    estimates: Mapping[str, Mapping[str, Interval]],
    path: PathLike,
    title: str,
    xlabel: str = "score",
    colors: Mapping[str, str] | None = None,
) -> Path:
    """Interval estimates, one panel per metric, one horizontal bar per method.

    The bar spans the confidence interval, the black tick marks the point estimate (the look of
    rliable's ``plot_interval_estimates``).

    :param estimates: ``{metric: {label: (point, lo, hi)}}``, e.g.
        :func:`wnrl.harness.stats.aggregate.aggregate_methods`. Known metric keys get display titles.
    :param path: output PNG path.
    :param title: figure title.
    :param xlabel: x-axis label shared by the panels.
    :param colors: per-call label -> colour overrides.
    :returns: the written path.
    """
    _nonempty(estimates, "estimates")
    labels: list[str] = []
    for per_method in estimates.values():
        labels += [lab for lab in per_method if lab not in labels]
    if not labels:
        raise ValueError("estimates hold no method")
    k = len(estimates)
    fig = _new_figure((2.8 * k + 1.4, 0.5 * len(labels) + 1.6))
    axes = fig.subplots(1, k, sharey=True, squeeze=False)[0]
    for j, (metric, per_method) in enumerate(estimates.items()):
        items = [
            (lab, per_method[lab], color_for(lab, colors))
            if lab in per_method
            else (lab, (np.nan, np.nan, np.nan), "none")
            for lab in labels
        ]
        _interval_panel(axes[j], items, show_labels=(j == 0))
        axes[j].set_title(_METRIC_TITLES.get(metric, metric))
    fig.supxlabel(xlabel)
    fig.suptitle(title)
    return _save(fig, path)


def plot_probability_of_improvement(
    poi: Mapping[str, Interval],
    path: PathLike,
    title: str,
    xlabel: str = "P(X > Y)",
    colors: Mapping[str, str] | None = None,
) -> Path:
    """Probability of improvement of X over Y per pair, with intervals and a 0.5 reference.

    :param poi: ``{"X vs Y": (point, lo, hi)}``, e.g.
        :func:`wnrl.harness.stats.aggregate.pairwise_probability_of_improvement`. A bar takes the colour
        of its X label (the part before ``" vs "``).
    :param path: output PNG path.
    :param title: figure title.
    :param xlabel: x-axis label.
    :param colors: per-call label -> colour overrides.
    :returns: the written path.
    """
    _nonempty(poi, "poi")
    items = [(pair, iv, color_for(pair.split(" vs ")[0], colors)) for pair, iv in poi.items()]
    fig = _new_figure((5.6, 0.55 * len(items) + 1.5))
    ax = fig.add_subplot()
    _interval_panel(ax, items, show_labels=True)
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1.2, label="no difference (0.5)")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("X vs Y")
    ax.set_title(title)
    ax.legend(loc="lower right", frameon=False, fontsize="small")
    return _save(fig, path)


def plot_performance_profiles(
    profiles: Mapping[str, tuple[ArrayLike, ArrayLike, ArrayLike]],
    taus: ArrayLike,
    path: PathLike,
    title: str,
    xlabel: str = r"normalized score $\tau$",
    ylabel: str = r"fraction of runs with score $> \tau$",
    colors: Mapping[str, str] | None = None,
) -> Path:
    """Performance profiles (run-score distributions) with confidence bands.

    :param profiles: label -> ``(frac, lo, hi)`` arrays over ``taus``, e.g.
        :func:`wnrl.harness.stats.aggregate.performance_profiles`.
    :param taus: thresholds, shape ``(K,)``.
    :param path: output PNG path.
    :param title: figure title.
    :param xlabel: x-axis label.
    :param ylabel: y-axis label.
    :param colors: per-call label -> colour overrides.
    :returns: the written path.
    """
    _nonempty(profiles, "profiles")
    t = np.asarray(taus, dtype=np.float64).reshape(-1)
    fig = _new_figure((6.4, 4.2))
    ax = fig.add_subplot()
    for label, (frac, lo, hi) in profiles.items():
        f, low, high = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (frac, lo, hi))
        if not f.size == low.size == high.size == t.size:
            raise ValueError(f"{label!r}: profile arrays must have len(taus) = {t.size} entries")
        colour = color_for(label, colors)
        ls, _ = style_for(label)
        ax.plot(t, f, color=colour, linestyle=ls, linewidth=2, label=label)
        ax.fill_between(t, low, high, color=colour, alpha=0.2, linewidth=0)
    ax.set_ylim(-0.02, 1.02)
    return _finish(ax, fig, path, title, xlabel, ylabel)


def plot_sensitivity(
    data: Mapping[str, Mapping[float, ArrayLike]],
    path: PathLike,
    title: str,
    xlabel: str = "learning rate",
    ylabel: str = "return",
    log_x: bool = True,
    reps: int = 2000,
    seed: int | None = 0,
    statistic: str = "iqm",
    confidence: float = 0.95,
    colors: Mapping[str, str] | None = None,
    log_y: bool = False,
) -> Path:
    """Hyperparameter sensitivity: statistic with a bootstrap CI per x value, one line per label.

    Each value is a 1-D vector of per-run scores (or a ``(runs, tasks)`` matrix; the interval is
    then stratified by task). Markers of different labels are dodged slightly sideways so their
    error bars do not hide each other; the x ticks stay at the true values.

    :param data: label -> ``{x_value: scores}``.
    :param path: output PNG path.
    :param title: figure title.
    :param xlabel: x-axis label (the swept hyperparameter).
    :param ylabel: y-axis label (the score's unit).
    :param log_x: logarithmic x axis (x values must be > 0).
    :param reps: bootstrap replications.
    :param seed: RNG seed.
    :param statistic: ``"iqm"``, ``"mean"`` or ``"median"``.
    :param confidence: interval coverage.
    :param colors: per-call label -> colour overrides.
    :param log_y: logarithmic y axis (the values must be > 0).
    :returns: the written path.
    """
    _nonempty(data, "data")
    statistic_fn(statistic)  # an unknown name fails before anything is computed
    all_x = sorted({float(x) for per in data.values() for x in per})
    if not all_x:
        raise ValueError("data holds no x value")
    if log_x and all_x[0] <= 0:
        raise ValueError("log_x needs x values > 0")
    fig = _new_figure((6.4, 4.2))
    ax = fig.add_subplot()
    for i, (label, per_x) in enumerate(data.items()):
        if not per_x:
            continue
        xs, est = sensitivity_ci(per_x, statistic, reps, confidence, seed, name=repr(label))
        colour = color_for(label, colors)
        ls, marker = style_for(label)
        ax.errorbar(
            _dodge(xs, i, len(data), all_x, log_x),
            est[:, 0],
            yerr=[est[:, 0] - est[:, 1], est[:, 2] - est[:, 0]],
            color=colour,
            linestyle=ls,
            marker=marker,
            capsize=3,
            linewidth=2,
            label=label,
        )
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xticks(all_x)
    ax.set_xticklabels([f"{x:g}" for x in all_x])
    ax.minorticks_off()
    return _finish(ax, fig, path, title, xlabel, _stat_ylabel(ylabel, statistic, confidence))

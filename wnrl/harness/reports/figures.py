"""The figures of a sweep's report (``figures/*.png``), drawn by :mod:`wnrl.harness.reports.plots`.

Learning curves per task (one line per method, IQM over seeds with a bootstrap band), the
final-score intervals, the probability of improvement, the performance profiles and, when the grid
varies the learning rate, the learning-rate sensitivity (over all tasks, and per environment when
there are several) and the effective learning rate against it. Every number is the summary's or
:mod:`wnrl.harness.stats.aggregate`'.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from wnrl.harness.reports import palette, plots
from wnrl.harness.reports.rows import Design, Row, finished
from wnrl.harness.reports.summary import Summary
from wnrl.harness.reports.tables import short_key

__all__ = ["Curves", "curves", "make_figures"]

#: Task label -> method -> ``(steps (points,), returns (runs, points))``.
Curves = dict[str, dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]]


def _slug(text: str) -> str:
    """A file-name-safe form of ``text`` (at most 100 characters).

    :param text: e.g. a task label
    """
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_")[:100] or "all"


def _cell_label(d: Design, r: Row) -> str:
    """``key=value, ...`` of a row's cell keys (``all runs`` without cell keys).

    :param d: the design
    :param r: the row
    """
    return ", ".join(f"{short_key(k, d.cell_keys)}={r.value(k)}" for k in d.cell_keys) or "all runs"


def curves(d: Design, rows: list[Row]) -> Curves:
    """Per task label: method -> ``(steps, returns (runs, points))`` of the finished runs' curves;
    a curve on other steps than the first run's is interpolated onto them.

    :param d: the design
    :param rows: the rows
    """
    out: Curves = {}
    by_cell: dict[str, dict[str, list[tuple[list[int], list[float]]]]] = {}
    for r in finished(rows):
        c = r.record.curve if r.record is not None else None
        if c is not None and c.steps:
            by_cell.setdefault(_cell_label(d, r), {}).setdefault(d.method(r), []).append((c.steps, c.mean))
    for label, by_m in by_cell.items():
        for m, cs in by_m.items():
            steps = np.asarray(cs[0][0], dtype=float)
            ys = [np.interp(steps, np.asarray(s, dtype=float), np.asarray(y, dtype=float)) for s, y in cs]
            out.setdefault(label, {})[m] = (steps, np.vstack(ys))
    return out


def _lr_figures(summary: Summary, fig_dir: Path, reps: int) -> list[tuple[str, Path]]:
    """The learning-rate sensitivity figure over all tasks, one per environment when there are
    several, and the effective learning rate against the learning rate (each one when it has data).

    :param summary: the summary
    :param fig_dir: the figures folder
    :param reps: bootstrap resamples
    """
    what = "(IQM of normalised final scores, 95% CI)"
    panels = [(f"Learning-rate sensitivity {what}", "lr_sensitivity.png", summary.lr_sensitivity)]
    for env, per in summary.lr_by_env.items():
        panels.append(
            (
                f"Learning-rate sensitivity, {env} (normalised IQM, 95% CI)",
                f"lr_sensitivity_{_slug(env)}.png",
                per["sensitivity"],
            )
        )
    figs = []
    for name, file, sensitivity in panels:
        data = {m: {float(x): np.asarray(v) for x, v in d.items()} for m, d in sensitivity.items() if d}
        if not data:
            continue
        path = plots.plot_sensitivity(
            data, fig_dir / file, name, ylabel="normalised score", reps=reps, seed=summary.seed
        )
        figs.append((name, path))
    if summary.eff_lr_by_lr:
        name = "Effective learning rate per step (IQM over runs, 95% CI)"
        data = {m: {float(x): np.asarray(v) for x, v in d.items()} for m, d in summary.eff_lr_by_lr.items()}
        path = plots.plot_sensitivity(
            data, fig_dir / "eff_lr.png", name, ylabel="‖ΔW‖ / ‖W‖ per step", reps=reps, seed=summary.seed, log_y=True
        )
        figs.append((name, path))
    return figs


def _summary_figures(summary: Summary, fig_dir: Path) -> list[tuple[str, Path]]:
    """Final-score intervals, probability of improvement and performance profiles.

    :param summary: the summary
    :param fig_dir: the figures folder
    """
    figs = []
    if summary.aggregate:
        title = "Final score over all tasks (normalised; 95% stratified bootstrap CIs)"
        figs.append(
            (
                title,
                plots.plot_intervals(summary.aggregate, fig_dir / "final_scores.png", title, xlabel="normalised score"),
            )
        )
    if summary.poi:
        title = f"Probability of improvement over {summary.design.baseline} (95% CIs)"
        figs.append(
            (
                title,
                plots.plot_probability_of_improvement(summary.poi, fig_dir / "probability_of_improvement.png", title),
            )
        )
    if summary.profiles is not None:
        title = "Performance profiles (normalised final scores, 95% CI bands)"
        figs.append(
            (
                title,
                plots.plot_performance_profiles(
                    summary.profiles.by_method, summary.profiles.taus, fig_dir / "performance_profiles.png", title
                ),
            )
        )
    return figs


def make_figures(sweep_dir: Path, rows: list[Row], summary: Summary, reps: int = 2000) -> list[tuple[str, Path]]:
    """Write the figures into ``sweep_dir/figures`` (old PNGs removed); returns ``(title, path)``.

    :param sweep_dir: the sweep directory
    :param rows: rows from :func:`load_rows`
    :param summary: the output of :func:`analyse`
    :param reps: bootstrap resamples for the bands
    """
    fig_dir = sweep_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in fig_dir.glob("*.png"):
        old.unlink()
    palette.register_labels(summary.design.methods)
    figs = []
    for label, by_method in curves(summary.design, rows).items():
        path = plots.plot_learning_curves(
            by_method,
            fig_dir / f"curves_{_slug(label)}.png",
            label,
            ylabel="evaluation return",
            reps=reps,
            seed=summary.seed,
        )
        figs.append((f"Learning curves: {label} (IQM over seeds, 95% CI)", path))
    figs += _summary_figures(summary, fig_dir)
    if summary.lr_sensitivity:
        figs += _lr_figures(summary, fig_dir, reps)
    return figs

"""The report of a sweep directory: ``results.csv``, ``summary.json``, ``report.md``, ``figures/``.

* :mod:`wnrl.harness.reports.rows`: one typed :class:`~wnrl.harness.reports.rows.Row` per run (finished, failed,
  missing, corrupt, invalid), read only through :func:`wnrl.train.record.read_record`;
* :mod:`wnrl.harness.reports.summary`: every number (:func:`analyse` -> :class:`Summary`, what
  ``summary.json`` holds; what is compared, and how, is described there);
* :mod:`wnrl.harness.reports.tables`: the tables, each one list of column definitions;
* :mod:`wnrl.harness.reports.figures`: the figures, drawn by :mod:`wnrl.harness.reports.plots`;
* :mod:`wnrl.harness.reports.header`: the report's head (command, grid, seeds, run counts, times);
* this module: ``report.md`` and :func:`build_report`.

Every text file is written atomically (:func:`wnrl.train.rundir.atomic_write_text`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from wnrl.harness.reports.diagnostics import diagnostics_section
from wnrl.harness.reports.figures import make_figures
from wnrl.harness.reports.header import header_lines
from wnrl.harness.reports.outpaths import check_report_outputs
from wnrl.harness.reports.rows import Row, load_rows, select_rows
from wnrl.harness.reports.sections import lr_range_section, plan_section, too_few_seeds
from wnrl.harness.reports.summary import Summary, analyse
from wnrl.harness.reports.tables import (
    PROBLEM_COLUMNS,
    aggregate_columns,
    group_columns,
    markdown_table,
    poi_columns,
    write_results_csv,
)
from wnrl.harness.sweeps.values import LR_KEY
from wnrl.train.rundir import atomic_write_text

__all__ = [
    "MIN_SEEDS",
    "analyse",
    "build_report",
    "load_rows",
    "make_figures",
    "render_markdown",
    "seeds_warning",
    "write_results_csv",
]

#: Fewer finished seeds than this in a setting and the report warns that its intervals are
#: unreliable (a bootstrap over 3 values says little; rliable recommends many more).
MIN_SEEDS = 5

_VERSIONS = ("wnrl", "python", "torch", "stable_baselines3", "gymnasium", "numpy", "device", "host")


def seeds_warning(summary: Summary) -> str | None:
    """The warning of a report with fewer than :data:`MIN_SEEDS` finished seeds in a setting.

    :param summary: the summary
    """
    ns = [g.n for g in summary.groups if g.n > 0]
    if not ns or min(ns) >= MIN_SEEDS:
        return None
    lo, hi = min(ns), max(ns)
    count = f"{lo} seed{'s' * (lo != 1)}" if lo == hi else f"{lo} to {hi} finished seeds"
    return (
        f"Only {count} per setting: bootstrap intervals with fewer than {MIN_SEEDS} seeds are "
        "unreliable; rerun with more seeds (seeds: 10; `wnrl compare --add` keeps the runs done) "
        "before drawing conclusions."
    )


def _groups_section(summary: Summary) -> list[str]:
    """The per-setting table.

    :param summary: the summary
    """
    d = summary.design
    baseline = d.baseline if d.method_key is not None and len(d.methods) > 1 else None
    poi_text = (
        f" P(X > {baseline}): the probability that a run of the row's {d.method_key} beats a run of "
        f"{baseline} in the same setting of the other grid keys (Mann-Whitney U / (n m), all "
        "finished seeds of both)."
        if baseline
        else ""
    )
    return [
        "## Final return per setting",
        "",
        "Final return: the deterministic evaluation of the final policy (mean over the evaluation "
        "episodes). Median over seeds: the median of the group's final returns. IQM: interquartile "
        f"mean over seeds; 95% CIs: stratified bootstrap, {summary.reps} resamples. AUC: mean "
        "evaluation return over training." + poi_text,
        "",
        *markdown_table(group_columns(summary.design.keys, baseline), summary.groups),
        "",
    ]


def _cells_text(summary: Summary) -> str:
    """What the tasks are, in words.

    :param summary: the summary
    """
    d, nt = summary.design, len(summary.scores.cells)
    if not d.cell_keys:
        return "a single task"
    return f"the combinations of {', '.join(d.cell_keys)} ({nt} task{'s' * (nt != 1)})"


def _poi_section(summary: Summary) -> list[str]:
    """The probability-of-improvement table.

    :param summary: the summary
    """
    base = summary.design.baseline
    return [
        "### Probability of improvement",
        "",
        f"P(X > {base}): the probability that a run of X beats a run of {base} on the same task "
        "(Mann-Whitney U / (n m)), averaged over tasks; 0.5 = no difference.",
        "",
        *markdown_table(poi_columns(base), summary.poi.items()),
        "",
    ]


def _aggregate_section(summary: Summary) -> list[str]:
    """The aggregate table over tasks (normalised scores).

    :param summary: the summary
    """
    norm_txt = "; ".join(f"{e}: {n.low:g}..{n.high:g} ({n.how})" for e, n in summary.normalisation.items())
    return [
        "### Aggregate over tasks (normalised scores)",
        "",
        f"Scores normalised per environment as (return - low) / (high - low): {norm_txt}. "
        "Definitions of rliable: IQM over all runs × tasks; median: the median over tasks of the "
        "per-task mean scores; mean of per-task means; optimality gap: mean shortfall below 1 "
        "(lower is better).",
        "",
        *markdown_table(aggregate_columns(summary.aggregate), summary.scores.normalised),
        "",
    ]


def _per_env_section(summary: Summary) -> list[str]:
    """Each method's IQM and probability of improvement per environment (empty with one).

    :param summary: the summary
    """
    if not summary.by_env:
        return []
    base = summary.design.baseline
    envs = list(summary.by_env)
    head = " | ".join(f"{e}: IQM | {e}: P(X > {base})" for e in envs)
    lines = [
        "### Per environment",
        "",
        f"The same statistics over each environment's tasks alone (IQM of normalised scores, 95% CI; "
        f"P(X > {base}) averaged over that environment's tasks).",
        "",
        f"| method | {head} |",
        "|---|" + "---|---|" * len(envs),
    ]
    for m in summary.design.methods:
        cells = []
        for e in envs:
            iqm, poi = summary.by_env[e]["iqm"].get(m), summary.by_env[e]["poi"].get(f"{m} vs {base}")
            cells.append("—" if iqm is None else f"{iqm[0]:.3f} [{iqm[1]:.3f}, {iqm[2]:.3f}]")
            cells.append("—" if poi is None else f"{poi[0]:.3f} [{poi[1]:.3f}, {poi[2]:.3f}]")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _comparison_section(summary: Summary) -> list[str]:
    """The comparison of the methods over all tasks (empty without one).

    :param summary: the summary
    """
    if not (summary.poi or summary.aggregate):
        return []
    mk = summary.design.method_key
    lines = [
        f"## `{mk}` compared over all tasks" if mk else "## All runs",
        "",
        f"Tasks: {_cells_text(summary)}; the runs of a task are its seeds.",
        "",
    ]
    if summary.poi:
        lines += _poi_section(summary)
    if summary.aggregate:
        lines += _aggregate_section(summary)
    lines += _per_env_section(summary)
    return lines + lr_range_section(summary.lr_ranges, summary.lr_by_env)


def _figures_section(sweep_dir: Path, figs: list[tuple[str, Path]]) -> list[str]:
    """The figures, with paths relative to the sweep directory.

    :param sweep_dir: the sweep directory
    :param figs: ``(title, path)`` of the figures
    """
    if not figs:
        return []
    lines = ["## Figures", ""]
    for title, path in figs:
        lines += [f"### {title}", "", f"![{title}]({os.path.relpath(path, sweep_dir)})", ""]
    return lines


def _problem_sections(rows: list[Row]) -> list[str]:
    """The failed runs, and the corrupt and invalid ones, each with its error.

    :param rows: the rows
    """
    texts = {
        "failed": ("Failed runs", "Rerun them with `--retry-failed`; the traceback is in `runs/<id>/result.json`."),
        "corrupt": (
            "Corrupt results",
            "Their `result.json` cannot be read; the next `wnrl compare` deletes and reruns them.",
        ),
        "invalid": (
            "Finished runs left out",
            "They finished, but their final evaluation is missing or not finite, or their curve is malformed "
            "(see the error); they are left out.",
        ),
    }
    lines: list[str] = []
    for status, (title, how) in texts.items():
        these = [r for r in rows if r.status == status]
        if these:
            lines += [f"## {title} ({len(these)})", "", how, "", *markdown_table(PROBLEM_COLUMNS, these), ""]
    return lines


def _versions(sweep_dir: Path, rows: list[Row]) -> dict[str, Any]:
    """The ``system.json`` of the first finished run that has a readable one.

    :param sweep_dir: the sweep directory
    :param rows: the rows
    """
    for r in rows:
        if r.status == "finished":
            try:
                return dict(json.loads((sweep_dir / "runs" / r.id / "system.json").read_text()))
            except (OSError, ValueError):
                continue
    return {}


def _reproducibility(sweep_dir: Path, rows: list[Row]) -> list[str]:
    """Versions and where everything is.

    :param sweep_dir: the sweep directory
    :param rows: the rows
    """
    sysinfo = _versions(sweep_dir, rows)
    versions = ", ".join(f"{k} {sysinfo[k]}" for k in _VERSIONS if k in sysinfo) or "no finished run"
    return [
        "## Reproducibility",
        "",
        f"Versions (from a run's system.json): {versions}.",
        "",
        f"Every run directory `runs/<id>/` holds its resolved config.yaml, result.json (its record), curve.json, "
        f"model.zip and TensorBoard events (tb/, with HParams): compare all runs with "
        f"`tensorboard --logdir {sweep_dir}` (HParams tab: one row per run). The per-run table is "
        f"`results.csv`, every number of this report is in `summary.json`; rerun the command above to "
        f"resume or reproduce (finished runs are kept).",
        "",
    ]


def _diagnostics(summary: Summary) -> list[str]:
    """The diagnostics section (it says when the values pool several learning rates).

    :param summary: the summary
    """
    return diagnostics_section(summary.diagnostics, over_lrs=LR_KEY in summary.design.cell_keys)


def render_markdown(
    sweep_dir: Path, index: dict[str, Any], rows: list[Row], summary: Summary, figs: list[tuple[str, Path]]
) -> str:
    """The text of ``report.md``.

    :param sweep_dir: the sweep directory
    :param index: the sweep index
    :param rows: rows from :func:`load_rows`
    :param summary: the output of :func:`analyse`
    :param figs: ``(title, path)`` of the figures
    """
    warning = seeds_warning(summary)
    lines = [*header_lines(index, summary), *([f"> **Warning:** {warning}", ""] if warning else [])]
    lines += [*_groups_section(summary), *_comparison_section(summary), *_diagnostics(summary)]
    lines += [line for note in summary.scores.notes for line in (f"> Note: {note}.", "")]
    lines += plan_section(
        *summary.seed_plan, summary.plan_width, summary.plan_poi, too_few_seeds(summary.scores.normalised)
    )
    lines += _figures_section(sweep_dir, figs) + _problem_sections(rows) + _reproducibility(sweep_dir, rows)
    return "\n".join(lines)


def plan_report(
    sweep_dir: Path,
    width: float = 0.1,
    target_poi: float = 0.6,
    reps: int = 2000,
    only: dict[str, str] | None = None,
) -> str:
    """The "How many seeds?" section of a sweep directory as text (``wnrl report --plan``).

    :param sweep_dir: a directory written by ``wnrl compare``
    :param width: target width of the IQM's 95% interval (normalised scores)
    :param target_poi: the probability of improvement the power plan is for
    :param reps: bootstrap resamples of the summary
    :param only: grid key -> value (as the report writes it): plan from those runs alone
    :raises ConfigError: when a key of ``only`` is not a grid key or no run has its value
    """
    index, rows = load_rows(sweep_dir)
    rows = select_rows(rows, index["grid_keys"], only or {}, where=str(sweep_dir))
    summary = analyse(index, rows, reps, 0, width, target_poi)
    why_not = too_few_seeds(summary.scores.normalised)
    if why_not:
        return why_not
    lines = plan_section(*summary.seed_plan, width, target_poi)
    return "\n".join(lines) if lines else "No finished runs over tasks to plan from yet."


def build_report(sweep_dir: Path, reps: int = 2000, seed: int = 0) -> Path:
    """Write ``results.csv``, ``summary.json``, ``figures/*.png`` and ``report.md``.

    :param sweep_dir: a directory written by ``wnrl compare``
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    :returns: the path of ``report.md``
    """
    index, rows = load_rows(sweep_dir)
    check_report_outputs(sweep_dir, str(sweep_dir))  # before the first file is written
    write_results_csv(sweep_dir / "results.csv", index["grid_keys"], rows)
    summary = analyse(index, rows, reps, seed)
    figs = make_figures(sweep_dir, rows, summary, reps)
    atomic_write_text(sweep_dir / "summary.json", json.dumps(summary.to_json(), indent=2))
    path = sweep_dir / "report.md"
    atomic_write_text(path, render_markdown(sweep_dir, index, rows, summary, figs))
    warning = seeds_warning(summary)
    if warning:
        print(f"wnrl: warning: {warning}", file=sys.stderr, flush=True)
    return path

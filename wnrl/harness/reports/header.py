"""The head of a sweep's ``report.md``: title, command, grid, seeds, the sweeps in the directory,
run counts and times (the rest is :mod:`wnrl.harness.reports.build`)."""

from __future__ import annotations

from typing import Any

from wnrl.harness.reports.rows import STATUS_TEXT
from wnrl.harness.reports.summary import Summary
from wnrl.harness.sweeps.values import show

__all__ = ["header_lines"]


def _run_counts(summary: Summary) -> str:
    """``N: a finished, b failed, c not run (yet)[, d corrupt (will be rerun)][, ...]``.

    :param summary: the summary
    """
    c = summary.counts
    always = ("finished", "failed", "missing")
    parts = [f"{c[s]} {STATUS_TEXT[s]}" for s in STATUS_TEXT if c[s] or s in always]
    return f"{sum(c.values())}: {', '.join(parts)}"


def _times(summary: Summary) -> str:
    """The line of training, CPU and wall time.

    :param summary: the summary
    """
    text = f"- training time summed over runs: {summary.train_seconds / 60:.1f} min"
    if summary.cpu_seconds:
        text += f" (CPU time of the whole runs: {summary.cpu_seconds / 60:.1f} min)"
    if summary.overhead_seconds is not None:
        text += (
            f"; per run outside `learn()` (start-up, final evaluation, saving): median {summary.overhead_seconds:.2f} s"
        )
    sess = summary.session
    if sess:
        text += (
            f"; wall time of the last `wnrl compare`: {sess['wall_seconds'] / 60:.1f} min for "
            f"{sess['ran']} runs ({sess['backend']} backend, {sess['workers']} workers)"
        )
    return text


def header_lines(index: dict[str, Any], summary: Summary) -> list[str]:
    """Title, command, grid, seeds, run counts and times.

    :param index: the sweep index
    :param summary: the summary
    """
    lines = [f"# Sweep `{index['name']}`", ""]
    if index.get("description"):
        lines += [index["description"], ""]
    lines += [
        f"- command: `{index.get('command', '')}`",
        f"- sweep file: `{index.get('source')}`",
        *(f"- grid `{k}`: {', '.join(show(v) for v in vals)}" for k, vals in index["grid"].items()),
        f"- seeds: {', '.join(map(str, index['seeds']))}",
    ]
    parts = index.get("sweeps") or []
    shared = all((p.get("overrides") or []) == (index.get("overrides") or []) for p in parts)
    if index.get("overrides") and shared:
        lines.append(f"- overrides (--set): {', '.join(index['overrides'])}")
    if len(parts) > 1 and shared:  # sweeps added with --add
        each = (f"`{p.get('name')}` ({p.get('source')}, {len(p.get('runs') or [])} runs)" for p in parts)
        lines.append(f"- sweeps in this directory: {', '.join(each)}")
    elif len(parts) > 1:  # e.g. a confirmation's tuned half: each norm at its own values
        lines.append("- sweeps in this directory, each with its own overrides (--set):")
        lines += [_part_line(p) for p in parts]
    return [*lines, f"- runs: {_run_counts(summary)}", _times(summary), ""]


def _part_line(part: dict[str, Any]) -> str:
    """One sweep of a directory with its seeds, run count and overrides, as a nested list item.

    :param part: an entry of the index's ``sweeps``
    """
    seeds = ", ".join(map(str, part.get("seeds") or []))
    sets = ", ".join(part.get("overrides") or []) or "none"
    runs = len(part.get("runs") or [])
    return f"  - `{part.get('name')}` ({part.get('source')}, seeds {seeds}, {runs} runs): {sets}"

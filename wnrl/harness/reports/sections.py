"""The report's sections on the statistics of :mod:`wnrl.harness.stats`: how many seeds
(:func:`plan_section`, from :func:`wnrl.harness.stats.seeds.plan_seeds`) and the learning-rate ranges
(:func:`lr_range_section`, from :func:`wnrl.harness.stats.lr_range.lr_ranges`). The statistics
compute; this module writes them as markdown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from wnrl.harness.reports.tables import Column, markdown_table
from wnrl.harness.stats.lr_range import FRACTION
from wnrl.harness.stats.seeds import CANDIDATE_SEEDS, MIN_PLAN_SEEDS, MethodPlan, PairPlan, fewest_seeds

__all__ = ["lr_range_section", "plan_section", "too_few_seeds"]


def too_few_seeds(scores: Mapping[str, NDArray[np.float64]]) -> str | None:
    """Why no plan can be made from ``scores`` (``None``: one can): fewer than
    :data:`MIN_PLAN_SEEDS` seeds of some method finished in every task.

    :param scores: method → scores ``(seeds, tasks)``
    """
    fewest = fewest_seeds(scores)
    if fewest >= MIN_PLAN_SEEDS:
        return None
    return (
        f"No seed plan yet: {fewest} finished seed per setting shows no spread between seeds, and a plan "
        f"is made from that spread; finish at least {MIN_PLAN_SEEDS} seeds per setting (e.g. add seeds with "
        "`wnrl compare --add`, the runs done are kept), then plan again."
    )


def _fmt_seeds(n: int | None) -> str:
    return str(n) if n is not None else f"> {CANDIDATE_SEEDS[-1]}"


def plan_section(
    methods: list[MethodPlan], pairs: list[PairPlan], width: float, target_poi: float, why_not: str | None = None
) -> list[str]:
    """The report's "How many seeds?" section: the precision and power plans of
    :func:`wnrl.harness.stats.seeds.plan_seeds`.

    :param methods: the per-method plans
    :param pairs: the per-pair plans
    :param width: the target IQM interval width the plans are for
    :param target_poi: the probability of improvement the power plan is for
    :param why_not: why there is no plan (:func:`too_few_seeds`): the section says so
    """
    if not methods:
        return ["## How many seeds?", "", why_not, ""] if why_not else []
    shown = (5, 10, 20, 50)
    at = " / ".join(map(str, shown))
    method_columns: list[Column[MethodPlan]] = [
        Column("method", lambda m: m.method),
        Column("seeds now", lambda m: m.seeds),
        Column("IQM 95% CI width now", lambda m: f"{m.width_now:.3f}"),
        Column(f"width at {at} seeds", lambda m: " / ".join(f"{m.widths[n]:.3f}" for n in shown)),
        Column(f"seeds for width ≤ {width:g}", lambda m: _fmt_seeds(m.seeds_needed)),
    ]
    lines = [
        "## How many seeds?",
        "",
        'Estimated by resampling the seeds at hand (docs/harness.md, "How many seeds?"); rough with few seeds.',
        "",
        *markdown_table(method_columns, methods),
    ]
    if pairs:
        pair_columns: list[Column[PairPlan]] = [
            Column("pair", lambda p: p.pair),
            Column("observed P(X > Y)", lambda p: f"{p.poi:.3f}"),
            Column(f"power at {at} seeds", lambda p: " / ".join(f"{p.power[n]:.3f}" for n in shown)),
            Column("seeds for 80% power (observed effect)", lambda p: _fmt_seeds(p.seeds_for_observed)),
            Column(f"seeds for 80% power (P = {target_poi:g})", lambda p: _fmt_seeds(p.seeds_for_target)),
        ]
        lines += ["", *markdown_table(pair_columns, pairs)]
    return [*lines, ""]


def lr_range_section(
    ranges: Mapping[str, Mapping[str, Any]], by_env: Mapping[str, Mapping[str, Any]] | None = None
) -> list[str]:
    """The report's section on the learning-rate ranges (empty without any).

    :param ranges: ``{line: LrRange as a dict}`` (as in ``summary.json``), over all tasks
    :param by_env: ``{env: {"ranges": ...}}``, the same per environment (``summary.json``'s
        ``lr_by_env``), when there are several
    """
    if not ranges:
        return []
    first = next(iter(ranges.values()))
    lines = [
        "### Learning-rate robustness",
        "",
        f"The range of grid learning rates around each method's best within {FRACTION:.0%} of its best IQM "
        f"(normalised score), and its width in decades (log10 of hi / lo; the grid spans "
        f"{first['grid_decades']:.2f}); 95% CI: stratified bootstrap, the best learning rate redrawn in "
        "every resample.",
        "",
        *_range_table(ranges),
    ]
    for env, per in (by_env or {}).items():
        if per["ranges"]:
            lines += [f"**{env} alone:**", "", *_range_table(per["ranges"])]
    return lines


def _range_table(ranges: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One table of learning-rate ranges, one line per method.

    :param ranges: ``{line: LrRange as a dict}``
    """
    columns: list[Column[tuple[str, Mapping[str, Any]]]] = [
        Column("method", lambda it: it[0]),
        Column("best learning rate", lambda it: f"{it[1]['best_lr']:g}"),
        Column("best IQM", lambda it: f"{it[1]['best_iqm']:.3f}"),
        Column(f"within {FRACTION:.0%} of it", lambda it: f"{it[1]['lo']:g} to {it[1]['hi']:g}"),
        Column("width (decades) [95% CI]", lambda it: "{:.2f} [{:.2f}, {:.2f}]".format(*it[1]["decades"])),
    ]
    return [*markdown_table(columns, ranges.items()), ""]

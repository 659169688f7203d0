"""The report's sections on the statistics of :mod:`wnrl.harness.stats`: how many seeds
(:func:`plan_section`, from :func:`wnrl.harness.stats.seeds.plan_seeds`) and the learning-rate ranges
(:func:`lr_range_section`, from :func:`wnrl.harness.stats.lr_range.lr_ranges`). The statistics
compute; this module writes them as markdown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

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
    lines = [
        "## How many seeds?",
        "",
        "Estimated by resampling the seeds at hand (docs/harness.md, `wnrl.harness.stats.seeds`); "
        "rough with few seeds.",
        "",
        f"| method | seeds now | IQM 95% CI width now | width at {' / '.join(map(str, shown))} seeds "
        f"| seeds for width ≤ {width:g} |",
        "|---|---|---|---|---|",
    ]
    for m in methods:
        at = " / ".join(f"{m.widths[n]:.3f}" for n in shown)
        lines.append(f"| {m.method} | {m.seeds} | {m.width_now:.3f} | {at} | {_fmt_seeds(m.seeds_needed)} |")
    if pairs:
        lines += [
            "",
            f"| pair | observed P(X > Y) | power at {' / '.join(map(str, shown))} seeds "
            f"| seeds for 80% power (observed effect) | seeds for 80% power (P = {target_poi:g}) |",
            "|---|---|---|---|---|",
        ]
        for p in pairs:
            power = " / ".join(f"{p.power[n]:.3f}" for n in shown)
            lines.append(
                f"| {p.pair} | {p.poi:.3f} | {power} | {_fmt_seeds(p.seeds_for_observed)} "
                f"| {_fmt_seeds(p.seeds_for_target)} |"
            )
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
    lines = [
        f"| method | best learning rate | best IQM | within {FRACTION:.0%} of it | width (decades) [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for line, r in ranges.items():
        point, lo, hi = r["decades"]
        lines.append(
            f"| {line} | {r['best_lr']:g} | {r['best_iqm']:.3f} | {r['lo']:g} to {r['hi']:g} | "
            f"{point:.2f} [{lo:.2f}, {hi:.2f}] |"
        )
    return [*lines, ""]

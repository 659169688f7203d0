"""The objective of a trial, recomputed from its runs' ``result.json``: the IQM (or mean, median)
over seeds × tasks of the final evaluation return or of the area under the learning curve, on
normalised scores when the trial has several tasks; and the intermediate values pruning sees.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from wnrl.config import ConfigError
from wnrl.harness.reports.scores import KNOWN_RANGES
from wnrl.harness.stats import aggregate as stats
from wnrl.train.record import RunRecord

__all__ = ["Scorer", "curve_points"]


class Scorer:
    """Scores a trial's runs.

    :param metric: ``final`` or ``auc``
    :param statistic: ``iqm``, ``mean`` or ``median``
    :param task_keys: the tune's task keys (the columns of the score matrix)
    :param ranges: env id -> (low, high) for normalisation
    """

    def __init__(
        self, metric: str, statistic: str, task_keys: list[str], ranges: dict[str, tuple[float, float]]
    ) -> None:
        self.metric, self.statistic, self.task_keys = metric, statistic, task_keys
        self.ranges = {**KNOWN_RANGES, **ranges}
        self.fn = stats.STATISTICS[statistic]

    def check(self, env_ids: list[str], ntasks: int, source: str) -> None:
        """Refuse several tasks without a known return range.

        :param env_ids: the envs of the tune
        :param ntasks: tasks per trial
        :param source: the tune file
        """
        missing = sorted({e for e in env_ids if e not in self.ranges})
        if ntasks > 1 and missing:
            raise ConfigError(
                f"{source}: ranges: scores over several tasks are normalised, and {', '.join(missing)} has "
                f"no known return range; add ranges: {{{missing[0]}: [LOW, HIGH]}}"
            )

    def task_of(self, grid: dict[str, Any]) -> str:
        """The task label of a run."""
        return json.dumps([grid.get(k) for k in self.task_keys])

    def normalise(self, env_id: str, value: float, ntasks: int) -> float:
        """``value`` min–max normalised by its env's range (raw with one task)."""
        if ntasks <= 1:
            return value
        low, high = self.ranges[env_id]
        return (value - low) / (high - low)

    def matrix(self, records: list[RunRecord]) -> NDArray[np.float64]:
        """The (seeds × tasks) score matrix of a trial's finished runs.

        :param records: one finished record per run
        """
        tasks = sorted({self.task_of(r.grid) for r in records})
        cols: dict[str, list[float]] = {t: [] for t in tasks}
        for r in sorted(records, key=lambda r: r.seed or 0):
            raw = r.score if self.metric == "final" else r.auc
            assert raw is not None
            cols[self.task_of(r.grid)].append(self.normalise(str(r.env_id), float(raw), len(tasks)))
        n = min(len(v) for v in cols.values())
        return np.array([cols[t][:n] for t in tasks], dtype=np.float64).T

    def score(self, records: list[RunRecord], reps: int = 1000) -> tuple[float, float, float]:
        """The objective with its 95% stratified bootstrap interval.

        :param records: the trial's finished records
        :param reps: bootstrap resamples
        :returns: ``(value, lo, hi)``
        """
        x = self.matrix(records)
        value = float(self.fn(x))
        _, lo, hi = stats.stratified_bootstrap_ci(x, self.fn, reps=reps, seed=0)
        return value, float(lo), float(hi)

    def intermediate(self, points: list[tuple[str, dict[str, Any], list[float]]], step: int) -> float:
        """The seed-averaged value at evaluation ``step`` (1-based) of every run.

        :param points: per run ``(env_id, grid, curve means)``
        :param step: the evaluation index
        """
        ntasks = len({self.task_of(g) for _, g, _ in points})
        if self.metric == "auc":
            vals = [float(np.mean(m[:step])) for _, _, m in points]
        else:
            vals = [m[step - 1] for _, _, m in points]
        normed = [self.normalise(e, v, ntasks) for (e, _, _), v in zip(points, vals)]
        return float(self.fn(np.asarray(normed)[:, None]))


def curve_points(run_dir: Path) -> list[float]:
    """The evaluation means written so far to ``run_dir/curve.json`` (empty when none)."""
    try:
        data = json.loads((run_dir / "curve.json").read_text())
        means = [float(v) for v in data.get("mean", [])]
    except (OSError, ValueError, AttributeError, TypeError):
        return []
    return means if all(math.isfinite(v) for v in means) else []

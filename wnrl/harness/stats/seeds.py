r"""How many seeds? Estimates from the runs at hand (``wnrl report --plan``, and a section of
every report).

Two questions, answered by resampling the observed (seeds × tasks) scores of each method:

* **Precision.** With :math:`n` seeds per task, how wide is the 95% interval of the IQM? Draw
  :math:`n` seeds per task with replacement from the observed ones, :math:`B` times; the width is
  the spread :math:`q_{97.5} - q_{2.5}` of the resampled IQMs (normalised scores, so 0.1 is a tenth
  of the score range). The smallest :math:`n` whose width is at most the target is reported.
* **Power.** With :math:`n` seeds per task and arm, how often would an experiment show that
  :math:`X` differs from the baseline? The test is the interval of the probability of
  improvement :math:`\hat p` (rliable's, averaged over :math:`T` tasks) excluding 1/2, with the
  Mann-Whitney normal approximation :math:`\operatorname{se}(\hat p) = \sqrt{(2n+1)/(12 n^2 T)}`:
  reject when :math:`|\hat p - 1/2| > z_{0.975}\,\operatorname{se}`. *At the current effect size*:
  the fraction of resampled experiments (n seeds per arm drawn from each method's runs) that
  reject. *For a given effect* :math:`p` (e.g. 0.6): the smallest :math:`n` with
  :math:`|p - 1/2| \ge (z_{0.975} + z_{0.8})\,\operatorname{se}(n)`, i.e. 80% power.

Resampling can only reproduce the spread of the seeds observed: with 3 seeds these are rough
guides to the next study's size, not guarantees; rerun the planner as seeds are added.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats as _sps

from wnrl.harness.stats.metrics import iqm_batched, poi_batched

__all__ = [
    "CANDIDATE_SEEDS",
    "MIN_PLAN_SEEDS",
    "MethodPlan",
    "PairPlan",
    "fewest_seeds",
    "iqm_width",
    "plan_seeds",
    "poi_power",
    "poi_se",
    "seeds_for_effect",
]

#: The seed counts the planner tries.
CANDIDATE_SEEDS = (3, 5, 10, 20, 30, 50, 100, 200)
#: The fewest seeds per setting a plan is made from: one seed shows no spread between seeds, and
#: resampling it gives intervals of width 0 at every count.
MIN_PLAN_SEEDS = 2
_Z = float(_sps.norm.ppf(0.975))
_Z_POWER = float(_sps.norm.ppf(0.8))


def _draw(x: NDArray[np.float64], n: int, reps: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """``(reps, n, tasks)``: ``n`` seeds per task drawn with replacement from ``x`` (seeds × tasks)."""
    idx = rng.integers(0, x.shape[0], size=(reps, n, x.shape[1]))
    return np.take_along_axis(np.broadcast_to(x, (reps, *x.shape)), idx, axis=1)


def iqm_width(x: NDArray[np.float64], n: int, reps: int = 1000, seed: int = 0) -> float:
    """The width of the 95% interval of the IQM with ``n`` seeds per task, by resampling ``x``.

    :param x: observed scores, ``(seeds, tasks)``
    :param n: seeds per task
    :param reps: resamples
    :param seed: random seed
    """
    values = iqm_batched(_draw(x, n, reps, np.random.default_rng(seed)))
    lo, hi = np.quantile(values, [0.025, 0.975])
    return float(hi - lo)


def poi_se(n: int, tasks: int = 1) -> float:
    """The normal-approximation standard error of the probability of improvement with ``n`` seeds
    per arm, averaged over ``tasks`` tasks: :math:`\\sqrt{(2n+1)/(12 n^2 T)}`."""
    return math.sqrt((2 * n + 1) / (12.0 * n * n * tasks))


def poi_power(x: NDArray[np.float64], y: NDArray[np.float64], n: int, reps: int = 1000, seed: int = 0) -> float:
    """The fraction of resampled experiments with ``n`` seeds per arm whose interval of
    P(X > Y) excludes 1/2 (the power at the observed effect size).

    :param x: method X's scores, ``(seeds, tasks)``
    :param y: the baseline's scores, ``(seeds, tasks)``
    :param n: seeds per task and arm
    :param reps: resampled experiments
    :param seed: random seed
    """
    rng = np.random.default_rng(seed)
    p = poi_batched(_draw(x, n, reps, rng), _draw(y, n, reps, rng))
    return float(np.mean(np.abs(p - 0.5) > _Z * poi_se(n, x.shape[1])))


def seeds_for_effect(p: float, tasks: int = 1, candidates: tuple[int, ...] = CANDIDATE_SEEDS) -> int | None:
    """The fewest seeds per arm (of ``candidates``) that give 80% power to detect a true
    probability of improvement ``p`` (``None``: more than the largest candidate).

    :param p: the probability of improvement to detect (e.g. 0.6)
    :param tasks: tasks it is averaged over
    :param candidates: seed counts to try
    """
    for n in candidates:
        if abs(p - 0.5) >= (_Z + _Z_POWER) * poi_se(n, tasks):
            return n
    return None


@dataclass(frozen=True)
class MethodPlan:
    """The precision plan of one method.

    :param method: the method
    :param seeds: seeds per task now
    :param width_now: width of the IQM interval with the seeds at hand (normalised)
    :param widths: candidate seeds → expected width
    :param seeds_needed: fewest candidate seeds with a width at most the target (``None``: more)
    """

    method: str
    seeds: int
    width_now: float
    widths: dict[int, float]
    seeds_needed: int | None


@dataclass(frozen=True)
class PairPlan:
    """The power plan of one method against the baseline.

    :param pair: ``"X vs baseline"``
    :param poi: the observed probability of improvement
    :param power: candidate seeds → power at the observed effect size
    :param seeds_for_observed: fewest candidate seeds with 80% power at the observed effect
    :param seeds_for_target: fewest candidate seeds with 80% power for the target effect
    """

    pair: str
    poi: float
    power: dict[int, float]
    seeds_for_observed: int | None
    seeds_for_target: int | None


def _method_plan(m: str, x: NDArray[np.float64], width: float, reps: int, seed: int) -> MethodPlan:
    widths = {n: iqm_width(x, n, reps, seed) for n in CANDIDATE_SEEDS}
    needed = next((n for n, w in widths.items() if w <= width), None)
    return MethodPlan(m, int(x.shape[0]), iqm_width(x, int(x.shape[0]), reps, seed), widths, needed)


def _pair_plan(
    pair: str, x: NDArray[np.float64], y: NDArray[np.float64], target: float, reps: int, seed: int
) -> PairPlan:
    power = {n: poi_power(x, y, n, reps, seed) for n in CANDIDATE_SEEDS}
    observed = float(poi_batched(x[None], y[None])[0])
    return PairPlan(
        pair=pair,
        poi=observed,
        power=power,
        seeds_for_observed=next((n for n, pw in power.items() if pw >= 0.8), None),
        seeds_for_target=seeds_for_effect(target, x.shape[1]),
    )


def fewest_seeds(scores: Mapping[str, NDArray[np.float64]]) -> int:
    """The fewest seeds of any method (:data:`MIN_PLAN_SEEDS` when there is no method): a plan
    needs at least :data:`MIN_PLAN_SEEDS`.

    :param scores: method → scores ``(seeds, tasks)``
    """
    return min((int(x.shape[0]) for x in scores.values()), default=MIN_PLAN_SEEDS)


def plan_seeds(
    normalised: dict[str, NDArray[np.float64]],
    raw: dict[str, NDArray[np.float64]],
    baseline: str,
    width: float = 0.1,
    target_poi: float = 0.6,
    reps: int = 1000,
    seed: int = 0,
) -> tuple[list[MethodPlan], list[PairPlan]]:
    """The precision plan of every method and the power plan of every method against ``baseline``.

    :param normalised: method → normalised scores ``(seeds, tasks)`` (for IQM widths)
    :param raw: method → raw scores ``(seeds, tasks)`` (the probability of improvement needs no scale)
    :param baseline: the method the others are compared with
    :param width: the target width of the IQM's 95% interval, in normalised units
    :param target_poi: the probability of improvement the power plan is for
    :param reps: resamples per estimate
    :param seed: random seed
    :returns: no plans (``([], [])``) from fewer than :data:`MIN_PLAN_SEEDS` seeds (:func:`fewest_seeds`)
    """
    if fewest_seeds(normalised) < MIN_PLAN_SEEDS:
        return [], []
    methods = [_method_plan(m, x, width, reps, seed) for m, x in normalised.items()]
    pairs = [
        _pair_plan(f"{m} vs {baseline}", x, raw[baseline], target_poi, reps, seed)
        for m, x in raw.items()
        if m != baseline and baseline in raw
    ]
    return methods, pairs

"""The typed rows and statistics of a sweep directory's report (what ``summary.json`` holds).

What is compared: the *method* is ``agent.norm`` when the grid varies it (else the first grid key);
the *tasks* are the combinations of the other grid keys (e.g. algo × env × noise); the seeds are
the runs of a task. The score of a run is its final evaluation return (``RunRecord.score``).

* Per group (every grid combination): n, mean, the median over seeds, IQM with a 95%
  stratified-bootstrap CI, the AUC (mean evaluation return over training) with a CI of its mean,
  and the probability that its run beats a run of ``none`` on the same task, with a CI.
* Probability of improvement of each method over ``none`` (or the first method), averaged over
  tasks, with a CI: invariant to any per-task rescaling, so raw returns are used.
* Aggregates across tasks (rliable's IQM, median of per-task means, mean, optimality gap,
  performance profiles) use normalised scores ``(x - low) / (high - low)`` per environment
  (:mod:`wnrl.harness.reports.scores`).
* Statistics over tasks need a (seeds × tasks) matrix: a method uses the seeds that finished in
  every task (tasks where some method has no finished run are left out); the report says so.

The rows come from :func:`wnrl.harness.reports.rows.load_rows` (runs read only through
:func:`wnrl.train.record.read_record`). Every number comes from :mod:`wnrl.harness.stats.aggregate` (same
seed ⇒ same intervals).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from wnrl.harness.reports.diagnostics import compare_diagnostics, eff_lr_by_lr
from wnrl.harness.reports.rows import Design, Row, count_statuses, design, finished
from wnrl.harness.reports.scores import (
    CellScores,
    Normalisation,
    cell_scores,
    envs_of,
    lr_by_env,
    lr_sensitivity,
    normalisations,
)
from wnrl.harness.stats import aggregate as stats
from wnrl.harness.stats.aggregate import Interval
from wnrl.harness.stats.lr_range import lr_ranges
from wnrl.harness.stats.seeds import MethodPlan, PairPlan, plan_seeds
from wnrl.train.record import RunRecord

__all__ = [
    "PLAN_POI",
    "PLAN_WIDTH",
    "GroupSummary",
    "Profiles",
    "Summary",
    "analyse",
    "group_summaries",
    "per_env",
    "poi_vs_baseline",
    "profiles",
    "summarize_group",
]

#: The seed plan's defaults: an IQM interval 0.1 wide (normalised), 80% power at P(X > Y) = 0.6.
PLAN_WIDTH, PLAN_POI = 0.1, 0.6
SeedPlan = tuple[list[MethodPlan], list[PairPlan]]

# --------------------------------------------------------------------------------------------
# Per group
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSummary:
    """One grid combination over its seeds.

    :param grid: the grid values (as :func:`show` writes them)
    :param counts: runs of the group per status
    :param mean: mean final return of the finished runs
    :param median: median final return over the finished seeds (:func:`wnrl.harness.stats.aggregate.median_of_values`)
    :param iqm: IQM of the final returns with its CI
    :param auc: mean AUC with its CI
    :param poi: P(this group's run > a run of the baseline method on the same task) with its CI
        (``None`` for the baseline, or when either has no finished run)
    """

    grid: dict[str, str]
    counts: dict[str, int]
    mean: float | None = None
    median: float | None = None
    iqm: Interval | None = None
    auc: Interval | None = None
    poi: Interval | None = None

    @property
    def n(self) -> int:
        """Finished runs."""
        return self.counts["finished"]

    @property
    def runs(self) -> int:
        """All runs of the group."""
        return sum(self.counts.values())


def summarize_group(grid: dict[str, str], members: list[Row], reps: int, seed: int) -> GroupSummary:
    """The :class:`GroupSummary` of the runs of one grid combination.

    :param grid: the combination
    :param members: its rows
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    """
    counts = count_statuses(members)
    done = finished(members)
    if not done:
        return GroupSummary(grid=grid, counts=counts)
    s = stats.summarize_runs([r.score for r in done], reps=reps, seed=seed)
    aucs = [r.record.auc for r in done if r.record is not None and r.record.auc is not None]
    aucs = [a for a in aucs if math.isfinite(a)]
    auc = stats.stratified_bootstrap_ci(np.array(aucs), stats.mean, reps, seed=seed) if aucs else None
    return GroupSummary(
        grid=grid, counts=counts, mean=s["mean"], median=s["median"], iqm=(s["iqm"], s["iqm_lo"], s["iqm_hi"]), auc=auc
    )


def group_summaries(d: Design, rows: list[Row], reps: int, seed: int) -> list[GroupSummary]:
    """One :class:`GroupSummary` per grid combination, in the order first seen.

    :param d: the design
    :param rows: the rows
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    """
    groups: dict[tuple[str, ...], list[Row]] = {}
    for r in rows:
        groups.setdefault(tuple(r.value(k) for k in d.keys), []).append(r)
    out = [summarize_group(dict(zip(d.keys, g, strict=True)), members, reps, seed) for g, members in groups.items()]
    if d.method_key is None:
        return out
    base = {d.cell(members[0]): finished(members) for members in groups.values() if d.method(members[0]) == d.baseline}
    for i, members in enumerate(groups.values()):
        x, y = finished(members), base.get(d.cell(members[0]), [])
        if d.method(members[0]) != d.baseline and x and y:
            poi = stats.probability_of_improvement_ci(_column(x), _column(y), reps=reps, seed=seed)
            out[i] = replace(out[i], poi=poi)
    return out


def _column(rows: list[Row]) -> NDArray[np.float64]:
    """The final returns of ``rows`` as a one-task score matrix ``(runs, 1)``."""
    return np.array([[r.score] for r in rows], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Over tasks
# --------------------------------------------------------------------------------------------


def poi_vs_baseline(d: Design, raw: dict[str, NDArray[np.float64]], reps: int, seed: int) -> dict[str, Interval]:
    """P(X > baseline) with its CI for every other method X, keyed ``"X vs baseline"``.

    :param d: the design
    :param raw: method -> raw score matrix
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    """
    if d.baseline not in raw:
        return {}
    pairs = [(m, d.baseline) for m in d.methods if m != d.baseline and m in raw]
    return stats.pairwise_probability_of_improvement(raw, pairs, reps, seed) if pairs else {}


def per_env(d: Design, rows: list[Row], norm: dict[str, Normalisation], reps: int, seed: int) -> dict[str, Any]:
    """Per environment, when the finished runs have several: each method's IQM (normalised) and
    P(method > baseline) over that environment's tasks alone, ``{env: {"iqm": {method: interval},
    "poi": {"X vs baseline": interval}}}`` (empty otherwise). The statistics over all tasks mix
    the environments; one can hide what happens on the other.

    :param d: the design
    :param rows: all rows
    :param norm: the normalisation of each environment
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    """
    envs = envs_of(finished(rows))
    if len(envs) < 2:
        return {}
    out = {}
    for env in envs:
        scores = cell_scores(d, [r for r in rows if r.env_id == env], norm)
        if scores.normalised:
            iqm = {
                m: stats.stratified_bootstrap_ci(x, stats.iqm, reps, seed=seed) for m, x in scores.normalised.items()
            }
            out[env] = {"iqm": iqm, "poi": poi_vs_baseline(d, scores.raw, reps, seed)}
    return out if len(out) >= 2 else {}


@dataclass(frozen=True)
class Profiles:
    """Performance profiles of the methods: the fraction of runs above each ``tau``, with bands.

    :param taus: the thresholds
    :param by_method: method -> ``(frac, lo, hi)``
    """

    taus: NDArray[np.float64]
    by_method: dict[str, tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]]


def profiles(normalised: dict[str, NDArray[np.float64]], reps: int, seed: int) -> Profiles | None:
    """:class:`Profiles` on 101 thresholds from ``min(0, lowest)`` to ``max(1, highest)`` score.

    :param normalised: method -> normalised score matrix
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    """
    if not normalised:
        return None
    allv = np.concatenate([v.ravel() for v in normalised.values()])
    taus = np.linspace(min(0.0, float(allv.min())), max(1.0, float(allv.max())), 101)
    return Profiles(taus, stats.performance_profiles(normalised, taus, reps, seed))


# --------------------------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------------------------


@dataclass
class Summary:
    """Every number of the report.

    :param design: what is compared
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    :param counts: runs per status
    :param train_seconds: time inside ``learn()`` summed over the runs
    :param cpu_seconds: CPU time of the whole runs, summed
    :param overhead_seconds: median per-run time outside ``learn()`` (``None`` when no run has it)
    :param session: the last ``wnrl compare`` session of the index (wall time, runs, backend, workers)
    :param groups: one per grid combination
    :param normalisation: environment -> its normalisation
    :param scores: the score matrices over tasks (and the notes on what was left out)
    :param poi: ``"X vs baseline"`` -> P(X > baseline) with CI
    :param aggregate: metric -> method -> (point, lo, hi) on normalised scores
    :param profiles: performance profiles (``None`` without scores over tasks)
    :param lr_sensitivity: see :func:`lr_sensitivity` (empty unless the grid varies the learning rate)
    :param lr_ranges: per line of ``lr_sensitivity``, the learning-rate range within 90% of its
        best IQM (:func:`wnrl.harness.stats.lr_range.lr_ranges`, as dicts)
    :param lr_by_env: the same per environment when there are several (see :func:`lr_by_env`)
    :param diagnostics: the mechanism diagnostics per method (see
        :func:`wnrl.harness.reports.diagnostics.compare_diagnostics`)
    :param by_env: each method's IQM and probability of improvement per environment (see
        :func:`per_env`)
    :param eff_lr_by_lr: the effective learning rate per method and learning rate (see
        :func:`wnrl.harness.reports.diagnostics.eff_lr_by_lr`)
    :param seed_plan: how many seeds (see :func:`wnrl.harness.stats.seeds.plan_seeds`)
    :param plan_width: the plan's target IQM interval width
    :param plan_poi: the probability of improvement the plan's power is for
    """

    design: Design
    reps: int
    seed: int
    counts: dict[str, int]
    train_seconds: float
    cpu_seconds: float
    overhead_seconds: float | None
    session: dict[str, Any]
    groups: list[GroupSummary]
    normalisation: dict[str, Normalisation]
    scores: CellScores
    poi: dict[str, Interval]
    aggregate: dict[str, dict[str, Interval]]
    profiles: Profiles | None
    lr_sensitivity: dict[str, dict[str, Any]]
    lr_ranges: dict[str, dict[str, Any]] = field(default_factory=dict)
    lr_by_env: dict[str, dict[str, Any]] = field(default_factory=dict)
    diagnostics: dict[str, dict[str, Interval]] = field(default_factory=dict)
    by_env: dict[str, Any] = field(default_factory=dict)
    eff_lr_by_lr: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed_plan: SeedPlan = field(default_factory=lambda: ([], []))
    plan_width: float = PLAN_WIDTH
    plan_poi: float = PLAN_POI

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready form (``summary.json``)."""
        out = {
            "method_key": self.design.method_key,
            "task_keys": self.design.cell_keys,
            "methods": self.design.methods,
            "baseline": self.design.baseline,
            "reps": self.reps,
            "seed": self.seed,
            "counts": self.counts,
            "train_seconds": self.train_seconds,
            "cpu_seconds": self.cpu_seconds,
            "overhead_seconds": self.overhead_seconds,
            "session": self.session,
            "groups": [{**asdict(g), "runs": g.runs, "n": g.n} for g in self.groups],
            "normalisation": {e: asdict(n) for e, n in self.normalisation.items()},
            "tasks": self.scores.cells,
            "notes": self.scores.notes,
            "poi": self.poi,
            "aggregate": self.aggregate,
            "score_matrices": {
                m: {"raw": self.scores.raw[m], "normalised": self.scores.normalised[m]} for m in self.scores.raw
            },
            "profiles": (None if self.profiles is None else {"taus": self.profiles.taus, **self.profiles.by_method}),
            "lr_sensitivity": self.lr_sensitivity,
            "lr_ranges": self.lr_ranges,
            **({"lr_by_env": self.lr_by_env} if self.lr_by_env else {}),
            "diagnostics": self.diagnostics,
            **({"by_env": self.by_env} if self.by_env else {}),
            **({"eff_lr_by_lr": self.eff_lr_by_lr} if self.eff_lr_by_lr else {}),
            "seed_plan": {
                "width": self.plan_width,
                "target_poi": self.plan_poi,
                "methods": [asdict(m) for m in self.seed_plan[0]],
                "pairs": [asdict(p) for p in self.seed_plan[1]],
            },
        }
        return _jsonable(out)


def _jsonable(x: Any) -> Any:
    """Arrays -> lists, tuples -> lists, numpy scalars -> Python numbers, recursively.

    :param x: a value of the summary
    """
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _median_overhead(records: list[RunRecord]) -> float | None:
    """The median per-run time outside ``learn()`` of the finished runs that record it.

    :param records: the runs' records
    """
    values = [r.overhead_seconds for r in records if r.finished and r.overhead_seconds is not None]
    return round(float(np.median(values)), 3) if values else None


def analyse(
    index: dict[str, Any],
    rows: list[Row],
    reps: int = 2000,
    seed: int = 0,
    plan_width: float = PLAN_WIDTH,
    plan_poi: float = PLAN_POI,
) -> Summary:
    """All the statistics of the report.

    :param index: the sweep index
    :param rows: rows from :func:`load_rows`
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    :param plan_width: the seed plan's target width of the IQM interval (normalised)
    :param plan_poi: the probability of improvement the seed plan's power is for
    """
    d = design(index["grid_keys"], rows)
    done = finished(rows)
    norm = normalisations(done)
    scores = cell_scores(d, rows, norm)
    records = [r.record for r in rows if r.record is not None]
    sensitivity = lr_sensitivity(d, rows, norm)
    return Summary(
        design=d,
        reps=reps,
        seed=seed,
        counts=count_statuses(rows),
        train_seconds=sum(rec.seconds or 0.0 for rec in records),
        cpu_seconds=sum(rec.cpu_seconds or 0.0 for rec in records),
        overhead_seconds=_median_overhead(records),
        session=dict((index.get("sessions") or [{}])[-1]),
        groups=group_summaries(d, rows, reps, seed),
        normalisation=norm,
        scores=scores,
        poi=poi_vs_baseline(d, scores.raw, reps, seed),
        aggregate=stats.aggregate_methods(scores.normalised, reps, seed) if scores.normalised else {},
        profiles=profiles(scores.normalised, reps, seed),
        lr_sensitivity=sensitivity,
        lr_ranges={line: asdict(r) for line, r in lr_ranges(sensitivity, reps, seed).items()},
        lr_by_env=lr_by_env(d, rows, norm, reps, seed),
        diagnostics=compare_diagnostics(d, rows, reps, seed),
        by_env=per_env(d, rows, norm, reps, seed),
        eff_lr_by_lr=eff_lr_by_lr(d, rows),
        seed_plan=plan_seeds(scores.normalised, scores.raw, d.baseline, plan_width, plan_poi, seed=seed)
        if scores.normalised
        else ([], []),
        plan_width=plan_width,
        plan_poi=plan_poi,
    )

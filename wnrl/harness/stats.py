r"""Aggregate statistics with stratified-bootstrap confidence intervals (rliable-style).

Implements, with numpy/scipy only, the reporting protocol of Agarwal et al. (2021), "Deep RL at
the edge of the statistical precipice": interquartile mean (IQM), optimality gap, probability of
improvement, performance profiles and stratified bootstrap confidence intervals.

Conventions
-----------
* A **score matrix** is an array of shape ``(runs, tasks)``: one row per independent run (seed),
  one column per task (environment / noise setting). A 1-D array is read as ``(runs,)`` of a
  single task, i.e. shape ``(runs, 1)``.
* A **score dict** maps a method label to its score matrix.
* A **learning curve** is an array ``(runs, points)`` with a ``steps`` vector of length ``points``.
* Every statistic is computed over *all* runs x tasks (flattened), as in rliable.

Missing values
--------------
Every function **refuses** non-finite scores (NaN or +/-inf) with a ``ValueError`` that says how many
there are and where the first one is. Dropping or imputing silently would change the statistic
behind the reader's back (a crashed seed is not a run that scored the average); drop failed runs
or impute explicitly, and report that you did, before calling these functions. Empty input is
refused the same way.

Randomness
----------
All resampling draws from ``np.random.default_rng(seed)``: the same seed, data and number of
replications give bit-identical intervals. The point estimate is always the statistic of the
original data, never a bootstrap average.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as _sps

__all__ = [
    "Interval",
    "METRICS",
    "as_score_matrix",
    "iqm",
    "mean",
    "median",
    "optimality_gap",
    "normalize_scores",
    "stratified_bootstrap_ci",
    "probability_of_improvement",
    "probability_of_improvement_ci",
    "performance_profile",
    "area_under_curve",
    "aggregate",
    "aggregate_methods",
    "pairwise_probability_of_improvement",
    "performance_profiles",
    "summarize_runs",
]

#: ``(point, lo, hi)``: floats for a scalar statistic, arrays for a vector-valued one.
Interval = tuple[Any, Any, Any]

#: Names of the metrics returned by :func:`aggregate`, in display order.
METRICS: tuple[str, ...] = ("median", "iqm", "mean", "optimality_gap")

# Cap on the number of floats materialised at once by the vectorised bootstrap.
_MAX_ELEMENTS = 4_000_000

Scores = Union[ArrayLike, Sequence[NDArray[Any]]]


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def as_score_matrix(scores: ArrayLike, name: str = "scores") -> NDArray[np.float64]:
    """Validate and convert scores to a float ``(runs, tasks)`` matrix.

    :param scores: array of shape ``(runs, tasks)``, or ``(runs,)`` for a single task.
    :param name: name used in error messages.
    :returns: a float64 array of shape ``(runs, tasks)`` (a copy only when conversion needs one).
    :raises ValueError: if the input is empty, not 1-D/2-D, or holds NaN/inf values.
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a (runs, tasks) matrix or a 1-D vector of runs, got shape {x.shape}"
        )
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}): need at least one run and one task")
    _check_finite(x, name, ("run", "task"))
    return x


def _check_finite(x: NDArray[np.float64], name: str, axes: tuple[str, ...]) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        first = np.argwhere(bad)[0]
        where = ", ".join(f"{a} {int(i)}" for a, i in zip(axes, first))
        n_nan = int(np.isnan(x).sum())
        n_inf = int(bad.sum()) - n_nan
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} infinite value(s) (first at {where}); "
            "wnrl does not drop or impute silently: remove failed runs or impute explicitly "
            "(and report it) before computing statistics"
        )


def _as_matrices(scores: Scores, name: str = "scores") -> tuple[list[NDArray[np.float64]], bool]:
    """Return ``(matrices, several)``; a list/tuple of numpy arrays means several samples."""
    if isinstance(scores, (list, tuple)) and len(scores) > 0 and all(
        isinstance(s, np.ndarray) for s in scores
    ):
        mats = [as_score_matrix(s, f"{name}[{i}]") for i, s in enumerate(scores)]
        tasks = {m.shape[1] for m in mats}
        if len(tasks) != 1:
            shapes = [m.shape for m in mats]
            raise ValueError(f"{name}: all matrices need the same number of tasks, got {shapes}")
        return mats, True
    return [as_score_matrix(scores, name)], False


def _check_confidence(confidence: float, reps: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if int(reps) != reps or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps}")


def _to_out(v: NDArray[np.float64]) -> Any:
    """Scalar results as Python floats, vector results as float arrays."""
    v = np.asarray(v, dtype=np.float64)
    return float(v) if v.ndim == 0 else v


# --------------------------------------------------------------------------------------------
# Batched statistics: inputs (B, runs, tasks) -> (B,) or (B, K)
# --------------------------------------------------------------------------------------------


def _flat(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return x.reshape(x.shape[0], -1)


def _mean_b(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return _flat(x).mean(axis=1)


def _median_b(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.median(_flat(x), axis=1)


def _iqm_b(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(_sps.trim_mean(_flat(x), 0.25, axis=1), dtype=np.float64)


def _optimality_gap_b(x: NDArray[np.float64], gamma: float = 1.0) -> NDArray[np.float64]:
    return np.maximum(gamma - _flat(x), 0.0).mean(axis=1)


def _poi_b(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    # Per task: U_x / (n m) with U_x = R_x - n (n + 1) / 2, R_x = sum of x's mid-ranks in the
    # pooled sample (mid-ranks count each tie as 1/2). Averaged over tasks.
    n, m = x.shape[1], y.shape[1]
    ranks = _sps.rankdata(np.concatenate([x, y], axis=1), method="average", axis=1)
    u = ranks[:, :n, :].sum(axis=1) - n * (n + 1) / 2.0
    return (u / (n * m)).mean(axis=1)


def _profile_b(x: NDArray[np.float64], taus: NDArray[np.float64]) -> NDArray[np.float64]:
    return (_flat(x)[:, :, None] > taus[None, None, :]).mean(axis=1)


def _aggregate_b(x: NDArray[np.float64], gamma: float = 1.0) -> NDArray[np.float64]:
    return np.stack([_median_b(x), _iqm_b(x), _mean_b(x), _optimality_gap_b(x, gamma)], axis=1)


def _point(batched: Callable[..., NDArray[np.float64]], *mats: NDArray[np.float64]) -> Any:
    return _to_out(np.asarray(batched(*(m[None] for m in mats)))[0])


# --------------------------------------------------------------------------------------------
# Point statistics
# --------------------------------------------------------------------------------------------


def iqm(scores: ArrayLike) -> float:
    """Interquartile mean: the 25% trimmed mean over all runs x tasks (flattened).

    Sort the ``N`` values, drop the lowest and highest ``floor(0.25 N)`` and average the rest
    (``scipy.stats.trim_mean(x, 0.25)``). With fewer than 4 values nothing is trimmed.

    :param scores: score matrix ``(runs, tasks)`` or vector of runs.
    :returns: the IQM.
    """
    return _point(_iqm_b, as_score_matrix(scores))


def mean(scores: ArrayLike) -> float:
    """Arithmetic mean over all runs x tasks (flattened).

    :param scores: score matrix ``(runs, tasks)`` or vector of runs.
    :returns: the mean.
    """
    return _point(_mean_b, as_score_matrix(scores))


def median(scores: ArrayLike) -> float:
    """Median over all runs x tasks (flattened).

    :param scores: score matrix ``(runs, tasks)`` or vector of runs.
    :returns: the median.
    """
    return _point(_median_b, as_score_matrix(scores))


def optimality_gap(scores: ArrayLike, gamma: float = 1.0) -> float:
    """Optimality gap: ``mean(max(gamma - x, 0))`` over all runs x tasks.

    How far, on average, runs fall short of the target ``gamma``; scores above the target earn no
    credit. Meant for normalised scores (see :func:`normalize_scores`). Lower is better.

    :param scores: normalised score matrix ``(runs, tasks)`` or vector of runs.
    :param gamma: target score (1.0 = the ``high`` reference of the normalisation).
    :returns: the optimality gap.
    """
    return _point(functools.partial(_optimality_gap_b, gamma=float(gamma)), as_score_matrix(scores))


def normalize_scores(scores: ArrayLike, low: ArrayLike, high: ArrayLike) -> NDArray[np.float64]:
    """Per-task min-max normalisation: ``(x - low[t]) / (high[t] - low[t])``.

    E.g. ``low`` = random-policy return and ``high`` = a reference return per task, so that 0 is
    random and 1 is the reference. Scores may fall outside [0, 1].

    :param scores: score matrix ``(runs, tasks)`` (a 1-D vector is one task; result is 2-D).
    :param low: scalar or per-task array of shape ``(tasks,)``.
    :param high: scalar or per-task array of shape ``(tasks,)``; ``high != low`` for every task.
    :returns: the normalised ``(runs, tasks)`` matrix.
    :raises ValueError: on shape mismatch, ``high == low`` or non-finite references.
    """
    x = as_score_matrix(scores)
    tasks = x.shape[1]
    lo = np.asarray(low, dtype=np.float64)
    hi = np.asarray(high, dtype=np.float64)
    for ref, nm in ((lo, "low"), (hi, "high")):
        if ref.ndim > 1 or (ref.ndim == 1 and ref.shape[0] != tasks):
            raise ValueError(f"{nm} must be a scalar or have shape ({tasks},), got {ref.shape}")
        _check_finite(np.atleast_1d(ref), nm, ("task",))
    lo, hi = np.broadcast_to(lo, (tasks,)), np.broadcast_to(hi, (tasks,))
    span = hi - lo
    if np.any(span == 0):
        raise ValueError(f"high == low for task(s) {np.flatnonzero(span == 0).tolist()}")
    return (x - lo[None, :]) / span[None, :]


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    r"""Probability of improvement of method X over method Y.

    Per task ``t``: :math:`P(X_t > Y_t) = \frac{1}{nm}\sum_{i,j} S(x_{it}, y_{jt})` with
    :math:`S(a, b) = 1` if ``a > b``, ``1/2`` if ``a == b``, 0 otherwise: the Mann-Whitney U
    statistic of X divided by ``n m``. The result is the average over tasks. 0.5 means no
    difference; it says how often X beats Y, not by how much.

    :param x: scores of X, ``(n_runs, tasks)``.
    :param y: scores of Y, ``(m_runs, tasks)``; same number of tasks, run counts may differ.
    :returns: P(X > Y) in [0, 1].
    """
    mats, _ = _as_matrices([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    return _point(_poi_b, *mats)


def area_under_curve(steps: ArrayLike, returns: ArrayLike) -> Any:
    r"""Normalised area under a learning curve: the mean return over training.

    :math:`\frac{1}{s_K - s_0}\int_{s_0}^{s_K} r(s)\,ds` with the trapezoid rule, per run: a
    sample-efficiency score in the units of the return. A single point gives that point's value.

    :param steps: strictly increasing step vector of length ``points``.
    :param returns: ``(runs, points)`` (one AUC per run) or ``(points,)`` (one curve).
    :returns: array of shape ``(runs,)``, or a float for a 1-D curve.
    :raises ValueError: on empty input, length mismatch, non-increasing steps or NaN/inf.
    """
    s = np.asarray(steps, dtype=np.float64)
    r = np.asarray(returns, dtype=np.float64)
    single = r.ndim == 1
    r2 = r[None, :] if single else r
    if s.ndim != 1 or r2.ndim != 2:
        raise ValueError(f"need steps (points,) and returns (runs, points), got {s.shape}, {r.shape}")
    if s.size == 0 or r2.size == 0:
        raise ValueError("area_under_curve: empty steps or returns")
    if r2.shape[1] != s.shape[0]:
        raise ValueError(f"returns have {r2.shape[1]} points but steps has {s.shape[0]}")
    _check_finite(s[None, :], "steps", ("row", "point"))
    _check_finite(r2, "returns", ("run", "point"))
    if s.size == 1:
        auc = r2[:, 0].copy()
    else:
        if np.any(np.diff(s) <= 0):
            raise ValueError("steps must be strictly increasing")
        area = (0.5 * (r2[:, 1:] + r2[:, :-1]) * np.diff(s)[None, :]).sum(axis=1)
        auc = area / (s[-1] - s[0])
    return float(auc[0]) if single else auc


# --------------------------------------------------------------------------------------------
# Stratified bootstrap
# --------------------------------------------------------------------------------------------

# Public statistic -> batched implementation (called with (B, runs, tasks) arrays).
_BATCHED: dict[Callable[..., Any], Callable[..., NDArray[np.float64]]] = {
    iqm: _iqm_b,
    mean: _mean_b,
    median: _median_b,
    optimality_gap: _optimality_gap_b,
    probability_of_improvement: _poi_b,
}


def _resolve(
    statistic: Callable[..., Any], vectorized: bool | None
) -> Callable[..., NDArray[np.float64]]:
    """Find a batched form of ``statistic``; fall back to a per-replication loop."""
    if vectorized:
        return statistic
    base, args, kwargs = statistic, (), {}
    if isinstance(statistic, functools.partial):
        base, args, kwargs = statistic.func, statistic.args, dict(statistic.keywords)
    if vectorized is None and base in _BATCHED:
        return functools.partial(_BATCHED[base], *args, **kwargs)

    def looped(*batches: NDArray[np.float64]) -> NDArray[np.float64]:
        out = [np.asarray(statistic(*(b[i] for b in batches)), dtype=np.float64)
               for i in range(batches[0].shape[0])]
        return np.stack(out)

    return looped


def _bootstrap(
    mats: list[NDArray[np.float64]],
    batched: Callable[..., NDArray[np.float64]],
    reps: int,
    confidence: float,
    seed: int | None,
) -> Interval:
    """Core: stratified resampling of runs within each task, percentile interval."""
    _check_confidence(confidence, reps)
    point = np.asarray(batched(*(m[None] for m in mats)), dtype=np.float64)[0]
    rng = np.random.default_rng(seed)
    tasks = mats[0].shape[1]
    cols = np.arange(tasks)[None, None, :]
    per_rep = sum(m.size for m in mats)
    chunk = int(max(1, min(reps, _MAX_ELEMENTS // per_rep)))
    samples = []
    done = 0
    while done < reps:
        b = min(chunk, reps - done)
        # Within each task (column) t, draw n runs with replacement from that task's own n runs:
        # x[idx[., i, t], t] never mixes tasks.
        resampled = [m[rng.integers(0, m.shape[0], size=(b, m.shape[0], tasks)), cols] for m in mats]
        samples.append(np.asarray(batched(*resampled), dtype=np.float64).reshape((b,) + point.shape))
        done += b
    dist = np.concatenate(samples, axis=0)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(dist, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    return _to_out(point), _to_out(lo), _to_out(hi)


def stratified_bootstrap_ci(
    scores: Scores,
    statistic: Callable[..., Any],
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    *,
    vectorized: bool | None = None,
) -> Interval:
    """Percentile confidence interval from a stratified bootstrap over runs.

    Each replication resamples, independently for every task (column), that task's runs with
    replacement (the number of runs is kept), computes ``statistic`` on the resampled matrix, and
    the interval is the ``(1 - confidence)/2`` and ``(1 + confidence)/2`` percentiles of the
    replications. Runs are never moved between tasks. With several matrices (a list/tuple of
    numpy arrays: e.g. ``[x, y]`` for :func:`probability_of_improvement`) each one is resampled
    independently in the same stratified way and ``statistic(*matrices)`` is called.

    With a single run per task every replication equals the data and the interval collapses to
    the point (which honestly reflects that a bootstrap cannot see variability it has no sample of).

    :param scores: a score matrix ``(runs, tasks)`` (1-D = one task), or a list/tuple of numpy
        score matrices with the same number of tasks (run counts may differ).
    :param statistic: function of one (or several) ``(runs, tasks)`` matrices returning a scalar
        or 1-D array. The functions of this module (also as ``functools.partial``) are evaluated
        vectorised over all replications; other callables are looped unless ``vectorized``.
    :param reps: number of bootstrap replications.
    :param confidence: coverage of the interval, in (0, 1).
    :param seed: seed for ``np.random.default_rng``; same seed, same interval.
    :param vectorized: ``True`` if ``statistic`` accepts ``(B, runs, tasks)`` batches and returns
        ``(B,)`` or ``(B, K)``; ``False`` forces the loop; ``None`` (default) detects this module's
        statistics.
    :returns: ``(point, lo, hi)``; ``point`` is the statistic of the original data. Floats for a
        scalar statistic, arrays for a vector-valued one.
    :raises ValueError: empty input, NaN/inf, mismatched task counts, bad ``confidence``/``reps``.
    """
    mats, _ = _as_matrices(scores)
    return _bootstrap(mats, _resolve(statistic, vectorized), reps, confidence, seed)


def probability_of_improvement_ci(
    x: ArrayLike,
    y: ArrayLike,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> Interval:
    """:func:`probability_of_improvement` of X over Y with a stratified bootstrap interval.

    X's and Y's runs are resampled independently within each task.

    :param x: scores of X, ``(n_runs, tasks)``.
    :param y: scores of Y, ``(m_runs, tasks)``.
    :param reps: bootstrap replications.
    :param confidence: interval coverage.
    :param seed: RNG seed.
    :returns: ``(point, lo, hi)``.
    """
    mats, _ = _as_matrices([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    return _bootstrap(mats, _poi_b, reps, confidence, seed)


def performance_profile(
    scores: ArrayLike,
    taus: ArrayLike,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Run-score distribution (performance profile) with stratified bootstrap bands.

    For each threshold ``tau``: the fraction of all runs x tasks whose score is strictly greater
    than ``tau``.

    :param scores: score matrix ``(runs, tasks)`` (normalised scores for multi-task profiles).
    :param taus: 1-D thresholds.
    :param reps: bootstrap replications.
    :param confidence: band coverage.
    :param seed: RNG seed.
    :returns: ``(frac, lo, hi)``, each of shape ``(len(taus),)``.
    """
    t = np.asarray(taus, dtype=np.float64).reshape(-1)
    if t.size == 0:
        raise ValueError("taus is empty")
    _check_finite(t[None, :], "taus", ("row", "tau"))
    out = _bootstrap([as_score_matrix(scores)], functools.partial(_profile_b, taus=t),
                     reps, confidence, seed)
    return tuple(np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in out)  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------


def aggregate(
    scores: ArrayLike,
    reps: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
    gamma: float = 1.0,
) -> dict[str, Interval]:
    """Median, IQM, mean and optimality gap, each with a stratified bootstrap interval.

    All four metrics are computed on the same bootstrap replications (as rliable does).

    :param scores: score matrix ``(runs, tasks)`` (normalised, for the optimality gap to mean
        anything).
    :param reps: bootstrap replications.
    :param seed: RNG seed.
    :param confidence: interval coverage.
    :param gamma: target of the optimality gap.
    :returns: ``{"median", "iqm", "mean", "optimality_gap"}`` -> ``(point, lo, hi)`` floats.
    """
    point, lo, hi = _bootstrap([as_score_matrix(scores)],
                               functools.partial(_aggregate_b, gamma=float(gamma)),
                               reps, confidence, seed)
    return {k: (float(point[i]), float(lo[i]), float(hi[i])) for i, k in enumerate(METRICS)}


def _check_dict(score_dict: Mapping[str, ArrayLike], name: str) -> None:
    if not score_dict:
        raise ValueError(f"{name} is empty: need at least one method")


def aggregate_methods(
    score_dict: Mapping[str, ArrayLike],
    reps: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
    gamma: float = 1.0,
) -> dict[str, dict[str, Interval]]:
    """:func:`aggregate` for each method, arranged ``{metric: {label: (point, lo, hi)}}``.

    The output feeds :func:`wnrl.harness.plots.plot_intervals` directly. Each method uses the
    same ``seed``, so its interval does not depend on which other methods are in the dict.

    :param score_dict: method label -> score matrix ``(runs, tasks)``.
    :param reps: bootstrap replications.
    :param seed: RNG seed.
    :param confidence: interval coverage.
    :param gamma: target of the optimality gap.
    :returns: ``{metric: {label: (point, lo, hi)}}`` for the metrics in :data:`METRICS`.
    """
    _check_dict(score_dict, "score_dict")
    out: dict[str, dict[str, Interval]] = {k: {} for k in METRICS}
    for label, scores in score_dict.items():
        for k, v in aggregate(scores, reps=reps, seed=seed, confidence=confidence,
                              gamma=gamma).items():
            out[k][label] = v
    return out


def pairwise_probability_of_improvement(
    score_dict: Mapping[str, ArrayLike],
    pairs: Sequence[tuple[str, str]],
    reps: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> dict[str, Interval]:
    """:func:`probability_of_improvement_ci` for each ``(X, Y)`` pair, keyed ``"X vs Y"``.

    :param score_dict: method label -> score matrix ``(runs, tasks)``.
    :param pairs: ``(X, Y)`` label pairs; each gives P(X > Y).
    :param reps: bootstrap replications.
    :param seed: RNG seed.
    :param confidence: interval coverage.
    :returns: ``{"X vs Y": (point, lo, hi)}``, the input of
        :func:`wnrl.harness.plots.plot_probability_of_improvement`.
    """
    _check_dict(score_dict, "score_dict")
    out: dict[str, Interval] = {}
    for a, b in pairs:
        for lab in (a, b):
            if lab not in score_dict:
                raise KeyError(f"unknown method label {lab!r}; have {sorted(score_dict)}")
        out[f"{a} vs {b}"] = probability_of_improvement_ci(
            score_dict[a], score_dict[b], reps=reps, confidence=confidence, seed=seed)
    return out


def performance_profiles(
    score_dict: Mapping[str, ArrayLike],
    taus: ArrayLike,
    reps: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]]:
    """:func:`performance_profile` for each method.

    :param score_dict: method label -> score matrix ``(runs, tasks)``.
    :param taus: 1-D thresholds.
    :param reps: bootstrap replications.
    :param seed: RNG seed.
    :param confidence: band coverage.
    :returns: ``{label: (frac, lo, hi)}``, the input of
        :func:`wnrl.harness.plots.plot_performance_profiles`.
    """
    _check_dict(score_dict, "score_dict")
    return {label: performance_profile(s, taus, reps=reps, confidence=confidence, seed=seed)
            for label, s in score_dict.items()}


def summarize_runs(
    values: ArrayLike,
    reps: int = 2000,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Summary of one group of runs (e.g. one method at one setting).

    :param values: 1-D vector of per-run values, or a ``(runs, tasks)`` matrix (statistics over
        all entries; the IQM interval is then stratified by task).
    :param reps: bootstrap replications for the IQM interval.
    :param seed: RNG seed.
    :param confidence: interval coverage.
    :returns: ``{"n", "mean", "std", "median", "iqm", "iqm_lo", "iqm_hi", "min", "max"}``;
        ``n`` is the number of values, ``std`` the sample standard deviation (ddof=1), NaN when
        ``n == 1`` (a spread cannot be measured from one run); with one run the IQM interval
        collapses to the point.
    """
    x = as_score_matrix(values, "values")
    flat = x.reshape(-1)
    point, lo, hi = _bootstrap([x], _iqm_b, reps, confidence, seed)
    return {
        "n": int(flat.size),
        "mean": mean(x),
        "std": float(np.std(flat, ddof=1)) if flat.size > 1 else float("nan"),
        "median": median(x),
        "iqm": point,
        "iqm_lo": lo,
        "iqm_hi": hi,
        "min": float(flat.min()),
        "max": float(flat.max()),
    }

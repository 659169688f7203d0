r"""Learning-rate robustness as one number: the width of the learning-rate range a method keeps
within 90% of its best IQM (study 1 of ``docs/results.md``).

For a method with IQMs :math:`q_1, \dots, q_K` (normalised scores) at the grid's learning rates
:math:`x_1 < \dots < x_K`, let :math:`k^* = \arg\max_k q_k`. The range is the longest run of
neighbouring grid points around :math:`k^*` with :math:`q_k \ge f \, q_{k^*}` (:math:`f = 0.9`),
from :math:`x_{lo}` to :math:`x_{hi}`; its width is :math:`\log_{10}(x_{hi} / x_{lo})` decades
(0 when only the best learning rate qualifies; the grid's own span at most). The 95% interval is
the percentile bootstrap: each learning rate's (seeds × tasks) matrix is resampled within each
task, independently, and the whole statistic (argmax included) is recomputed per replication.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from wnrl.harness.stats.bootstrap import Interval, bootstrap
from wnrl.harness.stats.metrics import as_score_matrix, iqm_batched

__all__ = ["FRACTION", "LrRange", "lr_range", "lr_ranges"]

#: The share of its best IQM a method must keep.
FRACTION = 0.9


@dataclass
class LrRange:
    """A method's learning-rate range within :data:`FRACTION` of its best IQM.

    :param best_lr: the learning rate with the best IQM
    :param best_iqm: that IQM (normalised score)
    :param lo: the range's lowest learning rate (point estimate)
    :param hi: its highest learning rate
    :param decades: ``log10(hi / lo)`` with its bootstrap interval ``(point, lo, hi)``
    :param grid_decades: the span of the grid (the widest possible range)
    """

    best_lr: float
    best_iqm: float
    lo: float
    hi: float
    decades: Interval
    grid_decades: float


def _range_bounds(q: NDArray[np.float64], fraction: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Per row of ``q`` (``(B, K)`` IQMs in learning-rate order): the first and last index of the
    run of neighbours of the argmax that keep ``fraction`` of its value."""
    rows = np.arange(q.shape[0])
    best = q.argmax(axis=1)
    top = q[rows, best]
    ok = q >= np.where(top > 0, fraction * top, top)[:, None]  # a non-positive best: itself only
    lo, hi = best.copy(), best.copy()
    for _ in range(q.shape[1] - 1):
        left = np.maximum(lo - 1, 0)
        lo = np.where((lo > 0) & ok[rows, left], left, lo)
        right = np.minimum(hi + 1, q.shape[1] - 1)
        hi = np.where((hi < q.shape[1] - 1) & ok[rows, right], right, hi)
    return lo, hi


def lr_range(
    per_lr: Mapping[float, ArrayLike],
    fraction: float = FRACTION,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> LrRange:
    """The learning-rate range of one method (see the module docstring).

    :param per_lr: ``{learning rate: scores}``, scores a vector of runs or a ``(runs, tasks)``
        matrix (at least two learning rates, all positive)
    :param fraction: the share of the best IQM to keep
    :param reps: bootstrap replications
    :param confidence: interval coverage
    :param seed: RNG seed
    :raises ValueError: with fewer than two learning rates or a non-positive one
    """
    xs = np.array(sorted(float(x) for x in per_lr), dtype=np.float64)
    if len(xs) < 2 or xs[0] <= 0:
        raise ValueError(f"lr_range needs at least two positive learning rates, got {xs.tolist()}")
    by_x = {float(x): v for x, v in per_lr.items()}
    mats = [as_score_matrix(by_x[x], f"scores at learning rate {x:g}") for x in xs]
    logx = np.log10(xs)

    def width(*batches: NDArray[np.float64]) -> NDArray[np.float64]:
        q = np.stack([iqm_batched(b) for b in batches], axis=1)
        lo, hi = _range_bounds(q, fraction)
        return np.asarray(logx[hi] - logx[lo], dtype=np.float64)

    decades = bootstrap(mats, width, reps, confidence, seed)
    q = np.array([[iqm_batched(m[None])[0] for m in mats]])
    lo, hi = _range_bounds(q, fraction)
    best = int(q[0].argmax())
    return LrRange(
        best_lr=float(xs[best]),
        best_iqm=float(q[0, best]),
        lo=float(xs[lo[0]]),
        hi=float(xs[hi[0]]),
        decades=decades,
        grid_decades=float(logx[-1] - logx[0]),
    )


def lr_ranges(sensitivity: Mapping[str, Mapping[str, Any]], reps: int, seed: int) -> dict[str, LrRange]:
    """:func:`lr_range` of every line of a summary's ``lr_sensitivity`` (``{line: {repr(lr):
    scores}}``) with two or more learning rates that all have the same tasks (a sweep still
    running can have a task at one learning rate and not yet at another: such a line is left out).

    :param sensitivity: the summary's ``lr_sensitivity``
    :param reps: bootstrap replications
    :param seed: RNG seed
    """
    out = {}
    for line, per in sensitivity.items():
        scores = {float(x): as_score_matrix(v) for x, v in per.items()}
        if len(scores) >= 2 and len({m.shape[1] for m in scores.values()}) == 1:
            out[line] = lr_range(scores, reps=reps, seed=seed)
    return out

r"""Verdicts on a family of comparisons: Holm's step-down correction and equivalence (TOST).

Each comparison is a probability of improvement :math:`P = P(X > Y)` with bootstrap replicates
:math:`P^{*}_1, \dots, P^{*}_B`. Its two-sided bootstrap p-value against :math:`P = 1/2` is

.. math:: p = \min\left(1,\; 2 \min\left(\tfrac{1 + \#\{P^{*}_b \le 1/2\}}{B + 1},
          \tfrac{1 + \#\{P^{*}_b \ge 1/2\}}{B + 1}\right)\right)

(the percentile test that matches the percentile interval; the :math:`+1` keeps it above 0).

**Holm** (1979), over a family of :math:`m` comparisons at level :math:`\alpha`: sort the p-values
:math:`p_{(1)} \le \dots \le p_{(m)}`; the :math:`i`-th smallest is tested at
:math:`\alpha / (m - i + 1)`, and the adjusted p-value is
:math:`\tilde p_{(i)} = \max_{j \le i} \min(1, (m - j + 1)\, p_{(j)})`. The interval reported for
the :math:`i`-th comparison has confidence :math:`1 - \alpha / (m - i + 1)` (:func:`holm_levels`):
it excludes :math:`1/2` exactly when Holm rejects, as long as every smaller p-value was rejected
too (the step-down stops at the first acceptance; :func:`holm_levels` widens every later interval
to the level of that first acceptance, so no interval claims more than the procedure does).

**Equivalence** (two one-sided tests): :math:`P` is equivalent to :math:`1/2` within a margin
:math:`\delta` when the interval lies inside :math:`[1/2 - \delta, 1/2 + \delta]`.

:func:`verdict` reads one interval: ``better`` (above 1/2), ``worse`` (below), ``equivalent``
(inside the margin, containing 1/2), ``inconclusive`` (none of these).

Numpy only; knows nothing of runs or files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Verdict", "bootstrap_p_value", "holm_adjust", "holm_levels", "verdict"]

Verdict = Literal["better", "worse", "equivalent", "inconclusive"]


def bootstrap_p_value(replicates: ArrayLike, null: float = 0.5) -> float:
    """Two-sided percentile-bootstrap p-value of ``null`` (see the module docstring).

    :param replicates: the bootstrap replicates of the statistic
    :param null: the value tested (1/2 for a probability of improvement)
    :raises ValueError: on no replicates or a non-finite one
    """
    r = np.asarray(replicates, dtype=np.float64).ravel()
    if r.size == 0 or not np.all(np.isfinite(r)):
        raise ValueError("replicates: need at least one, all finite")
    below = (1 + np.count_nonzero(r <= null)) / (r.size + 1)
    above = (1 + np.count_nonzero(r >= null)) / (r.size + 1)
    return float(min(1.0, 2.0 * min(below, above)))


def _checked(pvalues: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    if p.size == 0 or np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("pvalues: need at least one, each in [0, 1]")
    return p


def holm_adjust(pvalues: ArrayLike) -> NDArray[np.float64]:
    r"""Holm-adjusted p-values, in the input's order:
    :math:`\tilde p_{(i)} = \max_{j \le i} \min(1, (m - j + 1) p_{(j)})`.

    :param pvalues: the family's p-values
    """
    p = _checked(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def holm_levels(pvalues: ArrayLike, alpha: float = 0.05) -> NDArray[np.float64]:
    r"""The confidence level of each comparison's interval under Holm's step-down, in the input's
    order: :math:`1 - \alpha / (m - i + 1)` for the :math:`i`-th smallest p-value while every
    smaller one is rejected; from the first acceptance on, that acceptance's level.

    :param pvalues: the family's p-values
    :param alpha: the family-wise error rate
    :raises ValueError: on an ``alpha`` outside (0, 1)
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha {alpha}: must be in (0, 1)")
    p = _checked(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")
    per_step = alpha / (m - np.arange(m))
    rejected = np.logical_and.accumulate(p[order] <= per_step)
    first_accept = int(np.argmin(rejected)) if not rejected.all() else m
    steps = np.minimum(np.arange(m), first_accept)
    levels = np.empty(m)
    levels[order] = 1.0 - alpha / (m - steps)
    return levels


def verdict(interval: Sequence[float], margin: float = 0.1, null: float = 0.5) -> Verdict:
    """The verdict of one (already adjusted) interval of a probability of improvement.

    :param interval: ``(lo, hi)``
    :param margin: the equivalence margin around ``null``
    :param null: no difference (1/2)
    :raises ValueError: on ``lo > hi`` or a margin outside (0, 0.5)
    """
    lo, hi = float(interval[0]), float(interval[1])
    if not lo <= hi:
        raise ValueError(f"interval [{lo}, {hi}]: lo must not exceed hi")
    if not 0.0 < margin < 0.5:
        raise ValueError(f"margin {margin}: must be in (0, 0.5)")
    if lo > null:
        return "better"
    if hi < null:
        return "worse"
    if null - margin <= lo and hi <= null + margin:
        return "equivalent"
    return "inconclusive"

r"""The mechanism diagnostics of a sweep's runs, compared across methods: why a norm helps or hurts.

Every run records diagnostics per layer and per network (:mod:`wnrl.train.mechanisms`,
``docs/diagnostics.md``). Layer names differ between norms (a batch-norm layer shifts the indices),
so each run is first reduced to numbers every method has (:data:`DIAGNOSTICS`):

* ``eff_lr``: the effective learning rate :math:`\lVert W_{t+1} - W_t\rVert_F / \lVert W_t\rVert_F`
  of one optimizer step, averaged over the run; the median over the layers;
* ``param_norm_growth``: :math:`\lVert\theta_T\rVert / \lVert\theta_0\rVert` of the raw weight
  parameters (``v`` for weight norm) at the end; the median over the layers;
* ``dormant_frac``: the τ-dormant fraction of the penultimate units, averaged over the run; the
  mean over the networks;
* ``srank``: the effective rank of the penultimate features, averaged over the run; the mean over
  the networks;
* ``q_bias_rel``: the run's mean Q-value bias at evaluation start states over its mean
  return from them, :math:`\overline{\hat Q(s_0, \pi(s_0)) - G_0} / |\overline{G_0}|`
  (algorithms with a Q-function). A ratio of the run's means, not the mean of per-snapshot
  ratios: an early snapshot with :math:`G_0 = 0` (an agent that has not scored yet) makes the
  latter unbounded (records written before the means existed fall back to it).

Per method and diagnostic: the IQM over the runs with a 95% stratified bootstrap interval (tasks
are the strata, as for the scores), over the tasks where every method that reports the
diagnostic has a value, and the seeds that have it in every one of those tasks.
When the grid varies the learning rate, ``eff_lr`` is also given per learning rate
(:func:`eff_lr_by_lr`): weight norm's claimed mechanism is that the growth of
:math:`\lVert v\rVert` shrinks the effective step, so its ``eff_lr`` should rise less than
linearly with the nominal learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from wnrl.harness.reports.rows import Design, Row, finished
from wnrl.harness.reports.scores import lr_value, seed_matrix
from wnrl.harness.stats import aggregate as stats
from wnrl.harness.stats.aggregate import Interval
from wnrl.harness.sweeps.values import LR_KEY

__all__ = ["DIAGNOSTICS", "compare_diagnostics", "diagnostics_section", "eff_lr_by_lr", "reduce_diagnostics"]

#: name -> (the suffix of the record's keys it reduces, how: ``median`` or ``mean``, what it is).
DIAGNOSTICS: dict[str, tuple[str, str, str]] = {
    "eff_lr": ("/eff_lr:mean", "median", "effective learning rate per step (median over layers)"),
    "param_norm_growth": ("/param_norm_growth", "median", "weight-norm growth since the start (median over layers)"),
    "dormant_frac": ("/dormant_frac:mean", "mean", "dormant fraction of penultimate units"),
    "srank": ("/srank:mean", "mean", "effective rank of penultimate features"),
    "q_bias_rel": ("q_bias_rel:mean", "mean", "the run's mean Q-value bias at start states over its mean return there"),
}


def reduce_diagnostics(diagnostics: Mapping[str, float]) -> dict[str, float]:
    """A run's diagnostics reduced to :data:`DIAGNOSTICS` (those it has, with finite values).

    :param diagnostics: the record's ``diagnostics``
    """
    out = {}
    for name, (suffix, how, _) in DIAGNOSTICS.items():
        values = [v for k, v in diagnostics.items() if k.endswith(suffix) and math.isfinite(v)]
        if values:
            out[name] = float(np.median(values) if how == "median" else np.mean(values))
    bias, ret = diagnostics.get("q_bias:mean"), diagnostics.get("return_start:mean")
    if bias is not None and ret is not None:  # the ratio of the run's means (module docstring)
        out.pop("q_bias_rel", None)
        if math.isfinite(bias) and math.isfinite(ret) and ret != 0:
            out["q_bias_rel"] = bias / abs(ret)
    return out


def compare_diagnostics(d: Design, rows: list[Row], reps: int, seed: int) -> dict[str, dict[str, Interval]]:
    """``{diagnostic: {method: (IQM, lo, hi)}}`` over the tasks (see the module docstring).

    :param d: the design
    :param rows: all rows
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    """
    values = _reduced(rows)
    every = list(dict.fromkeys(d.cell(r) for r, _ in values))
    out: dict[str, dict[str, Interval]] = {}
    for name in DIAGNOSTICS:
        cells = {
            m: [
                {r.seed: v[name] for r, v in values if d.method(r) == m and d.cell(r) == c and name in v} for c in every
            ]
            for m in d.methods
        }
        for m, mat in _common_matrices(cells).items():
            out.setdefault(name, {})[m] = stats.stratified_bootstrap_ci(mat, stats.iqm, reps, seed=seed)
    return out


def eff_lr_by_lr(d: Design, rows: list[Row]) -> dict[str, dict[str, Any]]:
    """``eff_lr`` per method and constant learning rate, ``{method: {repr(lr): matrix}}``, the
    (seeds × tasks) matrix over the other task keys as lists; empty unless the grid varies the
    learning rate and the methods are another key.

    :param d: the design
    :param rows: all rows
    """
    if LR_KEY not in d.keys or d.method_key == LR_KEY:
        return {}
    values = [(r, v["eff_lr"]) for r, v in _reduced(rows) if "eff_lr" in v]
    out: dict[str, dict[str, Any]] = {}
    for lr in dict.fromkeys(r.grid[LR_KEY] for r, _ in values):
        x = lr_value(lr)
        if x is None or str(lr).startswith("lin_"):
            continue
        sub = [(r, v) for r, v in values if r.grid[LR_KEY] == lr]
        every = list(dict.fromkeys(d.cell(r, (LR_KEY,)) for r, _ in sub))
        cells = {
            m: [{r.seed: v for r, v in sub if d.method(r) == m and d.cell(r, (LR_KEY,)) == c} for c in every]
            for m in d.methods
        }
        for m, mat in _common_matrices(cells).items():
            out.setdefault(m, {})[repr(x)] = mat.tolist()
    return out


def _reduced(rows: list[Row]) -> list[tuple[Row, dict[str, float]]]:
    """The finished rows with their reduced diagnostics (:func:`reduce_diagnostics`).

    :param rows: all rows
    """
    return [(r, reduce_diagnostics(r.record.diagnostics)) for r in finished(rows) if r.record is not None]


def _common_matrices(cells: dict[str, list[dict[int, float]]]) -> dict[str, NDArray[np.float64]]:
    """Per method, the (seeds × tasks) matrix over the tasks where every method that has values
    has one (so that no method is scored on an easier set of tasks); methods without any are left out.

    :param cells: method -> one ``{seed: value}`` per task (the same tasks for every method)
    """
    present = {m: c for m, c in cells.items() if any(c)}
    if not present:
        return {}
    ntasks = len(next(iter(present.values())))
    keep = [t for t in range(ntasks) if all(c[t] for c in present.values())]
    out = {}
    for m, c in present.items():
        mat, _ = seed_matrix([c[t] for t in keep]) if keep else (None, 0)
        if mat is not None:
            out[m] = mat
    return out


def diagnostics_section(diagnostics: Mapping[str, Mapping[str, Interval]], over_lrs: bool = False) -> list[str]:
    """The report's section on the diagnostics (empty without any).

    :param diagnostics: the output of :func:`compare_diagnostics` (or ``summary.json``'s)
    :param over_lrs: the learning rate is a task key, so the values pool several learning rates
    """
    if not diagnostics:
        return []
    names = list(diagnostics)
    methods = list(dict.fromkeys(m for per in diagnostics.values() for m in per))
    lines = [
        "### Mechanism diagnostics",
        "",
        "Per run, reduced to numbers every norm has (definitions in "
        "`docs/diagnostics.md`); IQM over the runs [95% stratified bootstrap CI]. "
        + "; ".join(f"`{n}`: {DIAGNOSTICS[n][2]}" for n in names)
        + "."
        + (
            " The learning rate is a task here, so these pool all its values (`eff_lr` scales with it): "
            "the figure of `eff_lr` against the learning rate shows each one."
            if over_lrs
            else ""
        ),
        "",
        "| method | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for m in methods:
        cells = []
        for n in names:
            v = diagnostics[n].get(m)
            cells.append("—" if v is None else f"{v[0]:.3g} [{v[1]:.3g}, {v[2]:.3g}]")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return [*lines, ""]

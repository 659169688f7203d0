"""The tuning report: ``TUNE_DIR/report.md`` and ``TUNE_DIR/figures/``.

* the best-so-far objective of every study against its trials (one line per variant);
* the objective of each trial against each hyperparameter, per variant, with the trial's 95%
  bootstrap interval as a band (the learning-rate sensitivity when the space holds the learning
  rate; a log axis for log ranges);
* the parameter importances of each study (Optuna's PED-ANOVA: deterministic, no scikit-learn; with at
  least 3 complete trials);
* the counts of trials per state, the seeds used, and the optuna-dashboard command.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from wnrl.harness.reports.palette import color_for
from wnrl.harness.sweeps.values import show
from wnrl.harness.tune import trials as tr
from wnrl.harness.tune.spec import Tune
from wnrl.harness.tune.storage import shown
from wnrl.train.rundir import atomic_write_text

__all__ = ["complete_trials", "importances", "write_report"]


def complete_trials(study: Any) -> list[Any]:
    """The study's complete trials, by number."""
    from optuna.trial import TrialState

    return sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)


def importances(study: Any) -> dict[str, float]:
    """Parameter importances (PED-ANOVA, Watanabe et al. 2023: how much each parameter's
    distribution differs between the top 10% of trials and all of them), empty when there are too
    few trials to say. Named explicitly: Optuna 4's default, fANOVA, needs scikit-learn and is
    random; PED-ANOVA gives the same report from the same trials.

    :param study: the Optuna study
    """
    import optuna

    done = complete_trials(study)
    if len(done) < 3 or len({t.value for t in done}) < 2:
        return {}
    try:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _best_so_far(tune: Tune, studies: dict[str, Any], path: Path) -> Path:
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for cell in tune.cells:
        done = complete_trials(studies[cell.study_name])
        xs, ys, best = [], [], float("-inf")
        for i, t in enumerate(done, 1):
            best = max(best, t.value)
            xs.append(i)
            ys.append(best)
        if xs:
            ax.step(xs, ys, where="post", label=cell.label, color=color_for(cell.label))
    ax.set_xlabel("complete trials")
    ax.set_ylabel(f"best objective ({tune.spec.objective.statistic} of {tune.spec.objective.metric})")
    ax.set_title(f"{tune.name}: best so far (budget {tune.budget} trials per variant)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _sensitivity(tune: Tune, studies: dict[str, Any], key: str, path: Path) -> Path:
    p = tune.spec.space[key]
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for cell in tune.cells:
        pts = sorted(
            (t.params[key], t.value, *(t.user_attrs.get("wnrl_ci") or [t.value, t.value]))
            for t in complete_trials(studies[cell.study_name])
            if key in t.params and isinstance(t.params[key], (int, float))
        )
        if not pts:
            continue
        xs, ys, lo, hi = (list(v) for v in zip(*pts))
        c = color_for(cell.label)
        ax.plot(xs, ys, "o-", color=c, label=cell.label, markersize=4)
        ax.fill_between(xs, lo, hi, color=c, alpha=0.15)
    if p.type.startswith("log"):
        ax.set_xscale("log")
    ax.set_xlabel(key)
    ax.set_ylabel("objective (95% CI band over seeds)")
    ax.set_title(f"{tune.name}: sensitivity to {key.rsplit('.', 1)[-1]}")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else show(v)


def _table(tune: Tune, studies: dict[str, Any]) -> list[str]:
    keys = list(tune.spec.space)
    lines = [
        "| study | complete | pruned | failed | interrupted | best objective | 95% CI | "
        + " | ".join(k.rsplit(".", 1)[-1] for k in keys)
        + " |",
        "|---" * (7 + len(keys)) + "|",
    ]
    for cell in tune.cells:
        study = studies[cell.study_name]
        n = tr.counts(study.get_trials(deepcopy=False))
        done = complete_trials(study)
        best = max(done, key=lambda t: t.value) if done else None
        ci = best.user_attrs.get("wnrl_ci") if best else None
        vals = [_fmt(best.params.get(k)) if best else "-" for k in keys]
        lines.append(
            f"| {cell.label} | {n.get('complete', 0)} | {n.get('pruned', 0)} | {n.get('failed', 0)} | "
            f"{n.get('interrupted', 0)} | {f'{best.value:.4g}' if best else '-'} | "
            f"{f'[{ci[0]:.4g}, {ci[1]:.4g}]' if ci else '-'} | " + " | ".join(vals) + " |"
        )
    return lines


def _importance_lines(tune: Tune, studies: dict[str, Any]) -> list[str]:
    lines = ["## Parameter importances (PED-ANOVA)", ""]
    found = False
    for cell in tune.cells:
        imp = importances(studies[cell.study_name])
        if imp:
            found = True
            lines.append(f"- {cell.label}: " + ", ".join(f"{k} {v:.2f}" for k, v in imp.items()))
    if not found:
        lines.append("Too few complete trials (or one parameter) to estimate importances.")
    return lines + [""]


def write_report(tune: Tune, studies: dict[str, Any], tune_dir: Path, url: str) -> Path:
    """Write ``report.md`` and ``figures/`` of a tune directory.

    :param tune: the tune
    :param studies: study name -> study
    :param tune_dir: the tune directory
    :param url: the storage URL
    :returns: the path of ``report.md``
    """
    figs = tune_dir / "figures"
    paths = [_best_so_far(tune, studies, figs / "best_so_far.png")]
    for key in tune.spec.space:
        if tune.spec.space[key].type != "categorical":
            slug = re.sub(r"[^A-Za-z0-9_.\-]+", "_", key)
            paths.append(_sensitivity(tune, studies, key, figs / f"sensitivity_{slug}.png"))
    o = tune.spec.objective
    lines = [
        f"# Tuning report: {tune.name}",
        "",
        tune.spec.description or "",
        "",
        f"Every variant had the same budget: **{tune.budget} trials** per study, each trial scored by the "
        f"**{o.statistic.upper()} over {len(tune.spec.seeds)} seeds × "
        f"{max(1, len(tune.trial_sweep(tune.cells[0], {}, [0]).runs))} tasks of the "
        f"{'final evaluation return' if o.metric == 'final' else 'area under the learning curve'}** "
        "(normalised when there are several tasks), with a 95% stratified bootstrap CI. "
        f"Sampler: {tune.spec.sampler.type}; pruner: {tune.spec.pruner.type}.",
        "",
        f"Tuning seeds: {tune.spec.seeds}. The confirmation (`wnrl compare --tuned {tune_dir}`) uses the seeds "
        f"{tune.confirm_seeds}, disjoint from every tuning seed.",
        "",
        *_table(tune, studies),
        "",
        *_importance_lines(tune, studies),
        "## Figures",
        "",
        *[f"![{p.stem}](figures/{p.name})" for p in paths],
        "",
        f'Browse the studies: `optuna-dashboard {shown(url)}` (`pip install "wnrl[dashboard]"`).',
        "",
    ]
    path = tune_dir / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path

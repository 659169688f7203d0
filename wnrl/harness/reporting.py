"""The report of a sweep directory: ``results.csv``, ``summary.json``, ``report.md``, ``figures/``.

What is compared: the *method* is ``agent.norm`` when the grid varies it (else the first grid key);
the *tasks* are the combinations of the other grid keys (e.g. algo × env × noise); the seeds are
the runs of a task. The score of a run is its final evaluation return (``eval.json`` ``final.mean``).

* Per group (every grid combination): n, mean, median, IQM with a 95% stratified-bootstrap CI and
  the AUC (mean evaluation return over training) with a CI of its mean.
* Probability of improvement of each method over ``none`` (or the first method), averaged over
  tasks, with a CI: invariant to any per-task rescaling, so raw returns are used.
* Aggregates across tasks (IQM, median, mean, optimality gap, performance profiles) use
  normalised scores ``(x - low) / (high - low)`` per environment: ``low``/``high`` from
  :data:`KNOWN_RANGES` (e.g. CartPole-v1: 0..500, the return range), otherwise the min/max final
  return over all finished runs of that environment in the sweep.
* Statistics over tasks need a (seeds × tasks) matrix: a method uses the seeds that finished in
  every task (tasks where some method has no finished run are left out); the report says so.

Every number comes from :mod:`wnrl.harness.stats` (same seed ⇒ same intervals), every figure
from :mod:`wnrl.harness.plots`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from wnrl.config import ConfigError
from wnrl.harness import plots, stats
from wnrl.harness.execute import read_result

__all__ = ["build_report", "load_rows", "analyse", "write_results_csv", "KNOWN_RANGES", "LR_KEY"]

KNOWN_RANGES: dict[str, tuple[float, float]] = {"CartPole-v1": (0.0, 500.0), "CartPole-v0": (0.0, 200.0)}
LR_KEY = "agent.hyperparams.learning_rate"
_VERSIONS = ("wnrl", "python", "torch", "stable_baselines3", "gymnasium", "numpy", "device", "host")


def _show(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_")[:100] or "all"


def _short(key: str, keys: list[str]) -> str:
    if key in ("env.id", "agent.algo"):
        return key.split(".")[0] if key == "env.id" else "algo"
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key


def load_rows(sweep_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The index of a sweep directory and one row per run (``status`` missing when not run yet).

    :param sweep_dir: a directory written by ``wnrl compare``
    :raises ConfigError: when it is not a sweep directory
    """
    try:
        index = json.loads((sweep_dir / "index.json").read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{sweep_dir}: not a sweep directory (no readable index.json); give the "
                          "directory that `wnrl compare` wrote") from None
    rows = []
    for run in index["runs"]:
        res = read_result(sweep_dir / "runs" / run["id"]) or {}
        final = res.get("final") or {}
        rows.append({"id": run["id"], "grid": run["grid"], "seed": run["seed"],
                     "status": res.get("status", "missing"), "env_id": res.get("env_id"),
                     "final_mean": final.get("mean"), "final_std": final.get("std"),
                     "auc": res.get("auc"), "seconds": res.get("seconds"), "curve": res.get("curve"),
                     "error": res.get("error"), "cpu_seconds": res.get("cpu_seconds")})
    return index, rows


def write_results_csv(path: Path, grid_keys: list[str], rows: list[dict[str, Any]]) -> Path:
    """One row per run: id, every grid key, seed, status, final_mean, final_std, auc, seconds, error.

    :param path: output file
    :param grid_keys: the grid keys (columns)
    :param rows: rows from :func:`load_rows`
    """
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", *grid_keys, "seed", "status", "final_mean", "final_std", "auc", "seconds", "error"])
    for r in rows:
        w.writerow([r["id"], *(_show(r["grid"][k]) for k in grid_keys), r["seed"], r["status"],
                    *("" if r[k] is None else r[k] for k in ("final_mean", "final_std", "auc", "seconds", "error"))])
    path.write_text(buf.getvalue())
    return path


def _matrix(cells: list[dict[int, float]]) -> tuple[np.ndarray | None, int]:
    """A (seeds × tasks) matrix from per-task ``{seed: score}``, using the seeds present in every
    task; returns ``(matrix or None, number of scores left out)``."""
    if not cells or any(not c for c in cells):
        return None, sum(len(c) for c in cells)
    seeds = sorted(set.intersection(*(set(c) for c in cells)))
    dropped = sum(len(c) for c in cells) - len(seeds) * len(cells)
    if not seeds:
        return None, dropped
    return np.array([[c[s] for c in cells] for s in seeds], dtype=float), dropped


def _lr_value(v: Any) -> float | None:
    if isinstance(v, str) and v.startswith("lin_"):
        v = v[4:]
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if x > 0 else None


def analyse(index: dict[str, Any], rows: list[dict[str, Any]], reps: int = 2000, seed: int = 0) -> dict[str, Any]:
    """All the statistics of the report.

    :param index: the sweep index
    :param rows: rows from :func:`load_rows`
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    :returns: a JSON-ready mapping (what ``summary.json`` holds)
    """
    keys: list[str] = index["grid_keys"]
    method_key = "agent.norm" if "agent.norm" in keys else (keys[0] if keys else None)
    task_keys = [k for k in keys if k != method_key]
    done = [r for r in rows if r["status"] == "finished"]
    out: dict[str, Any] = {"method_key": method_key, "task_keys": task_keys, "reps": reps, "seed": seed,
                           "groups": [], "notes": []}
    for gkey in dict.fromkeys(tuple(_show(r["grid"][k]) for k in keys) for r in rows):
        members = [r for r in rows if tuple(_show(r["grid"][k]) for k in keys) == gkey]
        fin = [r for r in members if r["status"] == "finished"]
        g: dict[str, Any] = {"grid": dict(zip(keys, gkey)), "runs": len(members), "n": len(fin),
                             "failed": sum(r["status"] == "failed" for r in members)}
        if fin:
            s = stats.summarize_runs([r["final_mean"] for r in fin], reps=reps, seed=seed)
            a = stats.stratified_bootstrap_ci(np.array([r["auc"] for r in fin]), stats.mean, reps, seed=seed)
            g.update(mean=s["mean"], median=s["median"], iqm=s["iqm"], iqm_lo=s["iqm_lo"],
                     iqm_hi=s["iqm_hi"], auc_mean=a[0], auc_lo=a[1], auc_hi=a[2])
        out["groups"].append(g)
    methods = list(dict.fromkeys(_show(r["grid"][method_key]) for r in rows)) if method_key else ["all"]
    baseline = "none" if "none" in methods else methods[0]
    out.update(methods=methods, baseline=baseline)

    def method(r: dict[str, Any]) -> str:
        return _show(r["grid"][method_key]) if method_key else "all"

    def task(r: dict[str, Any], without: tuple[str, ...] = ()) -> tuple[str, ...]:
        return tuple(_show(r["grid"][k]) for k in task_keys if k not in without)

    ranges = {}
    for env in dict.fromkeys(r["env_id"] for r in done):
        if env in KNOWN_RANGES:
            ranges[env] = [*KNOWN_RANGES[env], "known return range"]
        else:
            vals = [r["final_mean"] for r in done if r["env_id"] == env]
            lo, hi = min(vals), max(vals)
            ranges[env] = [lo, hi if hi > lo else lo + 1.0, "min/max final return of its runs in this sweep"]
    out["normalisation"] = ranges
    for r in done:
        lo, hi = ranges[r["env_id"]][:2]
        r["normalised"] = (r["final_mean"] - lo) / (hi - lo)

    tasks = list(dict.fromkeys(task(r) for r in rows))
    kept = [t for t in tasks if all(any(method(r) == m and task(r) == t for r in done) for m in methods)]
    out["tasks"] = [dict(zip(task_keys, t)) for t in kept]
    if len(kept) < len(tasks):
        out["notes"].append(f"{len(tasks) - len(kept)} of {len(tasks)} tasks are left out of the "
                            "statistics over tasks: some method has no finished run there")
    raw, norm = {}, {}
    for m in methods:
        cells = [{r["seed"]: r for r in done if method(r) == m and task(r) == t} for t in kept]
        mat, dropped = _matrix([{s: r["final_mean"] for s, r in c.items()} for c in cells])
        if mat is None:
            continue
        raw[m] = mat
        norm[m] = _matrix([{s: r["normalised"] for s, r in c.items()} for c in cells])[0]
        if dropped:
            out["notes"].append(f"{m}: {dropped} runs left out of the statistics over tasks (their seed "
                                "did not finish in every task)")
    out["poi"] = {}
    if baseline in raw:
        for m in methods:
            if m != baseline and m in raw:
                pt, lo, hi = stats.probability_of_improvement_ci(raw[m], raw[baseline], reps, seed=seed)
                out["poi"][f"{m} vs {baseline}"] = [pt, lo, hi]
    out["aggregate"] = ({metric: {m: list(v) for m, v in d.items()}
                         for metric, d in stats.aggregate_methods(norm, reps, seed).items()} if norm else {})
    out["score_matrices"] = {m: {"raw": raw[m].tolist(), "normalised": norm[m].tolist()} for m in raw}
    if norm:
        allv = np.concatenate([v.ravel() for v in norm.values()])
        taus = np.linspace(min(0.0, float(allv.min())), max(1.0, float(allv.max())), 101)
        out["profiles"] = {"taus": taus.tolist(), **{m: [a.tolist() for a in p] for m, p in
                                                    stats.performance_profiles(norm, taus, reps, seed).items()}}
    if LR_KEY in keys:
        sens: dict[str, dict[str, Any]] = {}
        for m in methods if method_key != LR_KEY else ["all"]:
            for lr in dict.fromkeys(r["grid"][LR_KEY] for r in rows):
                x = _lr_value(lr)
                sub = [r for r in done if (method_key == LR_KEY or method(r) == m) and r["grid"][LR_KEY] == lr]
                line = f"{m} (lin schedule)" if isinstance(lr, str) else m  # lin_x and x: two lines
                if x is None or not sub:
                    continue
                ts = list(dict.fromkeys(task(r, (LR_KEY,)) for r in sub))
                mat = _matrix([{r["seed"]: r["normalised"] for r in sub if task(r, (LR_KEY,)) == t} for t in ts])[0]
                sens.setdefault(line, {})[repr(x)] = (mat if mat is not None else
                                                   np.array([r["normalised"] for r in sub])).tolist()
        out["lr_sensitivity"] = sens
    return out


def _curves(rows: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per task label: method → (steps, returns (runs, points)) of the finished runs."""
    mk, tk = summary["method_key"], summary["task_keys"]
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["status"] != "finished" or not r["curve"] or not r["curve"]["steps"]:
            continue
        label = ", ".join(f"{_short(k, tk)}={_show(r['grid'][k])}" for k in tk) or "all runs"
        m = _show(r["grid"][mk]) if mk else "all"
        out.setdefault(label, {}).setdefault(m, []).append(r["curve"])
    result: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for label, by_m in out.items():
        for m, cs in by_m.items():
            steps = np.asarray(cs[0]["steps"], dtype=float)
            ys = [np.asarray(c["mean"], dtype=float) if list(c["steps"]) == list(cs[0]["steps"]) else
                  np.interp(steps, np.asarray(c["steps"], float), np.asarray(c["mean"], float)) for c in cs]
            result.setdefault(label, {})[m] = (steps, np.vstack(ys))
    return result


def make_figures(sweep_dir: Path, rows: list[dict[str, Any]], summary: dict[str, Any], reps: int = 2000) -> list[tuple[str, Path]]:
    """Write the figures into ``sweep_dir/figures``; returns ``(title, path)`` pairs.

    :param sweep_dir: the sweep directory
    :param rows: rows from :func:`load_rows`
    :param summary: the output of :func:`analyse`
    :param reps: bootstrap resamples for the bands
    """
    fig_dir = sweep_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in fig_dir.glob("*.png"):
        old.unlink()
    plots.register_labels(summary["methods"])
    seed, figs = summary["seed"], []
    for label, curves in _curves(rows, summary).items():
        path = plots.plot_learning_curves(curves, fig_dir / f"curves_{_slug(label)}.png", label,
                                          ylabel="evaluation return", reps=reps, seed=seed)
        figs.append((f"Learning curves: {label} (IQM over seeds, 95% CI)", path))
    if summary["aggregate"]:
        title = "Final score over all tasks (normalised; 95% stratified bootstrap CIs)"
        figs.append((title, plots.plot_intervals({k: {m: tuple(v) for m, v in d.items()}
                                                  for k, d in summary["aggregate"].items()},
                                                 fig_dir / "final_scores.png", title, xlabel="normalised score")))
    if summary["poi"]:
        title = f"Probability of improvement over {summary['baseline']} (95% CIs)"
        figs.append((title, plots.plot_probability_of_improvement(
            {k: tuple(v) for k, v in summary["poi"].items()}, fig_dir / "probability_of_improvement.png", title)))
    if summary.get("profiles"):
        p = summary["profiles"]
        title = "Performance profiles (normalised final scores, 95% CI bands)"
        figs.append((title, plots.plot_performance_profiles(
            {m: tuple(np.asarray(a) for a in v) for m, v in p.items() if m != "taus"}, p["taus"],
            fig_dir / "performance_profiles.png", title)))
    if summary.get("lr_sensitivity"):
        data = {m: {float(x): np.asarray(v) for x, v in d.items()} for m, d in summary["lr_sensitivity"].items()}
        title = "Learning-rate sensitivity (IQM of normalised final scores, 95% CI)"
        figs.append((title, plots.plot_sensitivity(data, fig_dir / "lr_sensitivity.png", title,
                                                   ylabel="normalised score", reps=reps, seed=seed)))
    return figs


def _f(x: Any, d: int = 1) -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{d}f}"


def _ci(v: Any, d: int = 1) -> str:
    return f"{_f(v[0], d)} [{_f(v[1], d)}, {_f(v[2], d)}]"


def _versions(sweep_dir: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    for r in rows:
        if r["status"] == "finished":
            try:
                return json.loads((sweep_dir / "runs" / r["id"] / "system.json").read_text())
            except (OSError, ValueError):
                continue
    return {}


def render_markdown(sweep_dir: Path, index: dict[str, Any], rows: list[dict[str, Any]], summary: dict[str, Any],
                    figs: list[tuple[str, Path]]) -> str:
    """The text of ``report.md``.

    :param sweep_dir: the sweep directory
    :param index: the sweep index
    :param rows: rows from :func:`load_rows`
    :param summary: the output of :func:`analyse`
    :param figs: ``(title, path)`` of the figures
    """
    keys, reps = index["grid_keys"], summary["reps"]
    n = {s: sum(r["status"] == s for r in rows) for s in ("finished", "failed", "missing")}
    L = [f"# Sweep `{index['name']}`", ""]
    if index.get("description"):
        L += [index["description"], ""]
    sess = (index.get("sessions") or [{}])[-1]
    L += [f"- command: `{index.get('command', '')}`", f"- sweep file: `{index.get('source')}`",
          *(f"- grid `{k}`: {', '.join(_show(v) for v in vals)}" for k, vals in index["grid"].items()),
          f"- seeds: {', '.join(map(str, index['seeds']))}",
          *([f"- overrides (--set): {', '.join(index['overrides'])}"] if index.get("overrides") else []),
          f"- runs: {len(rows)}: {n['finished']} finished, {n['failed']} failed, {n['missing']} not run (yet)",
          f"- training time summed over runs: {sum(r['seconds'] or 0 for r in rows) / 60:.1f} min"
          + (f" (CPU time of the whole runs: {cpu / 60:.1f} min)" if (cpu := sum(r.get("cpu_seconds") or 0 for r in rows)) else "")
          + (f"; wall time of the last `wnrl compare`: {sess['wall_seconds'] / 60:.1f} min for {sess['ran']} "
             f"runs ({sess['backend']} backend, {sess['workers']} workers)" if sess else ""), ""]
    L += ["## Final return per setting", "",
          "Final return: the deterministic evaluation of the final policy (mean over the evaluation "
          f"episodes). IQM: interquartile mean over seeds; 95% CIs: stratified bootstrap, {reps} resamples. "
          "AUC: mean evaluation return over training.", "",
          "| " + " | ".join([_short(k, keys) for k in keys] + ["n", "mean", "median", "IQM [95% CI]",
                                                            "AUC mean [95% CI]"]) + " |",
          "|" + "---|" * (len(keys) + 5)]
    for g in summary["groups"]:
        n_txt = f"{g['n']}/{g['runs']}" + (f" ({g['failed']} failed)" if g["failed"] else "")
        vals = ([_f(g["mean"]), _f(g["median"]), _ci((g["iqm"], g["iqm_lo"], g["iqm_hi"])),
                 _ci((g["auc_mean"], g["auc_lo"], g["auc_hi"]))] if g["n"] else ["—"] * 4)
        L.append("| " + " | ".join([*(g["grid"][k] for k in keys), n_txt, *vals]) + " |")
    L.append("")
    mk, base = summary["method_key"], summary["baseline"]
    nt = len(summary["tasks"])
    tasks_txt = (f"the combinations of {', '.join(summary['task_keys'])} ({nt} task{'s' * (nt != 1)})"
                 if summary["task_keys"] else "a single task")
    if summary["poi"] or summary["aggregate"]:
        L += [f"## `{mk}` compared over all tasks" if mk else "## All runs", "",
              f"Tasks: {tasks_txt}; the runs of a task are its seeds.", ""]
    if summary["poi"]:
        L += ["### Probability of improvement", "",
              f"P(X > {base}): the probability that a run of X beats a run of {base} on the same task "
              "(Mann-Whitney U / (n m)), averaged over tasks; 0.5 = no difference.", "",
              f"| X | P(X > {base}) [95% CI] |", "|---|---|"]
        L += [f"| {k.split(' vs ')[0]} | {_ci(v, 3)} |" for k, v in summary["poi"].items()] + [""]
    if summary["aggregate"]:
        norm_txt = "; ".join(f"{e}: {lo:g}..{hi:g} ({how})" for e, (lo, hi, how) in summary["normalisation"].items())
        L += ["### Aggregate over tasks (normalised scores)", "",
              f"Scores normalised per environment as (return - low) / (high - low): {norm_txt}. "
              "Optimality gap: mean shortfall below 1 (lower is better).", "",
              "| method | IQM [95% CI] | median [95% CI] | mean [95% CI] | optimality gap [95% CI] |",
              "|---|---|---|---|---|"]
        agg = summary["aggregate"]
        order = ("iqm", "median", "mean", "optimality_gap")  # the columns above
        L += [f"| {m} | " + " | ".join(_ci(agg[k][m], 3) for k in order) + " |" for m in agg["iqm"]]
        L.append("")
    for note in summary["notes"]:
        L += [f"> Note: {note}.", ""]
    if figs:
        L += ["## Figures", ""]
        for title, path in figs:
            L += [f"### {title}", "", f"![{title}]({os.path.relpath(path, sweep_dir)})", ""]
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        L += [f"## Failed runs ({len(failed)})", "", "Rerun them with `--retry-failed`; the traceback is "
              "in `runs/<id>/result.json`.", "", "| run | error |", "|---|---|"]
        L += [f"| {r['id']} | {str(r['error'])[:200].replace('|', '/')} |" for r in failed] + [""]
    sysinfo = _versions(sweep_dir, rows)
    L += ["## Reproducibility", "", "Versions (from a run's system.json): "
          + (", ".join(f"{k} {sysinfo[k]}" for k in _VERSIONS if k in sysinfo) or "no finished run") + ".", "",
          f"Every run directory `runs/<id>/` holds its resolved config.yaml, eval.json, curve.json, "
          f"model.zip and TensorBoard events (tb/, with HParams): compare all runs with "
          f"`tensorboard --logdir {sweep_dir}` (HParams tab: one row per run). The per-run table is "
          f"`results.csv`, every number of this report is in `summary.json`; rerun the command above to "
          f"resume or reproduce (finished runs are kept).", ""]
    return "\n".join(L)


def build_report(sweep_dir: Path, reps: int = 2000, seed: int = 0) -> Path:
    """Write ``results.csv``, ``summary.json``, ``figures/*.png`` and ``report.md``.

    :param sweep_dir: a directory written by ``wnrl compare``
    :param reps: bootstrap resamples
    :param seed: bootstrap seed
    :returns: the path of ``report.md``
    """
    index, rows = load_rows(sweep_dir)
    write_results_csv(sweep_dir / "results.csv", index["grid_keys"], rows)
    summary = analyse(index, rows, reps, seed)
    figs = make_figures(sweep_dir, rows, summary, reps)
    (sweep_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    path = sweep_dir / "report.md"
    path.write_text(render_markdown(sweep_dir, index, rows, summary, figs))
    return path

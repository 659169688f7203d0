"""``wnrl compare --tuned TUNE_DIR``: confirm the tuned settings on fresh seeds.

Two sweeps on the confirmation seeds (disjoint from every tuning seed: enforced), into
``OUT/default`` (every variant at the base config's shared settings) and ``OUT/tuned`` (each
variant × group at its own best hyperparameters of ``tuned.yaml``, applied like ``--set``), each
with its usual report, and ``OUT/confirmation.md``: the two side by side, the tuned values, and
which verdicts (P(X > baseline) CI above / below / across 0.5) change. ``--seeds`` runs it in
stages (a block of the seeds at a time, added to ``OUT``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from wnrl.config import ConfigError
from wnrl.harness.comparison import CompareOptions, CompareOutcome, compare_sweep
from wnrl.harness.comparison import write_report as write_sweep_report
from wnrl.harness.run.options import ExecOptions
from wnrl.harness.sweeps.directory import prepare, reuse_ids
from wnrl.harness.sweeps.index import read_index, run_dir_of
from wnrl.harness.sweeps.spec import Sweep, expand_sweep, show
from wnrl.harness.tune.session import read_tuned
from wnrl.harness.tune.spec import Tune, parse_tune
from wnrl.train.rundir import LOCK_FILE, DirLock, atomic_write_text, check_dir_path

__all__ = ["CONFIRM_FILE", "ConfirmPart", "confirm", "confirmation_parts", "load_tuned_tune", "verdict"]

#: What marks a confirmation directory (written under its lock once every part's checks passed,
#: in a new one only): its tune.
CONFIRM_FILE = "confirm.json"
_HALVES = ("default", "tuned")


@dataclass(frozen=True)
class ConfirmPart:
    """One sweep of a confirmation (see :func:`confirmation_parts`).

    :param file: the name of its sweep file in the confirmation directory (a record)
    :param data: its sweep mapping (written to ``file``)
    :param sets: the tuned values applied to every run, as ``--set`` items
    :param half: ``default`` or ``tuned``: the sweep directory it is added to
    :param sweep: the sweep, expanded from ``data`` and ``sets``
    """

    file: str
    data: dict[str, Any]
    sets: list[str]
    half: str
    sweep: Sweep


def load_tuned_tune(tune_dir: str | Path) -> tuple[Tune, dict[str, Any]]:
    """The tune of a tune directory (rebuilt from ``tune.json``) and its ``tuned.yaml``.

    :param tune_dir: a directory written by ``wnrl tune``
    :raises ConfigError: when it is not one, a file is damaged, or a study has no complete trial
    """
    spec, tuned = read_tuned(tune_dir)
    data = {**spec["spec"], "base": spec["base"]}
    tune = parse_tune(data, spec["source"])
    if tune.digest != spec["digest"]:
        raise ConfigError(
            f"--tuned {tune_dir}: {Path(tune_dir) / 'tune.json'}: does not match its digest (edited, or written by "
            f"an older wnrl); rerun `wnrl tune {spec['source']} --out {tune_dir}` to write it again"
        )
    _check_best(tune, tuned, Path(tune_dir))
    return tune, tuned


def _check_best(tune: Tune, tuned: dict[str, Any], tune_dir: Path) -> None:
    """Every study of the tune has an entry in ``tuned.yaml`` with its values of the space."""
    where = f"--tuned {tune_dir}: {tune_dir / 'tuned.yaml'}: best"
    fix = f"rerun `wnrl tune {tune.source} --out {tune_dir}` to write it again (the trials are kept)"
    best = {e["study"]: e for e in tuned["best"]}
    unknown = sorted(set(best) - {c.study_name for c in tune.cells})
    if unknown:
        raise ConfigError(f"{where}: {unknown[0]} is not a study of {tune.source}; {fix}")
    for cell in tune.cells:
        entry = best.get(cell.study_name)
        if entry is None:
            raise ConfigError(f"{where}: no entry for the study {cell.study_name}; {fix}")
        params = entry.get("params")
        if params is None:
            raise ConfigError(
                f"--tuned {tune_dir}: the study {cell.study_name} has no complete trial; run `wnrl tune` to the end"
            )
        number = isinstance(entry.get("objective"), (int, float)) and not isinstance(entry.get("objective"), bool)
        if not isinstance(params, dict) or sorted(params) != sorted(tune.spec.space) or not number:
            raise ConfigError(
                f"{where}: {cell.study_name}: needs params (a value of each of {', '.join(tune.spec.space)}) "
                f"and a numeric objective; {fix}"
            )


def _check_seeds(tune: Tune, seeds: list[int], where: str) -> None:
    common = sorted(set(seeds) & set(tune.spec.seeds))
    if common:
        raise ConfigError(
            f"{where}: the seeds {common} were used in tuning ({tune.spec.seeds}); confirmation seeds must be "
            f"new, e.g. seeds: {list(range(max(tune.spec.seeds) + 1, max(tune.spec.seeds) + 11))}"
        )


def confirmation_parts(tune: Tune, tuned: dict[str, Any], seeds: list[int]) -> list[ConfirmPart]:
    """The sweeps of a confirmation: every variant at the shared settings, then each variant ×
    group at its own best values of ``tuned.yaml`` (as ``--set`` items).

    :param tune: the tune
    :param tuned: its ``tuned.yaml`` (checked by :func:`load_tuned_tune`)
    :param seeds: the confirmation seeds
    :raises ConfigError: when a sweep does not expand
    """
    grid = {**tune.spec.variants, **tune.spec.groups, **tune.spec.tasks}
    base = tune.base  # shared by the mappings below, which are only dumped and expanded from copies
    default = {"name": f"{tune.name}-default", "base": base, "per": tune.per_for(grid), "grid": grid, "seeds": seeds}
    shared = expand_sweep(copy.deepcopy(default), "<confirmation: shared settings>")
    parts = [ConfirmPart("default.sweep.yaml", default, [], "default", shared)]
    best = {e["study"]: e for e in tuned["best"]}
    for cell in tune.cells:
        g = {**{k: [v] for k, v in cell.variant.items()}, **{k: [v] for k, v in cell.group.items()}, **tune.spec.tasks}
        data = {"name": f"{tune.name}-tuned", "base": base, "per": tune.per_for(g), "grid": g, "seeds": seeds}
        sets = [f"{k}={json.dumps(v)}" for k, v in best[cell.study_name]["params"].items()]
        sweep = expand_sweep(copy.deepcopy(data), f"<confirmation: {cell.label}>", overrides=sets)
        parts.append(ConfirmPart(f"tuned-{cell.slug}.sweep.yaml", data, sets, "tuned", sweep))
    return parts


def confirm(
    tune_dir: str | Path,
    out: str | Path | None = None,
    seeds: list[int] | None = None,
    write_report: bool = True,
    *,
    retry_failed: bool = False,
    progress: bool | None = None,
    execution: ExecOptions | None = None,
) -> CompareOutcome:
    """Run the confirmation of a tune directory (resuming what is done).

    Both halves are added to what ``out`` holds (as ``--add``: runs there are kept, a run whose grid
    values and seed match one there with another config is refused), so given ``seeds`` (``wnrl
    compare --tuned DIR --seeds 2-6``) it runs a *stage*: a confirmation too long for one sitting
    runs seed block by seed block, with the same n in every cell after each block; the reports
    cover every run there.

    Each part's sweep is built here and run as it is (:func:`~wnrl.harness.comparison.compare_sweep`);
    its mapping is also written beside the halves (``default.sweep.yaml``, ``tuned-<variant>.sweep.yaml``),
    the file that its ``index.json`` names and its recorded command reruns.

    :param tune_dir: a directory written by ``wnrl tune``
    :param out: the confirmation directory (default: ``sweeps/<tune name>-confirm``)
    :param seeds: the confirmation seeds (default: the tune file's ``confirm_seeds``)
    :param write_report: write the reports
    :param retry_failed: rerun the runs that failed earlier
    :param progress: ``None``: a bar on a terminal, a line per run otherwise; ``False``: silent
    :param execution: workers, backend, address, runs per GPU (default: every CPU core, locally)
    :returns: the outcome over both sweeps (``sweep_dir``: ``out``)
    :raises ConfigError: on bad input (seeds used in tuning included), before anything is written
    """
    from wnrl.harness.sweeps.lock import sweep_lock

    tune, tuned = load_tuned_tune(tune_dir)
    seeds = list(seeds) if seeds is not None else tune.confirm_seeds
    _check_seeds(tune, seeds, f"--tuned {tune_dir}")
    parts = confirmation_parts(tune, tuned, seeds)
    root = Path(out) if out else Path("sweeps") / f"{tune.name}-confirm"
    _check_root(root)  # before anything is written
    _check_parts(root, [(p.half, p.sweep) for p in parts])
    options = CompareOptions(
        execution=execution or ExecOptions(), retry_failed=retry_failed, progress=progress, add=True
    )
    path = None
    with sweep_lock(root):  # before planning: a second confirmation must not clear this one's runs
        _check_root(root)
        if not _is_confirmation(root.resolve()):  # a new one (a confirmation there keeps its record)
            record = {"tune_dir": str(tune_dir), "tune": tune.name, "source": tune.source, "digest": tune.digest}
            atomic_write_text(root / CONFIRM_FILE, json.dumps(record, indent=2))
        done = [_run_part(root, p, replace(options, write_report=write_report and p.half == "default")) for p in parts]
        if write_report:
            write_sweep_report(root / "tuned")
            path = write_confirmation(tune, tuned, root, Path(tune_dir))
    return CompareOutcome(
        root,
        ran=[r for o in done for r in o.ran],
        failed=[r for o in done for r in o.failed],
        total=sum(o.total for o in done),
        report=path,
        wall_seconds=sum(o.wall_seconds for o in done),
    )


def _check_root(root: Path) -> None:
    """Refuse a confirmation directory that holds something else (nothing written).

    :param root: the ``--out`` of ``compare --tuned``
    :raises ConfigError: on a file, a run directory (or inside one), a non-empty folder that is
        not a confirmation directory
    """
    check_dir_path(root, f"--out {root}", "choose another --out")  # a symlink loop, a name too long
    where = root.resolve()
    if where.exists() and not where.is_dir():
        raise ConfigError(f"--out {root}: is a file, not a directory; choose another --out (a new directory)")
    run = run_dir_of(root)
    if run is not None:
        raise ConfigError(f"--out {root}: is or lies in the `wnrl train` run directory {run}; choose another --out")
    if not where.is_dir() or {p.name for p in where.iterdir()} <= {LOCK_FILE}:  # new, or locked by a confirmation
        return
    if _is_confirmation(where):
        return
    raise ConfigError(
        f"--out {root}: not empty and not a confirmation directory of `wnrl compare --tuned` (no {CONFIRM_FILE}); "
        "writing there would replace what is there; choose another --out (a new directory)"
    )


def _is_confirmation(where: Path) -> bool:
    """Whether the directory ``where`` holds a confirmation (its record, or one of its halves).

    :param where: the confirmation directory (need not exist)
    """
    return (where / CONFIRM_FILE).is_file() or any((where / h / "index.json").is_file() for h in _HALVES)


def _check_parts(root: Path, parts: list[tuple[str, Sweep]]) -> None:
    """Every check that each part's ``compare --add`` makes of its directory, made for all parts
    before anything is written, so that a refusal of any part (its runs there with other settings,
    another ``wnrl compare`` in it) leaves the confirmation directory as it was.

    :param root: the confirmation directory
    :param parts: ``(half, sweep)`` of each part
    :raises ConfigError: the first part's refusal
    """
    for half, sweep in parts:
        sweep_dir = root / half
        prepare(sweep, sweep_dir, add=True)
        if not (sweep_dir / LOCK_FILE).is_file():
            continue  # never locked: nobody holds it
        lock = DirLock(sweep_dir)
        try:
            held = lock.acquire()
        except OSError:
            continue  # its compare says why it cannot write there
        lock.release()
        if not held:
            raise ConfigError(
                f"--out {root}: another `wnrl compare` is running in its {half} sweep {sweep_dir}; "
                "wait for it or choose another --out"
            )


def _finished_there(sweep: Sweep, sweep_dir: Path) -> bool:
    """Whether every run of ``sweep`` has finished in ``sweep_dir`` (under its id there); decided
    by the sweep's own planner, which also clears what a killed run left (as ``compare`` would),
    under the directory's lock."""
    from wnrl.harness.run.execute import plan_runs
    from wnrl.harness.sweeps.lock import sweep_lock

    if not sweep_dir.is_dir() or read_index(sweep_dir) is None:
        return False
    with sweep_lock(sweep_dir):
        index = read_index(sweep_dir)
        if index is None:
            return False
        todo, counts, _ = plan_runs(reuse_ids(sweep, index).runs, sweep_dir)
    return not todo and not counts["failed"]


def _run_part(root: Path, part: ConfirmPart, options: CompareOptions) -> CompareOutcome:
    """One sweep of a confirmation, added to ``root / part.half``; when all its runs are already
    there (a stage run before), nothing is run or rewritten: the directory's index, sessions and
    report stay those of the runs that made it.

    :param root: the confirmation directory
    :param part: the part
    :param options: how it runs (its sweep file, directory and ``--set`` are the part's)
    """
    sweep_dir = root / part.half
    if _finished_there(part.sweep, sweep_dir):
        if options.write_report and not (sweep_dir / "summary.json").exists():
            write_sweep_report(sweep_dir)
        return CompareOutcome(sweep_dir, total=len(part.sweep.runs))
    path = root / part.file  # the record of the sweep that its index.json names
    atomic_write_text(path, yaml.safe_dump(part.data, sort_keys=False))
    options = replace(options, sweep=path, out=sweep_dir, overrides=tuple(part.sets))
    return compare_sweep(replace(part.sweep, source=str(path)), options)


def verdict(interval: Any) -> str:
    """``better`` / ``worse`` / ``no clear difference`` from a P(X > baseline) interval."""
    _, lo, hi = interval
    return "better" if lo > 0.5 else "worse" if hi < 0.5 else "no clear difference"


def _iqms(summary: dict[str, Any]) -> dict[str, str]:
    out = {}
    for g in summary["groups"]:
        label = ", ".join(f"{k}={v}" for k, v in g["grid"].items())
        iqm = g.get("iqm")
        out[label] = f"{iqm[0]:.1f} [{iqm[1]:.1f}, {iqm[2]:.1f}]" if iqm else "-"
    return out


def _tuned_lines(tune: Tune, tuned: dict[str, Any]) -> list[str]:
    lines = ["## Tuned values", "", "| study | objective (tuning seeds) | values |", "|---|---|---|"]
    for e in tuned["best"]:
        vals = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={show(v)}" for k, v in e["params"].items())
        ci = e.get("ci") or [float("nan")] * 2
        lines.append(f"| {e['study']} | {e['objective']:.4g} [{ci[0]:.4g}, {ci[1]:.4g}] | {vals} |")
    return lines + [""]


def _seeds_there(sweep_dir: Path) -> list[int]:
    index = read_index(sweep_dir) or {"runs": []}
    return sorted({r["seed"] for r in index["runs"]})


def write_confirmation(tune: Tune, tuned: dict[str, Any], root: Path, tune_dir: Path) -> Path:
    """Write ``confirmation.md``: shared vs tuned settings side by side, and the verdicts that change.

    :param tune: the tune
    :param tuned: ``tuned.yaml``
    :param root: the confirmation directory (its seeds are those of the runs in its two halves)
    :param tune_dir: the tune directory
    """
    a = json.loads((root / "default" / "summary.json").read_text())
    b = json.loads((root / "tuned" / "summary.json").read_text())
    ia, ib = _iqms(a), _iqms(b)
    sa, sb = _seeds_there(root / "default"), _seeds_there(root / "tuned")
    where = f"the {len(sa)} seeds {sa}" if sa == sb else f"the seeds {sa} (shared settings) and {sb} (tuned settings)"
    lines = [
        f"# Confirmation of {tune.name}: shared settings vs tuned settings",
        "",
        f"Tuned in `{tune_dir}` with {tune.budget} trials per variant on the seeds {tune.spec.seeds}; confirmed "
        f"here on {where}, **disjoint from every tuning seed** (enforced).",
        "",
        "## Final return per group (IQM [95% CI])",
        "",
        "| group | shared settings | tuned settings |",
        "|---|---|---|",
        *[f"| {g} | {ia.get(g, '-')} | {ib.get(g, '-')} |" for g in dict.fromkeys([*ia, *ib])],
        "",
        f"## Probability of improvement over {a.get('baseline')} (verdict from the 95% CI)",
        "",
        "| comparison | shared settings | tuned settings | verdict changes? |",
        "|---|---|---|---|",
    ]
    changed = []
    for key in dict.fromkeys([*a.get("poi", {}), *b.get("poi", {})]):
        pa, pb = a["poi"].get(key), b["poi"].get(key)
        va, vb = (verdict(p) if p else "-" for p in (pa, pb))
        if va != vb:
            changed.append(f"{key}: {va} → {vb}")
        cells = [f"{p[0]:.2f} [{p[1]:.2f}, {p[2]:.2f}] {verdict(p)}" if p else "-" for p in (pa, pb)]
        lines.append(f"| {key} | {cells[0]} | {cells[1]} | {'**yes**' if va != vb else 'no'} |")
    lines += ["", "Verdicts that change with tuning: " + ("; ".join(changed) if changed else "none"), ""]
    lines += _tuned_lines(tune, tuned)
    lines += ["Full reports: [shared settings](default/report.md), [tuned settings](tuned/report.md).", ""]
    path = root / "confirmation.md"
    atomic_write_text(path, "\n".join(lines))
    return path

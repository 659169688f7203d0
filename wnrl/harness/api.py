"""The harness as a Python API: :func:`compare` (run a sweep, then report) and :func:`report`.

``wnrl compare`` and ``wnrl report`` are thin argument parsing over these two functions::

    from wnrl.harness import compare, report
    outcome = compare("configs/sweeps/demo.yaml", out="sweeps/demo", workers=2)
    report("sweeps/demo")

:func:`compare`:

1. reads and validates every run of the sweep and checks ``OUT`` (nothing is written on bad
   input: ``ConfigError``): ``OUT`` is new, empty or holds the same sweep; a directory holding
   another sweep (or another version of this one) is refused unless ``add=True``, which adds
   these runs to it (see :mod:`wnrl.harness.sweeps.directory`);
2. writes ``OUT/index.json`` and skips the runs that already have a result (a sweep is resumed
   by running the same call again);
3. runs the rest on the backend (see :mod:`wnrl.harness.run.execute`);
4. writes the report (``OUT/report.md``, ``results.csv``, ``figures/``) unless ``write_report=False``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wnrl.config import ConfigError, check_devices
from wnrl.harness.run.options import ExecOptions
from wnrl.harness.sweeps.lock import sweep_lock
from wnrl.train.record import RecordError, RunRecord, read_record
from wnrl.train.rundir import atomic_write_text, check_dir_path
from wnrl.train.stop import sigterm_as_interrupt

__all__ = ["CompareOutcome", "compare", "compare_command", "report", "seed_plan", "sweep_lock", "tune"]


@dataclass
class CompareOutcome:
    """What :func:`compare` did.

    :param sweep_dir: the sweep directory
    :param ran: the records of the runs started by this call, in the order they ended
    :param failed: the records of every failed run of the sweep (this call's and earlier ones)
    :param total: runs in the sweep
    :param report: the path of ``report.md`` (``None`` when not written)
    :param wall_seconds: wall time of the runs of this call
    """

    sweep_dir: Path
    ran: list[RunRecord] = field(default_factory=list)
    failed: list[RunRecord] = field(default_factory=list)
    total: int = 0
    report: Path | None = None
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every run of the sweep finished."""
        return not self.failed


def compare_command(
    sweep: str | Path | None,
    sweep_dir: Path,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    runs_per_gpu: int = 1,
    overrides: list[str] | None = None,
    add: bool = False,
) -> str:
    """The ``wnrl compare`` command line that reproduces a sweep (recorded in ``index.json``)."""
    parts = ["wnrl", "compare"] + ([str(sweep)] if sweep else []) + ["--out", str(sweep_dir)]
    if workers:
        parts += ["--workers", str(workers)]
    if backend != "local":
        parts += ["--backend", backend] + (["--address", address] if address else [])
    if runs_per_gpu != 1:
        parts += ["--runs-per-gpu", str(runs_per_gpu)]
    for item in overrides or []:
        parts += ["--set", item]
    return shlex.join(parts + (["--add"] if add else []))


def _check_envs(sweep: Any) -> None:
    from wnrl.envs import EnvError, ensure_registered

    for env_id in dict.fromkeys(r.config.env.id for r in sweep.runs):
        try:
            ensure_registered(env_id)
        except EnvError as e:
            raise ConfigError(f"{sweep.source}: env.id: {e}") from None


def _sessions(sweep_dir: Path) -> list[dict[str, Any]]:
    try:
        old = json.loads((sweep_dir / "index.json").read_text())
        return list(old.get("sessions", [])) if isinstance(old, dict) else []
    except (OSError, ValueError):
        return []


def _write_index(sweep_dir: Path, index: dict[str, Any]) -> None:
    atomic_write_text(sweep_dir / "index.json", json.dumps(index, indent=2))


def _failed_runs(sweep: Any, sweep_dir: Path) -> list[RunRecord]:
    out = []
    for run in sweep.runs:
        try:
            record = read_record(sweep_dir / "runs" / run.id)
        except RecordError:
            continue
        if record is not None and not record.finished:
            out.append(record)
    return out


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def compare(
    sweep: str | Path | None = None,
    out: str | Path | None = None,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    runs_per_gpu: int = 1,
    retry_failed: bool = False,
    overrides: list[str] | None = None,
    write_report: bool = True,
    progress: bool | None = None,
    add: bool = False,
    tuned: str | Path | None = None,
    seeds: list[int] | None = None,
) -> CompareOutcome:
    """Run a sweep (resuming what is done) and write its report.

    :param sweep: a sweep file (``None``: the built-in demo sweep)
    :param out: the sweep directory (default: ``sweeps/<sweep name>``)
    :param workers: parallel runs (default: CPU cores)
    :param backend: ``local`` (process pool) or ``ray``
    :param address: Ray cluster address (``ray`` backend; default: a local instance)
    :param runs_per_gpu: runs sharing one GPU
    :param retry_failed: rerun the runs that failed earlier
    :param overrides: ``KEY=VALUE`` strings applied to every run's base config (``--set``)
    :param write_report: write ``report.md``, ``results.csv`` and the figures at the end
    :param progress: ``None``: a bar on a terminal, a line per run otherwise; ``False``: silent
    :param add: add the runs to ``out`` when it holds another sweep or another version of this
        one (``--add``): its runs are kept and the report covers all of them
    :param tuned: a tune directory (``--tuned``): confirm its tuned settings against the shared
        ones on fresh seeds instead (see :func:`wnrl.harness.tune.confirm.confirm`; ``sweep`` unused)
    :param seeds: with ``tuned``: confirm on these seeds only, a stage added to ``out``
        (``--seeds``; default: the tune file's ``confirm_seeds``)
    :raises ConfigError: on bad input, before anything is written
    """
    if tuned is not None:
        from wnrl.harness.tune.confirm import confirm

        opts = {"workers": workers, "backend": backend, "address": address, "runs_per_gpu": runs_per_gpu}
        return confirm(tuned, out, seeds, write_report, retry_failed=retry_failed, progress=progress, **opts)
    if seeds is not None:
        raise ConfigError("seeds: only with tuned (a sweep file sets its seeds under `seeds:`)")
    from wnrl.harness.run.execute import describe_plan, execute, make_task, plan_runs
    from wnrl.harness.sweeps.directory import prepare
    from wnrl.harness.sweeps.spec import load_sweep

    workers = workers if workers is not None else (os.cpu_count() or 1)
    ExecOptions(workers, backend, address, runs_per_gpu).check()  # cheap: before expanding the sweep
    loaded = load_sweep(sweep, overrides)
    _check_envs(loaded)
    if backend == "local" or address is None:  # the runs use this machine's devices (a Ray cluster: its own)
        check_devices((r.config.train.device for r in loaded.runs), loaded.source)
    sweep_dir = Path(out) if out else Path("sweeps") / loaded.name
    prepare(loaded, sweep_dir, add)  # every check of --out, before the lock writes anything
    if write_report and sweep_dir.is_dir():  # report.md, figures, ... of the right kind
        from wnrl.harness.reports.outpaths import check_report_outputs

        check_report_outputs(sweep_dir, f"--out {sweep_dir}", writable=False)
    command = compare_command(sweep, sweep_dir, workers, backend, address, runs_per_gpu, overrides, add)
    outcome = CompareOutcome(sweep_dir, total=len(loaded.runs))
    with sweep_lock(sweep_dir):
        loaded, spec = prepare(loaded, sweep_dir, add)  # again: another process may have written it
        sessions = _sessions(sweep_dir)
        index = {**spec, "command": command, "sessions": sessions}
        _write_index(sweep_dir, index)
        todo, counts = plan_runs(loaded.runs, sweep_dir, retry_failed)
        doing = (
            f"running {len(todo)} on the {backend} backend with {min(workers, len(todo))} workers"
            if todo
            else "nothing to run"
        )
        more = len(index["runs"]) - len(loaded.runs)
        also = f" (beside {more} runs of the sweeps already there)" if more > 0 else ""
        _say(
            f"Sweep {loaded.name}: {len(loaded.runs)} runs in {sweep_dir}{also}; {counts['finished']} "
            f"finished earlier{describe_plan(counts)}; {doing}"
        )
        started = time.time()
        tasks = [make_task(r, sweep_dir, loaded.source) for r in todo]
        with sigterm_as_interrupt():
            outcome.ran = execute(tasks, backend, workers, address, runs_per_gpu, progress)
        outcome.wall_seconds = time.time() - started
        sessions.append(
            {
                "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                "wall_seconds": round(outcome.wall_seconds, 1),
                "command": command,
                "backend": backend,
                "workers": workers,
                "ran": len(tasks),
                "failed": sum(not r.finished for r in outcome.ran),
            }
        )
        _write_index(sweep_dir, {**index, "sessions": sessions})
    outcome.failed = _failed_runs(loaded, sweep_dir)
    if write_report:
        outcome.report = report(sweep_dir)
    return outcome


def report(sweep_dir: str | Path, reps: int = 2000) -> Path:
    """Write ``results.csv``, ``summary.json``, ``report.md`` and ``figures/`` of a sweep directory.

    :param sweep_dir: a directory written by :func:`compare`
    :param reps: bootstrap resamples
    :returns: the path of ``report.md``
    :raises ConfigError: when it is not a sweep directory or ``reps`` < 1
    """
    from wnrl.harness.reports.build import build_report

    if reps < 1:
        raise ConfigError(f"--reps {reps}: must be at least 1 (2000 is usual)")
    where = Path(sweep_dir)
    check_dir_path(where, str(where), "give the directory that `wnrl compare` wrote")
    try:
        return build_report(where, reps=reps)
    except OSError as e:  # what the checks before writing cannot foresee (a full disk, ...)
        raise ConfigError(
            f"{e.filename or where}: {e.strerror or e} while writing the report; free space or fix the "
            f"directory's permissions, then run wnrl report {where} again"
        ) from None


def seed_plan(sweep_dir: str | Path, width: float = 0.1, target_poi: float = 0.6, only: Sequence[str] = ()) -> str:
    """How many seeds a sweep needs, from its runs so far (``wnrl report --plan``): the seeds per
    cell for an IQM interval of ``width`` and for 80% power to detect ``target_poi``.

    :param sweep_dir: a directory written by :func:`compare`
    :param width: target width of the IQM's 95% interval, on normalised scores (0 < width ≤ 1)
    :param target_poi: the probability of improvement to detect (0.5 < target_poi < 1)
    :param only: ``KEY=VALUE`` filters: plan from the runs whose grid value of ``KEY`` is
        ``VALUE`` (as the report writes it) only, e.g. one algorithm and one noise setting
    :raises ConfigError: on bad arguments or a directory that is not a sweep
    """
    from wnrl.harness.reports.build import plan_report

    check_dir_path(Path(sweep_dir), str(sweep_dir), "give the directory that `wnrl compare` wrote")
    if not 0.0 < width <= 1.0:
        raise ConfigError(f"--width {width}: give a width of the IQM interval in (0, 1], e.g. 0.1")
    if not 0.5 < target_poi < 1.0:
        raise ConfigError(f"--poi {target_poi}: give a probability of improvement in (0.5, 1), e.g. 0.6")
    filters = {}
    for item in only:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--only {item}: give KEY=VALUE, e.g. --only agent.algo=sac")
        if key in filters:
            raise ConfigError(f"--only {item}: {key} is filtered twice; give one value per key")
        filters[key] = value
    return plan_report(Path(sweep_dir), width, target_poi, only=filters)


def tune(tune_file: str | Path, out: str | Path | None = None, **options: Any) -> Any:
    """Tune every variant of a tune file with the same budget (``wnrl tune``).

    :param tune_file: the tune file (see :mod:`wnrl.harness.tune.spec`)
    :param out: the tune directory (default: ``tunes/<name>``)
    :param options: ``workers``, ``backend``, ``address``, ``storage``, ``progress``, ``write_report``
    :returns: a :class:`wnrl.harness.tune.session.TuneOutcome`
    :raises ConfigError: on bad input, before anything is written
    """
    from wnrl.harness.tune.session import tune as _tune

    return _tune(tune_file, out, **options)

"""The core of ``wnrl compare``: run a loaded :class:`~wnrl.harness.sweeps.spec.Sweep` into its
directory (resuming what is done), then write its report.

:func:`wnrl.harness.api.compare` reads a sweep file and calls :func:`compare_sweep`; the
confirmation of a tune (:mod:`wnrl.harness.tune.confirm`) calls it with the sweeps it builds in
memory. Its layer lies between ``reports`` (which it calls at the end) and ``tune`` (which calls
it): it imports ``sweeps``, ``run`` and ``reports``, and nothing of ``tune`` or ``api``.

:func:`compare_sweep`:

1. checks the sweep's envs and devices and ``OUT`` (nothing is written on bad input:
   ``ConfigError``): ``OUT`` is new, empty or holds the same sweep; a directory holding another
   sweep (or another version of this one) is refused unless ``add``, which adds these runs to it
   (see :mod:`wnrl.harness.sweeps.directory`);
2. writes ``OUT/index.json`` and skips the runs that already have a result (a sweep is resumed
   by running the same call again);
3. runs the rest on the backend (see :mod:`wnrl.harness.run.execute`);
4. writes the report (``OUT/report.md``, ``results.csv``, ``figures/``) unless ``write_report`` is off.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wnrl.config import ConfigError, check_devices
from wnrl.harness.run.options import ExecOptions
from wnrl.harness.sweeps.index import INDEX_FILE
from wnrl.harness.sweeps.lock import sweep_lock
from wnrl.harness.sweeps.spec import Sweep
from wnrl.train.record import RunRecord
from wnrl.train.rundir import atomic_write_text, check_dir_path
from wnrl.train.stop import sigterm_as_interrupt

__all__ = ["CompareOptions", "CompareOutcome", "compare_command", "compare_sweep", "write_report"]


@dataclass(frozen=True)
class CompareOptions:
    """What ``wnrl compare`` is asked to do, as one typed object.

    :param sweep: a sweep file (``None``: the built-in demo sweep); named in ``index.json``'s command
    :param out: the sweep directory (default: ``sweeps/<sweep name>``)
    :param execution: where and how many runs execute at once (workers, backend, address, runs per GPU)
    :param retry_failed: rerun the runs that failed earlier
    :param overrides: ``KEY=VALUE`` strings applied to every run's base config (``--set``)
    :param write_report: write ``report.md``, ``results.csv`` and the figures at the end
    :param progress: ``None``: a bar on a terminal, a line per run otherwise; ``False``: silent
    :param add: add the runs to ``out`` when it holds another sweep or another version of this
        one (``--add``): its runs are kept and the report covers all of them
    :param tuned: a tune directory (``--tuned``): confirm its tuned settings against the shared
        ones on fresh seeds instead (``sweep`` unused)
    :param seeds: with ``tuned``: confirm on these seeds only, a stage added to ``out``
        (``--seeds``; default: the tune file's ``confirm_seeds``)
    """

    sweep: str | Path | None = None
    out: str | Path | None = None
    execution: ExecOptions = field(default_factory=ExecOptions)
    retry_failed: bool = False
    overrides: tuple[str, ...] = ()
    write_report: bool = True
    progress: bool | None = None
    add: bool = False
    tuned: str | Path | None = None
    seeds: tuple[int, ...] | None = None


@dataclass
class CompareOutcome:
    """What :func:`compare_sweep` (or a confirmation, over both its sweeps) did.

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


def compare_command(options: CompareOptions, sweep_dir: Path) -> str:
    """The ``wnrl compare`` command line that reproduces a sweep (recorded in ``index.json``).

    :param options: the options of the call (its sweep file, execution, ``--set`` and ``--add``)
    :param sweep_dir: the sweep directory
    """
    run = options.execution
    parts = ["wnrl", "compare"] + ([str(options.sweep)] if options.sweep else []) + ["--out", str(sweep_dir)]
    parts += ["--workers", str(run.n_workers)]
    if run.backend != "local":
        parts += ["--backend", run.backend] + (["--address", run.address] if run.address else [])
    if run.runs_per_gpu != 1:
        parts += ["--runs-per-gpu", str(run.runs_per_gpu)]
    for item in options.overrides:
        parts += ["--set", item]
    return shlex.join(parts + (["--add"] if options.add else []))


def _check_envs(sweep: Sweep) -> None:
    from wnrl.envs import EnvError, ensure_registered

    for env_id in dict.fromkeys(r.config.env.id for r in sweep.runs):
        try:
            ensure_registered(env_id)
        except EnvError as e:
            raise ConfigError(f"{sweep.source}: env.id: {e}") from None


def _sessions(sweep_dir: Path) -> list[dict[str, Any]]:
    try:
        old = json.loads((sweep_dir / INDEX_FILE).read_text())
        return list(old.get("sessions", [])) if isinstance(old, dict) else []
    except (OSError, ValueError):
        return []


def _write_index(sweep_dir: Path, index: dict[str, Any]) -> None:
    atomic_write_text(sweep_dir / INDEX_FILE, json.dumps(index, indent=2))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _check_inputs(loaded: Sweep, sweep_dir: Path, options: CompareOptions) -> None:
    """Every check before the lock writes anything: envs, devices, ``OUT`` and its report's paths."""
    from wnrl.harness.sweeps.directory import prepare

    _check_envs(loaded)
    run = options.execution
    if run.backend == "local" or run.address is None:  # the runs use this machine's devices (a Ray cluster: its own)
        check_devices((r.config.train.device for r in loaded.runs), loaded.source)
    prepare(loaded, sweep_dir, options.add)  # every check of --out, before the lock writes anything
    if options.write_report and sweep_dir.is_dir():  # report.md, figures, ... of the right kind
        from wnrl.harness.reports.outpaths import check_report_outputs

        check_report_outputs(sweep_dir, f"--out {sweep_dir}", writable=False)


def compare_sweep(loaded: Sweep, options: CompareOptions) -> CompareOutcome:
    """Run a loaded sweep (resuming what is done) and write its report.

    :param loaded: the expanded sweep (``options.sweep`` and ``options.overrides`` only name it in
        the recorded command; its runs are these)
    :param options: the options (``tuned`` and ``seeds`` unused; see :func:`wnrl.harness.api.compare`)
    :raises ConfigError: on bad input, before anything is written
    """
    from wnrl.harness.run.execute import describe_plan, execute, make_task, plan_runs
    from wnrl.harness.sweeps.directory import prepare

    run = options.execution.check()
    workers = run.n_workers
    sweep_dir = Path(options.out) if options.out else Path("sweeps") / loaded.name
    _check_inputs(loaded, sweep_dir, options)
    command = compare_command(options, sweep_dir)
    outcome = CompareOutcome(sweep_dir, total=len(loaded.runs))
    with sweep_lock(sweep_dir):
        loaded, spec = prepare(loaded, sweep_dir, options.add)  # again: another process may have written it
        sessions = _sessions(sweep_dir)
        index = {**spec, "command": command, "sessions": sessions}
        _write_index(sweep_dir, index)
        todo, counts, kept = plan_runs(loaded.runs, sweep_dir, options.retry_failed)
        doing = (
            f"running {len(todo)} on the {run.backend} backend with {min(workers, len(todo))} workers"
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
        with sigterm_as_interrupt(deferred=True):  # stops at the loop's next check
            outcome.ran = execute(tasks, run, options.progress)
        outcome.wall_seconds = time.time() - started
        sessions.append(
            {
                "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                "wall_seconds": round(outcome.wall_seconds, 1),
                "command": command,
                "backend": run.backend,
                "workers": workers,
                "ran": len(tasks),
                "failed": sum(not r.finished for r in outcome.ran),
            }
        )
        _write_index(sweep_dir, {**index, "sessions": sessions})
    order = {r.id: i for i, r in enumerate(loaded.runs)}  # the records at hand, not read again
    outcome.failed = sorted(
        [*kept, *(r for r in outcome.ran if not r.finished)], key=lambda r: order.get(r.id or "", 0)
    )
    if options.write_report:
        outcome.report = write_report(sweep_dir)
    return outcome


def write_report(sweep_dir: str | Path, reps: int = 2000) -> Path:
    """Write ``results.csv``, ``summary.json``, ``report.md`` and ``figures/`` of a sweep directory.

    :param sweep_dir: a directory written by :func:`compare_sweep`
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

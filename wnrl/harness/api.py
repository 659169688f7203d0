"""The harness as a Python API: :func:`compare` (run a sweep, then report), :func:`report`,
:func:`seed_plan` and :func:`tune`, the functions under ``wnrl compare``, ``wnrl report`` and
``wnrl tune``::

    from wnrl.harness import compare, report
    outcome = compare("configs/sweeps/demo.yaml", out="sweeps/demo", workers=2)
    report("sweeps/demo")

A thin layer: :func:`compare_with` takes the options as one typed :class:`CompareOptions` (what
``wnrl compare`` builds) and hands a loaded sweep to :func:`wnrl.harness.comparison.compare_sweep`,
or a tune directory to :func:`wnrl.harness.tune.confirm.confirm`; :func:`compare` is its keyword form.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wnrl.config import ConfigError
from wnrl.harness.comparison import CompareOptions, CompareOutcome, compare_command, compare_sweep, write_report
from wnrl.harness.run.options import ExecOptions
from wnrl.harness.sweeps.lock import sweep_lock
from wnrl.train.rundir import check_dir_path

if TYPE_CHECKING:
    from wnrl.harness.tune.session import TuneOutcome

__all__ = [
    "CompareOptions",
    "CompareOutcome",
    "ExecOptions",
    "compare",
    "compare_command",
    "compare_with",
    "report",
    "seed_plan",
    "sweep_lock",
    "tune",
]


def compare_with(options: CompareOptions) -> CompareOutcome:
    """Run a sweep (resuming what is done) and write its report, or confirm a tune (``options.tuned``).

    :param options: what to run and how (see :class:`CompareOptions`)
    :raises ConfigError: on bad input, before anything is written
    """
    options.execution.check()  # cheap: before expanding the sweep
    if options.tuned is not None:
        from wnrl.harness.tune.confirm import confirm

        return confirm(
            options.tuned,
            options.out,
            list(options.seeds) if options.seeds is not None else None,
            options.write_report,
            retry_failed=options.retry_failed,
            progress=options.progress,
            execution=options.execution,
        )
    if options.seeds is not None:
        raise ConfigError("seeds: only with tuned (a sweep file sets its seeds under `seeds:`)")
    from wnrl.harness.sweeps.spec import load_sweep

    return compare_sweep(load_sweep(options.sweep, list(options.overrides)), options)


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
    """Run a sweep (resuming what is done) and write its report: :func:`compare_with`, with the
    fields of :class:`CompareOptions` as keywords (``workers``, ``backend``, ``address`` and
    ``runs_per_gpu``: those of its :class:`ExecOptions`).

    :param sweep: a sweep file (``None``: the built-in demo sweep)
    :param out: the sweep directory (default: ``sweeps/<sweep name>``)
    :param workers: parallel runs (default: CPU cores)
    :param backend: ``local`` (process pool) or ``ray``
    :param address: Ray cluster address (``ray`` backend; default: a local instance)
    :param runs_per_gpu: runs sharing one GPU
    :param retry_failed: see :class:`CompareOptions`, as the rest
    :param overrides: ``--set``
    :param write_report: write the report at the end
    :param progress: the progress display
    :param add: ``--add``
    :param tuned: ``--tuned``: confirm a tune directory instead (:func:`wnrl.harness.tune.confirm.confirm`)
    :param seeds: ``--seeds``, with ``tuned`` only
    :raises ConfigError: on bad input, before anything is written
    """
    execution = ExecOptions(workers, backend, address, runs_per_gpu)
    stage = None if seeds is None else tuple(seeds)
    sets = tuple(overrides or ())
    return compare_with(
        CompareOptions(sweep, out, execution, retry_failed, sets, write_report, progress, add, tuned, stage)
    )


def report(sweep_dir: str | Path, reps: int = 2000) -> Path:
    """Write ``results.csv``, ``summary.json``, ``report.md`` and ``figures/`` of a sweep directory.

    :param sweep_dir: a directory written by :func:`compare`
    :param reps: bootstrap resamples
    :returns: the path of ``report.md``
    :raises ConfigError: when it is not a sweep directory or ``reps`` < 1
    """
    return write_report(sweep_dir, reps)


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


def tune(tune_file: str | Path, out: str | Path | None = None, **options: Any) -> TuneOutcome:
    """Tune every variant of a tune file with the same budget (``wnrl tune``).

    :param tune_file: the tune file (see :mod:`wnrl.harness.tune.spec`)
    :param out: the tune directory (default: ``tunes/<name>``)
    :param options: ``workers``, ``backend``, ``address``, ``storage``, ``progress``, ``write_report``
        (see :func:`wnrl.harness.tune.session.tune`)
    :raises ConfigError: on bad input, before anything is written
    """
    from wnrl.harness.tune.session import tune as _tune

    return _tune(tune_file, out, **options)

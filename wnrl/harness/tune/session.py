"""``wnrl tune TUNE.yaml`` as a Python function: :func:`tune`.

1. reads and validates the tune file and every config a trial can make; checks the storage
   (reachable, its studies created by this tune file) and the tune directory (``tune.json`` of
   this tune file) - nothing is written on bad input (``ConfigError``);
2. creates or loads one study per variant (× group) and tunes until every budget is used, with
   the other processes pointed at the same storage;
3. writes ``tuned.yaml`` (the best hyperparameters per study, with objective and interval) and the
   tuning report (``report.md``, ``figures/``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wnrl.config import ConfigError, check_devices
from wnrl.config.safe_yaml import YAMLRefused, yaml_load
from wnrl.harness.run.options import ExecOptions
from wnrl.harness.tune.spec import Tune, load_tune
from wnrl.harness.tune.storage import DB_FILE, check_studies, open_storage, open_studies, shown, storage_url
from wnrl.train.rundir import atomic_write_text

__all__ = ["TUNE_FILE", "TUNED_FILE", "TuneOutcome", "read_record", "read_tuned", "tune", "tune_with", "write_tuned"]

TUNE_FILE = "tune.json"
TUNED_FILE = "tuned.yaml"


@dataclass
class TuneOutcome:
    """What :func:`tune` did.

    :param tune_dir: the tune directory
    :param trials: the trials this call finished (``trial.json`` contents)
    :param tuned: the path of ``tuned.yaml``
    :param report: the path of the tuning report (``None`` when not written)
    :param wall_seconds: wall time of this call's tuning
    :param storage: the storage URL (password hidden)
    """

    tune_dir: Path
    trials: list[dict[str, Any]] = field(default_factory=list)
    tuned: Path | None = None
    report: Path | None = None
    wall_seconds: float = 0.0
    storage: str = ""


def _check_dir(tune: Tune, tune_dir: Path) -> None:
    from wnrl.train.rundir import check_dir_path

    check_dir_path(tune_dir, f"--out {tune_dir}", "choose another --out")  # a symlink loop, a name too long
    where = tune_dir.resolve()  # `tunes/../x` is x even before tunes/ exists
    if where.exists() and not where.is_dir():
        raise ConfigError(f"--out {tune_dir}: is a file; choose a directory")
    if not (where / TUNE_FILE).exists():
        if where.is_dir() and any(where.iterdir()) and not (where / DB_FILE).exists():
            raise ConfigError(f"--out {tune_dir}: not empty and not a tune directory; choose another --out")
        return
    old = read_record(tune_dir, f"--out {tune_dir}", tune.source)
    if old["digest"] != tune.digest:
        raise ConfigError(
            f"{tune.source}: --out {tune_dir} holds the tune of another tune file ({old.get('source')}, "
            f"digest {old.get('digest')}, this one {tune.digest}); choose another --out or restore that file"
        )


def read_record(tune_dir: Path, where: str, rerun: str = "its tune file") -> dict[str, Any]:
    """``tune.json`` of a tune directory, checked for the keys wnrl reads.

    :param tune_dir: the tune directory
    :param where: the option naming it (``--out DIR``, ``--tuned DIR``), for messages
    :param rerun: the tune file to name in the fix
    :raises ConfigError: one line naming the file when it is unreadable or damaged
    """
    path = tune_dir / TUNE_FILE
    fix = f"remove it and rerun `wnrl tune {rerun} --out {tune_dir}` (the trials in {DB_FILE} are kept)"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{where}: {path}: cannot be read ({type(e).__name__}); {fix}") from None
    shape = {"source": str, "digest": str, "spec": dict, "base": dict}
    missing = [k for k, t in shape.items() if not isinstance(data, dict) or not isinstance(data.get(k), t)]
    if missing:
        raise ConfigError(f"{where}: {path}: not a record of `wnrl tune` (no valid {', '.join(missing)}); {fix}")
    return data


def _check_optuna(tune: Tune) -> None:
    """Build the sampler and pruner once, so an option Optuna refuses is one line before writing."""
    from wnrl.harness.tune.storage import make_pruner, make_sampler

    for key, make in (("sampler", lambda: make_sampler(tune, 0)), ("pruner", lambda: make_pruner(tune))):
        try:
            make()
        except (ValueError, TypeError, OverflowError) as e:
            raise ConfigError(f"{tune.source}: {key}: {e}; see the {key} options in configs/tune/") from None


def _check_envs(tune: Tune) -> None:
    from wnrl.envs import EnvError, ensure_registered

    for cell in tune.cells[:1]:
        for run in tune.trial_sweep(cell, {}, seeds=tune.spec.seeds[:1]).runs:
            try:
                ensure_registered(run.config.env.id)
            except EnvError as e:
                raise ConfigError(f"{tune.source}: env.id: {e}") from None


def tune(
    path: str | Path,
    out: str | Path | None = None,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    storage: str | None = None,
    progress: bool = True,
    write_report: bool = True,
) -> TuneOutcome:
    """Tune every variant with the same budget (resuming what is done): :func:`tune_with` with the
    execution options as keywords.

    :param path: the tune file
    :param out: the tune directory (default: ``tunes/<name>``)
    :param workers: parallel runs (default: CPU cores)
    :param backend: ``local`` (process pool) or ``ray``
    :param address: Ray cluster address
    :param storage: an Optuna storage URL or ``journal:PATH`` (default: the tune file's, else
        SQLite in the tune directory)
    :param progress: one line per finished trial
    :param write_report: write the tuning report at the end
    :raises ConfigError: on bad input, before anything is written
    """
    return tune_with(path, out, ExecOptions(workers, backend, address), storage, progress, write_report)


def tune_with(
    path: str | Path,
    out: str | Path | None,
    execution: ExecOptions,
    storage: str | None = None,
    progress: bool = True,
    write_report: bool = True,
) -> TuneOutcome:
    """Tune every variant with the same budget (resuming what is done).

    :param path: the tune file
    :param out: the tune directory (``None``: ``tunes/<name>``)
    :param execution: workers (``None``: CPU cores), backend and address (``runs_per_gpu`` unused)
    :param storage: an Optuna storage URL or ``journal:PATH`` (default: the tune file's, else
        SQLite in the tune directory)
    :param progress: one line per finished trial
    :param write_report: write the tuning report at the end
    :raises ConfigError: on bad input, before anything is written
    """
    from wnrl.train.stop import sigterm_as_interrupt

    execution.check()
    workers, backend, address = execution.n_workers, execution.backend, execution.address
    loaded = load_tune(path)
    _check_envs(loaded)
    if backend == "local" or address is None:  # the trials use this machine's devices (a Ray cluster: its own)
        check_devices(
            (r.config.train.device for c in loaded.cells for r in loaded.trial_sweep(c, {}, [0]).runs),
            str(loaded.source),
        )
    from wnrl.harness.tune.objective import Scorer

    Scorer("final", "iqm", list(loaded.spec.tasks), loaded.spec.ranges).check(
        sorted({r.config.env.id for c in loaded.cells for r in loaded.trial_sweep(c, {}, [0]).runs}),
        len(loaded.trial_sweep(loaded.cells[0], {}, [0]).runs),
        loaded.source,
    )
    _check_optuna(loaded)
    tune_dir = Path(out) if out else Path("tunes") / loaded.name
    _check_dir(loaded, tune_dir)
    url = storage_url(storage or loaded.spec.storage, tune_dir)
    if storage or loaded.spec.storage or (tune_dir / DB_FILE).exists():
        check_studies(loaded, open_storage(url, loaded.source), url)  # may be remote: before writing
    tune_dir.mkdir(parents=True, exist_ok=True)
    store = open_storage(url, loaded.source)
    check_studies(loaded, store, url)
    studies = open_studies(loaded, store)
    atomic_write_text(tune_dir / TUNE_FILE, json.dumps({**loaded.describe(), "storage": shown(url)}, indent=2))
    from wnrl.harness.run.pool import make_pool
    from wnrl.harness.tune.runner import Tuner

    outcome = TuneOutcome(tune_dir, storage=shown(url))
    started = time.time()
    tuner = Tuner(loaded, tune_dir, studies, make_pool(execution), workers, progress)
    try:
        with sigterm_as_interrupt(deferred=True):  # stops at the loop's next check
            outcome.trials = tuner.run()
    finally:
        outcome.wall_seconds = time.time() - started
        outcome.tuned = write_tuned(loaded, studies, tune_dir, url)
    if write_report:
        from wnrl.harness.tune.report import write_report as _write

        outcome.report = _write(loaded, studies, tune_dir, url)
    return outcome


def _best(study: Any) -> dict[str, Any] | None:
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return None
    best = max(done, key=lambda t: (t.value, -t.number))
    return {"trial": best.number, "value": best.value, "ci": best.user_attrs.get("wnrl_ci"), "params": best.params}


def write_tuned(tune: Tune, studies: dict[str, Any], tune_dir: Path, url: str) -> Path:
    """Write ``tuned.yaml``: per study the best trial's hyperparameters, objective and interval.

    :param tune: the tune
    :param studies: study name -> study
    :param tune_dir: the tune directory
    :param url: the storage URL
    """
    from wnrl.harness.tune import trials as tr
    from wnrl.harness.tune.runner import sample_params

    entries = []
    for cell in tune.cells:
        study = studies[cell.study_name]
        best = _best(study)
        params = None
        if best is not None:  # decode categorical values (lists travel as JSON text)
            params = sample_params(_Fixed(best["params"]), tune.spec.space)
        entries.append(
            {
                "study": cell.study_name,
                "variant": cell.variant,
                "group": cell.group,
                "params": params,
                "objective": None if best is None else best["value"],
                "ci": None if best is None else best["ci"],
                "trial": None if best is None else best["trial"],
                "trials": tr.counts(study.get_trials(deepcopy=False)),
            }
        )
    data = {
        "tune": tune.name,
        "source": tune.source,
        "digest": tune.digest,
        "storage": shown(url),
        "objective": tune.spec.objective.model_dump(),
        "budget": tune.budget,
        "tuning_seeds": tune.spec.seeds,
        "confirm_seeds": tune.confirm_seeds,
        "tasks": tune.spec.tasks,
        "best": entries,
    }
    path = tune_dir / TUNED_FILE
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
    return path


class _Fixed:
    """A stand-in trial whose suggestions are given values (to decode stored parameters)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def suggest_categorical(self, key: str, choices: list[Any]) -> Any:
        return self.params[key]

    def suggest_int(self, key: str, *args: Any, **kwargs: Any) -> Any:
        return int(self.params[key])

    def suggest_float(self, key: str, *args: Any, **kwargs: Any) -> Any:
        return float(self.params[key])


def read_tuned(tune_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``tune.json`` and ``tuned.yaml`` of a tune directory (each checked for the keys wnrl reads).

    :param tune_dir: a directory written by :func:`tune`
    :raises ConfigError: when it is not one, or one of them is damaged (one line naming the file)
    """
    d = Path(tune_dir)
    if not (d / TUNE_FILE).is_file() or not (d / TUNED_FILE).is_file():
        raise ConfigError(f"--tuned {d}: not a tune directory (no {TUNE_FILE} and {TUNED_FILE}); run `wnrl tune` first")
    spec = read_record(d, f"--tuned {d}")
    path = d / TUNED_FILE
    fix = f"rerun `wnrl tune {spec['source']} --out {d}` to write it again (the trials are kept)"
    try:
        tuned = yaml_load(path.read_text())  # the one safe loader (duplicate keys, alias bombs)
    except (OSError, ValueError, yaml.YAMLError) as e:
        why = str(e).splitlines()[0] if isinstance(e, YAMLRefused) else type(e).__name__
        raise ConfigError(f"--tuned {d}: {path}: cannot be read ({why}); {fix}") from None
    best = tuned.get("best") if isinstance(tuned, dict) else None
    if not isinstance(best, list) or not all(isinstance(e, dict) and isinstance(e.get("study"), str) for e in best):
        raise ConfigError(f"--tuned {d}: {path}: best: not a list of studies with their best trial; {fix}")
    return spec, tuned

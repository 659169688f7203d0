"""The tuning loop: one Optuna study per variant (× group), trials asked round-robin over the
studies, every run of a trial (seeds × tasks) on one long-lived pool of workers.

A trial's directory ``TUNE_DIR/studies/<study>/trial-<slot>/`` holds a sweep-style ``runs/``
(one ``result.json`` per run, written by :func:`wnrl.harness.run.execute.run_task`) and
``trial.json`` (its state, parameters, objective and interval). A trial is rerun in the same
directory after an interruption, so its finished runs are kept.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wnrl.config import ConfigError
from wnrl.harness.run.execute import plan_runs
from wnrl.harness.run.pool import Pool, running
from wnrl.harness.run.task import PRUNE_FILE, Task, make_task
from wnrl.harness.sweeps.spec import SweepRun, show
from wnrl.harness.tune import trials as tr
from wnrl.harness.tune.objective import Scorer, curve_points
from wnrl.harness.tune.spec import Param, Study, Tune
from wnrl.train.record import RunRecord
from wnrl.train.rundir import atomic_write_text
from wnrl.train.stop import check_stop

__all__ = ["Live", "Tuner", "sample_params"]

HEARTBEAT = 30.0


def sample_params(trial: Any, space: dict[str, Param]) -> dict[str, Any]:
    """The trial's value of every key of the space (sampled, or fixed for a queued retry).

    :param trial: an Optuna trial
    :param space: the search space
    """
    out: dict[str, Any] = {}
    for key, p in space.items():
        assert p.type == "categorical" or (p.low is not None and p.high is not None)
        if p.type == "categorical":
            enc = p.encoded()
            out[key] = enc[trial.suggest_categorical(key, list(enc))]
        elif p.type in ("int", "log_int"):
            out[key] = trial.suggest_int(
                key, int(p.low or 0), int(p.high or 0), step=int(p.step or 1), log=p.type == "log_int"
            )
        else:
            out[key] = trial.suggest_float(
                key, float(p.low or 0), float(p.high or 0), step=p.step, log=p.type == "log_uniform"
            )
    return out


@dataclass
class Live:
    """A trial in flight in this process.

    :param cell: its study
    :param trial: the Optuna trial
    :param params: its hyperparameters
    :param directory: the trial directory
    :param runs: its sweep runs
    :param records: run id -> record, as runs end
    """

    cell: Study
    trial: Any
    params: dict[str, Any]
    directory: Path
    runs: list[SweepRun]
    records: dict[str, RunRecord] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    reported: int = 0
    pruned: bool = False
    error: str | None = None

    @property
    def done(self) -> bool:
        """Every run has a record."""
        return len(self.records) == len(self.runs)


def _short(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k.rsplit('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else f"{k}={show(v)}" for k, v in params.items()
    )


class Tuner:
    """Runs the studies of a tune until every budget is used.

    :param tune: the tune
    :param tune_dir: the tune directory
    :param studies: study name -> Optuna study
    :param pool: the executor's pool (:func:`wnrl.harness.run.pool.make_pool`)
    :param workers: parallel runs
    :param progress: print one line per finished trial
    """

    def __init__(
        self, tune: Tune, tune_dir: Path, studies: dict[str, Any], pool: Pool, workers: int, progress: bool = True
    ) -> None:
        self.tune, self.dir, self.studies, self.pool = tune, tune_dir, studies, pool
        self.workers, self.progress = workers, progress
        self.scorer = Scorer(
            tune.spec.objective.metric, tune.spec.objective.statistic, list(tune.spec.tasks), tune.spec.ranges
        )
        self.live: dict[str, Live] = {}  # run id -> its trial
        self.trials: list[Live] = []
        self.full: set[str] = set()
        self.finished: list[dict[str, Any]] = []
        self.start, self.beat = time.time(), time.time()
        self.next_cell = 0

    # -- starting trials ------------------------------------------------------------------
    def trial_dir(self, cell: Study, slot: int) -> Path:
        """The directory of a trial slot."""
        return self.dir / "studies" / cell.slug / f"trial-{slot:04d}"

    def _start(self, cell: Study) -> bool:
        study = self.studies[cell.study_name]
        trial = tr.claim(study, self.tune.budget)
        if trial is None:
            self.full.add(cell.study_name)
            return False
        params = sample_params(trial, self.tune.spec.space)
        directory = self.trial_dir(cell, int(trial.user_attrs["wnrl_slot"]))
        try:
            runs = self.tune.trial_sweep(cell, params).runs
        except ConfigError as e:  # a value of the space this config cannot take: a failed trial
            live = Live(cell, trial, params, directory, [], error=str(e))
            self.trials.append(live)
            self._finish(live)
            return True
        live = Live(cell, trial, params, directory, runs)
        (directory / PRUNE_FILE).unlink(missing_ok=True)
        todo, _, _ = plan_runs(runs, directory, retry_failed=True)
        from wnrl.train.record import read_record

        ids = {r.id for r in todo}
        for run in runs:
            if run.id not in ids:
                rec = read_record(directory / "runs" / run.id)
                assert rec is not None
                live.records[run.id] = rec
        self.trials.append(live)
        for run in todo:
            task = make_task(run, directory, self.tune.source, prune_file=directory / PRUNE_FILE)
            self.live[str(task.run_dir)] = live
            self.pool.submit(task)
        if live.done:
            self._finish(live)
        return True

    def _fill(self) -> None:
        cells = self.tune.cells
        tried = 0
        while self.pool.pending < self.workers and tried < len(cells):
            cell = cells[self.next_cell % len(cells)]
            self.next_cell += 1
            if cell.study_name in self.full or not self._start(cell):
                tried += 1
            else:
                tried = 0

    # -- runs ending ----------------------------------------------------------------------
    def _on_run(self, task: Task, record: RunRecord) -> None:
        live = self.live.pop(str(task.run_dir), None)
        if live is None:
            return
        live.records[task.id] = record
        if live.done:
            self._finish(live)

    def _report(self, live: Live, final: bool = False) -> None:
        points = []
        for run in live.runs:
            rec = live.records.get(run.id)
            means = rec.curve.mean if rec is not None and rec.curve else curve_points(live.directory / "runs" / run.id)
            points.append((run.config.env.id, run.grid, means))
        k = min(len(m) for _, _, m in points)
        for step in range(live.reported + 1, k + 1):
            live.trial.report(self.scorer.intermediate(points, step), step)
            live.reported = step
            if not final and not live.pruned and live.trial.should_prune():
                live.pruned = True
                (live.directory / PRUNE_FILE).write_text("pruned\n")
                return

    def _finish(self, live: Live) -> None:
        from optuna.trial import TrialState

        self.trials.remove(live)
        study = self.studies[live.cell.study_name]
        failed = [r for r in live.records.values() if not r.finished]
        info: dict[str, Any] = {
            "number": live.trial.number,
            "slot": live.trial.user_attrs.get("wnrl_slot"),
            "study": live.cell.study_name,
            "params": live.params,
            "runs": sorted(live.records),
            "seconds": round(time.time() - live.started, 1),
        }
        real = [r for r in failed if not str(r.error).startswith("Pruned")]
        if live.pruned and not real:
            live.trial.set_user_attr("wnrl_status", "pruned")
            study.tell(live.trial, state=TrialState.PRUNED)
            info.update(state="pruned", step=live.reported)
        elif failed or live.error:
            error = live.error or str((real or failed)[0].error)
            live.trial.set_user_attr("wnrl_status", "failed")
            live.trial.set_user_attr("wnrl_error", error[:500])
            study.tell(live.trial, state=TrialState.FAIL)
            info.update(state="failed", error=error)
        else:
            self._report(live, final=True)
            value, lo, hi = self.scorer.score(list(live.records.values()))
            live.trial.set_user_attr("wnrl_status", "complete")
            live.trial.set_user_attr("wnrl_ci", [lo, hi])
            study.tell(live.trial, value)
            info.update(state="complete", value=value, ci=[lo, hi])
        live.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(live.directory / "trial.json", json.dumps(info, indent=2, default=str))
        self.finished.append(info)
        self._say(live, info)

    # -- progress -------------------------------------------------------------------------
    def _best(self) -> str:
        parts = []
        for cell in self.tune.cells:
            try:
                best = self.studies[cell.study_name].best_value
                parts.append(f"{cell.label} {best:.3g}")
            except ValueError:
                parts.append(f"{cell.label} -")
        return "; ".join(parts)

    def _say(self, live: Live, info: dict[str, Any]) -> None:
        if not self.progress:
            return
        used = sum(sum(map(tr.finished, s.get_trials(deepcopy=False))) for s in self.studies.values())
        total = self.tune.budget * len(self.tune.cells)
        rate = (time.time() - self.start) / max(1, len(self.finished))
        eta = rate * max(0, total - used)
        what = (
            f"{info['value']:.3g} [{info['ci'][0]:.3g}, {info['ci'][1]:.3g}]"
            if info["state"] == "complete"
            else info["state"].upper()
            + (f": {info['error'][:100]}" if info["state"] == "failed" else f" at evaluation {info.get('step')}")
        )
        print(
            f"[{used}/{total}] {live.cell.label} trial {info['number']} ({_short(live.params)}): {what}; "
            f"best: {self._best()}; ETA {eta / 60:.1f} min",
            file=sys.stderr,
            flush=True,
        )

    def _heartbeat(self) -> None:
        if time.time() - self.beat < HEARTBEAT:
            return
        self.beat = time.time()
        for live in self.trials:
            live.trial.set_user_attr("wnrl_beat", self.beat)

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        """Tune until every study's budget is used (by this process and its peers).

        :returns: the trials this process finished (``trial.json`` contents)
        """
        try:
            with running(self.pool):  # stops the runs in flight first on an exception
                while True:
                    self._fill()
                    if not self.trials:
                        break
                    for task, record in self.pool.poll(0.5):
                        self._on_run(task, record)
                    check_stop()  # a SIGTERM whose interrupt was lost in a finalizer (SQLAlchemy's)
                    for live in list(self.trials):
                        if not live.pruned:
                            self._report(live)
                    self._heartbeat()
        except BaseException:
            self._interrupt()
            raise
        return self.finished

    def _interrupt(self) -> None:
        """Mark the trials in flight as interrupted and queue them again (Ctrl-C, SIGTERM)."""
        from optuna.trial import TrialState

        for live in self.trials:
            try:
                live.trial.set_user_attr("wnrl_status", "interrupted")
                study = self.studies[live.cell.study_name]
                study.tell(live.trial, state=TrialState.FAIL)
                study.enqueue_trial(
                    live.trial.params,
                    user_attrs={"wnrl_slot": live.trial.user_attrs["wnrl_slot"], "wnrl_retry_of": live.trial.number},
                )
            except Exception:  # the storage may be gone too: the next run reaps it
                continue

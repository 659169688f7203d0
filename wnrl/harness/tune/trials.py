"""Trial bookkeeping on the Optuna storage: the exact budget, owners, interrupted trials.

* A trial **counts** towards its study's budget when it is complete, pruned, failed because a
  run failed, running or waiting. It does not count when it was *interrupted* (its process died:
  it is marked failed with ``wnrl_status: interrupted`` and queued again with the same
  hyperparameters, which reuses its directory, so the runs that had finished are kept) or
  *discarded* (asked beyond the budget by a racing process).
* The budget is exact with any number of cooperating processes: after ``ask()`` a trial keeps its
  place only if fewer than ``budget`` counting trials have a smaller number (Optuna numbers the
  trials of a study in creation order, so every process reaches the same decision).
* Each running trial records its owner (host, pid, process start time) and a heartbeat. A
  trial is interrupted when its owner is gone (same host: the process no longer exists) or its
  heartbeat is older than :data:`STALE_AFTER` seconds (another host).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

__all__ = ["STALE_AFTER", "claim", "counts", "counting", "finished", "owner", "reap"]

STALE_AFTER = 300.0
_ME: dict[str, Any] = {}


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner() -> dict[str, Any]:
    """This process: host, pid and start time (the pair that cannot be reused)."""
    if not _ME:
        _ME.update(host=socket.gethostname(), pid=os.getpid(), start=_start_time(os.getpid()))
    return dict(_ME)


def _alive(who: dict[str, Any]) -> bool:
    pid = int(who.get("pid", -1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = _start_time(pid)
    return start is None or who.get("start") is None or start == who.get("start")


def counting(t: Any) -> bool:
    """Whether a frozen trial counts towards the budget."""
    from optuna.trial import TrialState

    if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING):
        return True
    return t.state == TrialState.FAIL and t.user_attrs.get("wnrl_status") == "failed"


def finished(t: Any) -> bool:
    """Whether a frozen trial has used its place in the budget: counting, and no longer running or
    queued (the progress counter: each finished trial adds one, a queued retry adds nothing)."""
    return counting(t) and t.state.name not in ("RUNNING", "WAITING")


def counts(trials: list[Any]) -> dict[str, int]:
    """Trials per state (``interrupted``/``discarded`` apart from ``failed``)."""
    out: dict[str, int] = {}
    for t in trials:
        key = t.user_attrs.get("wnrl_status") if t.state.name == "FAIL" else t.state.name.lower()
        out[str(key or "failed")] = out.get(str(key or "failed"), 0) + 1
    return out


def _stale(t: Any, now: float) -> bool:
    who = t.user_attrs.get("wnrl_owner")
    if not who:  # asked but not yet claimed: give its process time to write the owner
        started = t.datetime_start.timestamp() if t.datetime_start else now
        return now - started > STALE_AFTER
    if who.get("host") == owner()["host"]:
        return who.get("pid") != os.getpid() and not _alive(who)
    return now - float(t.user_attrs.get("wnrl_beat", 0.0)) > STALE_AFTER


def reap(study: Any) -> int:
    """Mark the study's interrupted trials and queue each again (same parameters, same directory).

    :param study: the Optuna study
    :returns: how many were marked by this call
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    now, n = time.time(), 0
    storage = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _stale(t, now):
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "wnrl_status", "interrupted")
            if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                continue
        except (UpdateFinishedTrialError, RuntimeError):
            continue  # another process marked it first
        slot = t.user_attrs.get("wnrl_slot", t.number)
        study.enqueue_trial(t.params, user_attrs={"wnrl_slot": slot, "wnrl_retry_of": t.number})
        n += 1
    return n


def claim(study: Any, budget: int) -> Any | None:
    """Ask the study for a trial within the budget, or ``None`` when the budget is used up.

    :param study: the Optuna study
    :param budget: trials per study
    """
    from optuna.trial import TrialState

    reap(study)
    now = study.get_trials(deepcopy=False)
    waiting = any(t.state == TrialState.WAITING for t in now)  # ask() takes a queued trial first
    if not waiting and sum(counting(t) for t in now) >= budget:
        return None
    trial = study.ask()
    before = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
    if sum(counting(t) for t in before) >= budget:
        trial.set_user_attr("wnrl_status", "discarded")
        study.tell(trial, state=TrialState.FAIL)
        return None
    trial.set_user_attr("wnrl_owner", owner())
    trial.set_user_attr("wnrl_beat", time.time())
    if "wnrl_slot" not in trial.user_attrs:
        trial.set_user_attr("wnrl_slot", trial.number)
    return trial

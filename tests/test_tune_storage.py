"""Tuning processes for real: resume after kill -9 honours the budget exactly; two processes on one
SQLite / journal storage cooperate (no trial lost, none run twice); a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from test_tune_helpers import ROOT, TINY_BASE, run_tune, studies, tune_cmd, tune_file

pytestmark = pytest.mark.slow


def _check_exact(tune_dir: Path, budget: int, storage: str | None = None) -> None:
    """Every study: exactly ``budget`` complete trials, each slot once, each with its runs."""
    for name, study in studies(tune_dir, storage).items():
        trials = study.get_trials()
        done = [t for t in trials if t.state.name == "COMPLETE"]
        assert len(done) == budget, (name, [(t.number, t.state.name, t.user_attrs.get("wnrl_status")) for t in trials])
        assert all(t.user_attrs.get("wnrl_status") in ("interrupted", "discarded") for t in trials if t not in done)
        slots = [t.user_attrs["wnrl_slot"] for t in done]
        assert len(set(slots)) == budget  # none run twice
        for slot in slots:
            info = json.loads(
                (tune_dir / "studies" / name.split("/")[1] / f"trial-{slot:04d}" / "trial.json").read_text()
            )
            assert info["state"] == "complete"


def test_resume_after_kill_9_honours_the_budget_exactly(tmp_path: Path) -> None:
    base = {**TINY_BASE, "train": {**TINY_BASE["train"], "total_timesteps": 1024}}
    path = tune_file(tmp_path, base=base, variants={"agent.norm": ["weight"]}, budget=4, seeds=2)
    out = tmp_path / "t"
    proc = subprocess.Popen(
        tune_cmd(str(path), "--out", str(out), "--workers", "2", "--no-report"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while not list(out.glob("studies/*/trial-*/trial.json")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # the next trial is in flight
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in out.glob("studies/*/trial-*/trial.json")}
    assert 1 <= len(finished) < 4
    time.sleep(1.5)  # the orphaned workers notice their parent is gone
    r = run_tune(str(path), "--out", str(out), "--workers", "2", "--no-report")
    assert r.returncode == 0, r.stderr
    _check_exact(out, 4)
    (study,) = studies(out).values()
    assert any(t.user_attrs.get("wnrl_status") == "interrupted" for t in study.get_trials())
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # finished trials kept as they were
    assert len(list(out.glob("studies/*/trial-*/trial.json"))) == 4


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_processes_on_one_storage_cooperate(tmp_path: Path, kind: str) -> None:
    path = tune_file(tmp_path, budget=3, seeds=1)
    out = tmp_path / "t"
    storage = f"journal:{tmp_path / 'journal.log'}" if kind == "journal" else None
    extra = ["--storage", storage] if storage else []
    cmd = tune_cmd(str(path), "--out", str(out), "--workers", "1", "--no-report", *extra)
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    lines = [sum(" trial " in line for line in err.splitlines()) for _, err in outputs]
    assert sum(lines) == 6 and all(n >= 1 for n in lines), outputs  # both worked, 6 trials in all
    _check_exact(out, 3, storage)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def postgres(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A real PostgreSQL server in a temp dir: the binaries of the ``pgserver`` wheel (a dev
    dependency, so ``make test`` needs nothing but pip), on a unix socket; stopped afterwards."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    try:
        server.psql("CREATE DATABASE wnrl;")
        uri = server.get_uri("wnrl")
        yield uri.replace("postgresql://", "postgresql+psycopg2://", 1)
    finally:
        server.cleanup()


def test_postgresql_storage(tmp_path: Path, postgres: str) -> None:
    path = tune_file(tmp_path, budget=2, seeds=1)
    out = tmp_path / "t"
    r = run_tune(str(path), "--out", str(out), "--workers", "2", "--storage", postgres, "--no-report")
    assert r.returncode == 0, r.stderr
    _check_exact(out, 2, postgres)
    assert not (out / "optuna.db").exists()
    again = run_tune(str(path), "--out", str(out), "--workers", "2", "--storage", postgres, "--no-report")
    assert again.returncode == 0 and " trial " not in again.stderr  # resumed: nothing left to run

"""Local sweep workers are forked from a fork server started once per process (it imports torch,
SB3 and wnrl once); they must still see the sweep process's environment and ``sys.path`` of the
moment the pool starts, as spawned workers would (a custom env module found through a path added
later, a variable set later)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from wnrl.harness.run.backends import worker_context
from wnrl.harness.run.options import ExecOptions
from wnrl.harness.run.pool import LocalPool, run_all, running
from wnrl.harness.run.task import Task
from wnrl.train.record import RunRecord


def _probe(task: Task) -> RunRecord:
    """Runs in a worker (top level, so the worker imports it from this module); what it sees
    travels back in the record's ``grid``."""
    seen = {
        "var": os.environ.get("WNRL_WORKER_PROBE"),
        "path": any(p.endswith("PROBE_DIR") for p in sys.path),
        "threads": os.environ.get("OMP_NUM_THREADS"),
    }
    return RunRecord(id=task.id, status="finished", grid=seen)


def _tasks(tmp: Path, *ids: str) -> list[Task]:
    from wnrl.config import validate

    config = validate(
        {"env": {"id": "CartPole-v1"}, "agent": {"algo": "ppo"}, "train": {"device": "cpu", "total_timesteps": 64}}, "x"
    )
    return [Task(id=i, run_dir=tmp / "runs" / i, config=config, source="x") for i in ids]


def test_workers_get_the_sweeps_environment_and_path_of_now(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    got: list[RunRecord] = []
    # the fork server is running from here on
    run_all(LocalPool(ExecOptions(workers=1), _probe), _tasks(tmp_path, "first"), got.append)
    monkeypatch.setenv("WNRL_WORKER_PROBE", "set later")
    monkeypatch.syspath_prepend(str(tmp_path / "PROBE_DIR"))
    run_all(LocalPool(ExecOptions(workers=2), _probe), _tasks(tmp_path, "a", "b"), got.append)
    first, *later = (g.grid for g in got)
    assert first["var"] is None and not first["path"]
    assert len(later) == 2 and all(g["var"] == "set later" and g["path"] for g in later)
    assert all(g["threads"] == "1" for g in (first, *later))


def _sleep(task: Task) -> RunRecord:
    time.sleep(20)
    return RunRecord(id=task.id, status="finished")


def test_running_closes_the_pool_and_on_an_exception_terminates_the_runs_in_flight(tmp_path: Path) -> None:
    pool = LocalPool(ExecOptions(workers=1), _probe)
    with running(pool):
        pool.submit(_tasks(tmp_path, "a")[0])
        assert [record.id for _task, record in pool.poll(None)] == ["a"]
    with pytest.raises(RuntimeError):  # shut down
        pool.pool.submit(os.getpid)
    slow = LocalPool(ExecOptions(workers=1), _sleep)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), running(slow):
        slow.submit(_tasks(tmp_path, "b")[0])
        slow.poll(1.0)
        workers = list(slow.pool._processes.values())
        raise KeyboardInterrupt
    for worker in workers:
        worker.join(10)
    assert workers and all(w.exitcode == 128 + signal.SIGTERM for w in workers)  # its stop handler ran
    assert time.monotonic() - started < 15  # not waited for


def test_cuda_sweeps_spawn_their_workers() -> None:
    assert worker_context(cuda=True).get_start_method() == "spawn"
    expected = "forkserver" if sys.platform != "win32" else "spawn"
    assert worker_context().get_start_method() == expected


_SHADOWED = """
from concurrent.futures import ProcessPoolExecutor
from wnrl.harness.run.backends import init_worker, worker_args, worker_context
from wnrl.harness.run.task import one_line
if __name__ == "__main__":
    with ProcessPoolExecutor(1, mp_context=worker_context(), initializer=init_worker, initargs=worker_args()) as pool:
        print(pool.submit(one_line, ValueError("from the worker")).result())
"""


def test_a_wnrl_folder_in_the_working_directory_does_not_shadow_the_sweeps_wnrl(tmp_path: Path) -> None:
    """The fork server is a ``python -c`` child, which puts the current directory first on its path:
    a ``wnrl`` folder there (another checkout, say) would be imported instead of the wnrl the sweep
    runs, and every worker would inherit it (a sweep from an installed wnrl in a checkout's folder
    failed every run this way). The sweep here is a script elsewhere, as ``wnrl`` is."""
    import subprocess

    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sweep.py").write_text(_SHADOWED)
    (tmp_path / "work" / "wnrl").mkdir(parents=True)
    imported = tmp_path / "the decoy was imported"
    (tmp_path / "work" / "wnrl" / "__init__.py").write_text(f"open({str(imported)!r}, 'w').close()\nDECOY = True\n")
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, str(tmp_path / "bin" / "sweep.py")],
        cwd=tmp_path / "work",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ValueError: from the worker"
    assert not imported.exists()  # by the fork server, whose modules every worker inherits

"""Running sweeps for real (tiny runs): failure isolation, --retry-failed, resume after SIGKILL,
a killed worker, the Ray backend (same results as the local pool), the sweep lock."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from wnrl.cli import main
from wnrl.harness.run.execute import WORKER_DIED, plan_runs, run_task
from wnrl.harness.run.options import ExecOptions
from wnrl.harness.run.pool import LocalPool, run_all
from wnrl.harness.run.task import Task
from wnrl.train.record import RESULT_FILE, RunFields, RunRecord, latest_checkpoint, read_record, write_record

ROOT = Path(__file__).resolve().parents[1]

TINY_BASE = {
    "env": {"id": "CartPole-v1", "n_envs": 2},
    "agent": {"net_arch": [16, 16]},
    "train": {"total_timesteps": 512, "eval_freq": 256, "eval_episodes": 2, "device": "cpu", "diagnostics_freq": 256},
}
TINY_PER = {
    "agent.algo": {
        "ppo": {"agent.hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 2}},
        "dqn": {
            "env.n_envs": 1,
            "agent.hyperparams": {"learning_starts": 128, "buffer_size": 1000, "target_update_interval": 100},
        },
    }
}
# 8 runs: 4 train for real; the 4 with the bad env kwarg pass validation and fail in the worker
# (gym.make raises TypeError there).
FAILING_SWEEP = {
    "name": "failing",
    "base": TINY_BASE,
    "seeds": 1,
    "per": TINY_PER,
    "grid": {"agent.algo": ["ppo", "dqn"], "agent.norm": ["none", "weight"], "env.kwargs": [{}, {"not_an_arg": 1}]},
}


def results(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for p in sorted((sweep_dir / "runs").glob(f"*/{RESULT_FILE}")):
        out[p.parent.name] = json.loads(p.read_text())  # every file parses: nothing half-written
    return out


def mtimes(sweep_dir: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (sweep_dir / "runs").glob(f"*/{RESULT_FILE}")}


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """The failing sweep run once on the local pool (2 workers), with its report."""
    tmp = tmp_path_factory.mktemp("failing")
    path = tmp / "failing.yaml"
    path.write_text(yaml.safe_dump(FAILING_SWEEP, sort_keys=False))
    out = tmp / "local"
    rc = main(["compare", str(path), "--out", str(out), "--workers", "2"])
    return path, out, rc


def test_failing_runs_are_isolated_and_reported(failing: tuple[Path, Path, int]) -> None:
    path, out, rc = failing
    assert rc == 1  # some runs failed
    res = results(out)
    index = json.loads((out / "index.json").read_text())
    assert sorted(res) == sorted(r["id"] for r in index["runs"]) and len(res) == 8
    for r in res.values():
        bad = r["grid"]["env.kwargs"] != {}
        assert r["status"] == ("failed" if bad else "finished"), r
        if bad:
            # gym.make's TypeError, as wnrl.envs words it (a ConfigError naming env.kwargs)
            assert r["error"].startswith(("TypeError:", "ConfigError:")) and "not_an_arg" in r["error"]
            assert "Traceback" in r["traceback"] and r["final"] is None
        else:
            assert math.isfinite(r["final"]["mean"]) and len(r["final"]["episodes"]) == 2
            assert r["curve"]["steps"][-1] == r["steps"] and math.isfinite(r["auc"])
            assert (out / "runs" / r["id"] / "model.zip").is_file()
            assert list((out / "runs" / r["id"] / "tb").rglob("events.out.tfevents*"))
    report = (out / "report.md").read_text()
    assert "## Failed runs (4)" in report and "not_an_arg" in report
    assert all(p.stat().st_size > 0 for p in (out / "figures").glob("*.png"))
    assert index["sessions"][-1]["ran"] == 8 and index["sessions"][-1]["failed"] == 4


def test_rerun_skips_everything_and_retry_failed_reruns_only_failures(
    failing: tuple[Path, Path, int], capsys: pytest.CaptureFixture
) -> None:
    path, out, _ = failing
    before, res = mtimes(out), results(out)
    assert main(["compare", str(path), "--out", str(out), "--no-report"]) == 1
    assert mtimes(out) == before and results(out) == res
    assert "4 finished earlier, 4 failed earlier" in capsys.readouterr().err
    assert main(["compare", str(path), "--out", str(out), "--no-report", "--retry-failed", "--workers", "1"]) == 1
    after = mtimes(out)
    for run_id, r in res.items():
        changed = after[run_id] != before[run_id]
        assert changed == (r["status"] == "failed"), run_id
    assert "running 4" in capsys.readouterr().err


def test_ray_backend_gives_the_same_results_as_the_local_pool(failing: tuple[Path, Path, int]) -> None:
    pytest.importorskip("ray")
    path, local_dir, _ = failing
    out = local_dir.parent / "ray"
    assert main(["compare", str(path), "--out", str(out), "--workers", "2", "--backend", "ray", "--no-report"]) == 1
    local, remote = results(local_dir), results(out)
    assert sorted(local) == sorted(remote)
    for run_id, a in local.items():
        b = remote[run_id]
        assert a["status"] == b["status"], run_id
        if a["status"] == "finished":  # CPU, one thread, fixed seed: bit-identical training
            assert a["final"] == b["final"] and a["curve"] == b["curve"] and a["auc"] == b["auc"], run_id


def _signal_sweep_when(
    path: Path,
    out: Path,
    ready: Callable[[], bool],
    sig: int = 0,
    settled: Callable[[], bool] | None = None,
    workers: int = 1,
    target: Callable[[int], list[int]] | None = None,
) -> str:
    """Run ``wnrl compare path --out out --workers workers`` in its own process group and, once
    ``ready()`` holds (or after 120 s), SIGKILL the whole group; or, with ``settled``, first send
    ``sig`` to the sweep process alone (its workers left to react), or to the processes
    ``target(sweep pid)`` names (e.g. :func:`worker_pids`), and wait up to 60 s for the sweep to
    exit and ``settled()`` to hold. Returns the sweep's stderr."""
    cmd = [sys.executable, "-m", "wnrl.cli", "compare", str(path), "--out", str(out), "--workers", str(workers)]
    proc = subprocess.Popen(
        [*cmd, "--no-report"], cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if ready():
                break
            time.sleep(0.02)
        if settled is not None:
            for pid in target(proc.pid) if target is not None else [proc.pid]:
                os.kill(pid, sig)
            deadline = time.time() + 60
            while time.time() < deadline and not (proc.poll() is not None and settled()):
                time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.stderr is not None
    return proc.stderr.read().decode()[-2000:]


def worker_pids(sweep_pid: int) -> list[int]:
    """The pids of a sweep's pool workers: the children of its fork server (a child of the sweep
    process whose command line names the forkserver), read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    servers = set()
    for pid, parent in parents.items():
        with contextlib.suppress(OSError):
            if parent == sweep_pid and b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                servers.add(pid)
    return [pid for pid, parent in parents.items() if parent in servers]


@pytest.mark.slow
def test_resume_after_sigkill_keeps_finished_runs(tmp_path: Path) -> None:
    sweep = {
        "name": "resume",
        "base": {
            **TINY_BASE,
            "agent": {
                "algo": "ppo",
                "net_arch": [16, 16],
                "hyperparams": TINY_PER["agent.algo"]["ppo"]["agent.hyperparams"],
            },
        },
        "grid": {"agent.norm": ["none", "weight"]},
        "seeds": 2,
    }
    path = tmp_path / "resume.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    out = tmp_path / "out"
    err = _signal_sweep_when(path, out, lambda: 1 <= len(list(out.glob(f"runs/*/{RESULT_FILE}"))) < 4)
    done = results(out)
    assert 1 <= len(done) < 4, err
    assert all(r["status"] == "finished" for r in done.values())
    before = mtimes(out)
    assert main(["compare", str(path), "--out", str(out), "--workers", "1", "--no-report"]) == 0
    after, final = mtimes(out), results(out)
    assert len(final) == 4 and all(r["status"] == "finished" for r in final.values())
    for run_id, r in done.items():  # not rerun
        assert after[run_id] == before[run_id] and final[run_id] == r
    assert not list(out.rglob(".*.tmp*"))


def _continuing_sweep(tmp_path: Path, norms: tuple[str, ...] = ("weight",)) -> tuple[dict[str, Any], Path, Path]:
    """A PPO sweep, one run per norm, of 8192 steps with checkpoints every 1024: (sweep, its file,
    its out)."""
    sweep = {
        "name": "cont",
        "base": {
            **TINY_BASE,
            "agent": {"algo": "ppo", "net_arch": [16, 16], "hyperparams": {"n_steps": 64, "batch_size": 64}},
            "train": {**TINY_BASE["train"], "total_timesteps": 8192, "eval_freq": 2048, "checkpoint_freq": 1024},
        },
        "grid": {"agent.norm": list(norms)},
        "seeds": 1,
    }
    path = tmp_path / "cont.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return sweep, path, tmp_path / "out"


def _checkpoint_at_2048(out: Path, runs: int = 1) -> bool:
    dirs = list(out.glob("runs/*"))
    return len(dirs) >= runs and all((latest_checkpoint(d / "checkpoints") or (0,))[0] >= 2048 for d in dirs)


@pytest.mark.slow
def test_a_run_killed_mid_way_continues_from_its_last_checkpoint(tmp_path: Path) -> None:
    """SIGKILL a sweep after its run wrote a checkpoint: running the sweep again continues the run
    from that checkpoint (a second part starting there), not from step 0, and it ends where an
    uninterrupted run ends, with the whole evaluation curve."""
    sweep, path, out = _continuing_sweep(tmp_path)
    err = _signal_sweep_when(path, out, lambda: _checkpoint_at_2048(out))
    (run_dir,) = list((out / "runs").iterdir())
    assert not (run_dir / RESULT_FILE).exists(), err
    found = latest_checkpoint(run_dir / "checkpoints")
    assert found is not None, err
    step = found[0]
    assert 2048 <= step < 8192

    from wnrl.harness.sweeps.spec import expand_sweep

    todo, counts, _ = plan_runs(expand_sweep(sweep, "cont").runs, out)
    assert counts["resumed"] == 1 and len(todo) == 1 and run_dir.exists(), "kept, to continue"
    assert main(["compare", str(path), "--out", str(out), "--workers", "1", "--no-report"]) == 0
    record = read_record(run_dir)
    assert record is not None and record.status == "finished" and record.steps == 8192
    assert record.curve.steps == [2048, 4096, 6144, 8192]
    parts = json.loads((run_dir / "system.json").read_text())["parts"]
    assert [p["from_step"] for p in parts] == [0, step], "continued from the checkpoint, not from 0"
    assert parts[-1]["status"] == "finished" and record.cpu_seconds >= parts[-1]["cpu_seconds"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill-sweep-only"])
def test_a_stopped_sweep_records_the_part_its_runs_were_in(tmp_path: Path, sig: int) -> None:
    """SIGTERM to the sweep process (what ``kill`` and batch schedulers send) reaches its workers as
    a clean stop, and so does the sweep process vanishing (SIGKILL to it alone; the workers notice
    within a second): each run in flight writes its part (steps, wall and CPU seconds, status
    interrupted) to system.json and no result, so that, continued, the run's CPU seconds count that
    part too (before, the workers died at once and the parts' time was lost). Two workers: the
    pool sends every worker a second SIGTERM once the first has exited, which must not cut the
    other's recording short."""
    sweep, path, out = _continuing_sweep(tmp_path, norms=("weight", "none"))

    def parts(run_dir: Path) -> list[dict[str, Any]]:
        system = run_dir / "system.json"
        return json.loads(system.read_text()).get("parts", []) if system.exists() else []

    def recorded() -> bool:
        dirs = list(out.glob("runs/*"))
        return len(dirs) == 2 and all(any(p.get("status") == "interrupted" for p in parts(d)) for d in dirs)

    err = _signal_sweep_when(path, out, lambda: _checkpoint_at_2048(out, 2), sig, settled=recorded, workers=2)
    run_dirs = sorted((out / "runs").iterdir())
    assert len(run_dirs) == 2 and not any((d / RESULT_FILE).exists() for d in run_dirs), err
    firsts = [parts(d) for d in run_dirs]
    assert [[p["status"] for p in ps] for ps in firsts] == [["interrupted"]] * 2, err
    for (first,) in firsts:
        assert first["from_step"] == 0 and first["to_step"] >= 2048 and first["cpu_seconds"] > 0
    if sig == signal.SIGKILL:
        return  # the same stop as SIGTERM's from here (continuing is checked once, below)
    assert main(["compare", str(path), "--out", str(out), "--workers", "2", "--no-report"]) == 0
    for run_dir, (first,) in zip(run_dirs, firsts, strict=True):
        record = read_record(run_dir)
        assert record is not None and record.status == "finished" and record.steps == 8192
        both = parts(run_dir)
        assert [p["status"] for p in both] == ["interrupted", "finished"]
        assert record.cpu_seconds is not None
        assert record.cpu_seconds >= first["cpu_seconds"] + both[1]["cpu_seconds"] - 0.01


def _stop_child(marker: str, ready: str, grace: float, record_seconds: float) -> None:
    """A worker (stop handler installed) whose run records its part slowly when stopped: the real
    :func:`run_task` around a stand-in for training, so that the stop path is the one sweeps take."""
    from wnrl.harness.run import task as tasks

    def slow_run(task: dict[str, Any]) -> RunRecord:
        try:
            Path(ready).touch()
            while True:
                time.sleep(0.01)
        finally:
            time.sleep(record_seconds)  # what train's finally does: write the part to system.json
            Path(marker).write_text("recorded")

    tasks._run = slow_run  # type: ignore[assignment]
    tasks.STOP_GRACE_SECONDS = grace
    tasks.install_stop_handler()
    tasks.run_task(_fake_task(Path(marker).parent, "stop"))


@pytest.mark.parametrize("record_seconds", [0.5, 60.0], ids=["records", "stuck"])
def test_a_stopped_worker_records_through_a_second_sigterm_and_never_hangs(
    tmp_path: Path, record_seconds: float
) -> None:
    """A pool SIGTERMs every worker again as soon as one exits: that second SIGTERM must not cut a
    run's recording short (exit 143 once recorded), and a worker whose recording never ends exits
    after the grace period instead of hanging the sweep."""
    import multiprocessing

    marker, ready = tmp_path / "recorded", tmp_path / "ready"
    child = multiprocessing.get_context("fork").Process(
        target=_stop_child, args=(str(marker), str(ready), 2.0, record_seconds)
    )
    child.start()
    deadline = time.time() + 30
    while not ready.exists() and time.time() < deadline:
        time.sleep(0.01)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGTERM)
    time.sleep(0.2)  # inside the recording now
    os.kill(child.pid, signal.SIGTERM)
    child.join(timeout=20)
    assert child.exitcode == 128 + signal.SIGTERM  # os._exit(143): stopped, not killed (-15)
    assert marker.exists() == (record_seconds < 2.0)


def _fake_task(tmp: Path, run_id: str) -> Task:
    from wnrl.config import validate

    config = validate(
        {"env": {"id": "CartPole-v1"}, "agent": {"algo": "ppo"}, "train": {"device": "cpu", "total_timesteps": 64}}, "x"
    )
    return Task(id=run_id, run_dir=tmp / "runs" / run_id, config=config, source="x")


def _die_or_finish(task: Task) -> RunRecord:
    if task.id == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    # the worker's pid and thread setting travel in `host` / `error` of the record
    result = RunRecord(
        id=task.id,
        status="finished",
        final={"mean": 1.0, "std": 0.0},
        host=str(os.getpid()),
        error=os.environ.get("OMP_NUM_THREADS"),
    )
    write_record(task.run_dir, result)
    return result


@pytest.mark.slow
def test_a_killed_worker_fails_its_run_and_a_new_pool_goes_on(tmp_path: Path) -> None:
    tasks = [_fake_task(tmp_path, i) for i in ("a", "die", "b", "c")]
    done: list[RunRecord] = []
    run_all(LocalPool(ExecOptions(workers=1), _die_or_finish), tasks, done.append)
    by_id = {r.id: r for r in done}
    assert sorted(by_id) == ["a", "b", "c", "die"]
    assert by_id["die"].status == "failed" and by_id["die"].error == WORKER_DIED
    assert read_record(tmp_path / "runs" / "die").status == "failed"
    assert all(by_id[i].status == "finished" and by_id[i].error == "1" for i in "abc")
    assert by_id["a"].host != by_id["b"].host  # a fresh pool (new pid) after the crash


def _report_gpu(task: Task) -> RunRecord:
    return RunRecord(id=task.id, status="finished", error=os.environ.get("CUDA_VISIBLE_DEVICES"), host=str(os.getpid()))


def test_gpu_slots_pin_each_worker_to_one_gpu(tmp_path: Path) -> None:
    tasks = [_fake_task(tmp_path, str(i)) for i in range(6)]
    done: list[RunRecord] = []
    run_all(LocalPool(ExecOptions(workers=8, runs_per_gpu=2), _report_gpu, gpus=2), tasks, done.append)
    gpu_of = {r.host: r.error for r in done}
    assert len(done) == 6 and len(gpu_of) <= 4  # pool size = gpus * runs_per_gpu
    assert set(gpu_of.values()) <= {"0", "1"}
    assert all(list(gpu_of.values()).count(g) <= 2 for g in ("0", "1"))


def test_nan_return_is_a_failed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wnrl.train
    from wnrl.harness.sweeps.spec import expand_sweep

    def diverged(config: Any, out: Path, fields: RunFields, **kwargs: Any) -> RunRecord:
        record = RunRecord(
            status="finished",
            final={"mean": float("nan"), "std": 0.0},
            auc=0.0,
            curve={"steps": [1], "mean": [0.0], "std": [0.0]},
            steps=1,
        )
        record = fields.finish(record)  # as train's one write does with a sweep run's fields
        write_record(out, record)
        return record

    monkeypatch.setattr(wnrl.train, "train", diverged)
    run = expand_sweep({"name": "n", "base": TINY_BASE, "seeds": 1, "grid": {"agent.algo": ["ppo"]}}, "n").runs[0]
    from wnrl.harness.run.execute import make_task

    result = run_task(make_task(run, tmp_path, "n.yaml"))
    assert result.status == "failed" and "not finite" in result.error
    assert read_record(tmp_path / "runs" / run.id).status == "failed"


def test_a_runs_result_json_is_written_once_with_its_sweep_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train`` writes the sweep run's id, grid values and whole-run timings in its one write of
    ``result.json``; the worker does not write it again."""
    import wnrl.train.record
    from wnrl.harness.run.execute import make_task
    from wnrl.harness.sweeps.spec import expand_sweep

    writes: list[Path] = []
    real = wnrl.train.record.write_record

    def counted(run_dir: Path, record: RunRecord) -> Path:
        writes.append(run_dir)
        return real(run_dir, record)

    for module in ("wnrl.train.system", "wnrl.harness.run.task"):
        monkeypatch.setattr(f"{module}.write_record", counted)
    ppo = {"n_steps": 64, "batch_size": 64, "n_epochs": 2}
    base = {**TINY_BASE, "agent": {**TINY_BASE["agent"], "hyperparams": ppo}}
    run = expand_sweep({"name": "w", "base": base, "seeds": 1, "grid": {"agent.algo": ["ppo"]}}, "w").runs[0]
    result = run_task(make_task(run, tmp_path, "w.yaml"))
    assert result.status == "finished" and writes == [tmp_path.resolve() / "runs" / run.id]
    on_disk = read_record(tmp_path / "runs" / run.id)
    assert on_disk == result and on_disk.id == run.id and on_disk.grid == {"agent.algo": "ppo"}
    assert on_disk.wall_seconds is not None and on_disk.wall_seconds >= on_disk.seconds


def test_plan_deletes_partial_runs(tmp_path: Path) -> None:
    from wnrl.harness.sweeps.spec import expand_sweep

    runs = expand_sweep({"name": "p", "base": TINY_BASE, "seeds": 4, "grid": {"agent.algo": ["ppo"]}}, "p").runs
    write_record(tmp_path / "runs" / runs[0].id, RunRecord(status="finished"))
    write_record(tmp_path / "runs" / runs[1].id, RunRecord(status="failed"))
    (tmp_path / "runs" / runs[2].id / "tb").mkdir(parents=True)  # killed mid-run
    (tmp_path / "runs" / runs[3].id).mkdir(parents=True)
    (tmp_path / "runs" / runs[3].id / RESULT_FILE).write_text('{"status": "finis')  # truncated
    todo, counts, _ = plan_runs(runs, tmp_path)
    assert [r.id for r in todo] == [runs[2].id, runs[3].id]
    assert not (tmp_path / "runs" / runs[2].id).exists() and not (tmp_path / "runs" / runs[3].id).exists()
    assert counts == {
        "finished": 1,
        "failed": 1,
        "retried": 0,
        "continued": 0,
        "partial": 1,
        "resumed": 0,
        "corrupt": 1,
        "todo": 2,
    }
    todo, counts, _ = plan_runs(runs, tmp_path, retry_failed=True)
    assert [r.id for r in todo] == [runs[1].id, runs[2].id, runs[3].id] and counts["retried"] == 1


def test_retry_failed_continues_only_runs_stopped_from_outside(tmp_path: Path) -> None:
    """--retry-failed continued every failed run with a checkpoint, so a run that failed with a
    training error and was retried after a fix mixed training by the old and the new code. Now
    only a run whose worker was killed or whose disk failed continues; a training error starts
    again from step 0 (its directory deleted)."""
    from wnrl.harness.sweeps.spec import expand_sweep

    runs = expand_sweep({"name": "r", "base": TINY_BASE, "seeds": 3, "grid": {"agent.algo": ["ppo"]}}, "r").runs
    errors = ["RuntimeError: boom", WORKER_DIED, "ConfigError: No space left on device"]
    for run, error in zip(runs, errors, strict=True):
        run_dir = tmp_path / "runs" / run.id
        (run_dir / "checkpoints").mkdir(parents=True)
        (run_dir / "checkpoints" / "step_512.zip").write_bytes(b"model")
        (run_dir / "config.yaml").write_text("{}\n")
        write_record(run_dir, RunRecord(status="failed", error=error))
    disk = {"status": "failed", "error": "No space left on device while writing model.zip"}
    (tmp_path / "runs" / runs[2].id / "system.json").write_text(json.dumps(disk))
    todo, counts, _ = plan_runs(runs, tmp_path, retry_failed=True)
    assert [r.id for r in todo] == [r.id for r in runs]
    assert (counts["retried"], counts["resumed"], counts["continued"]) == (1, 1, 1), counts
    assert not (tmp_path / "runs" / runs[0].id).exists(), "a training error starts again from step 0"
    for run in runs[1:]:
        assert (tmp_path / "runs" / run.id / "checkpoints" / "step_512.zip").is_file()
        assert not (tmp_path / "runs" / run.id / RESULT_FILE).exists()


def test_ray_missing_and_busy_directory_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wnrl.harness.sweeps.lock import sweep_lock

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "base": TINY_BASE, "seeds": 1, "grid": {"agent.algo": ["ppo"]}}))
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["compare", str(path), "--out", str(tmp_path / "o"), "--backend", "ray"]) == 2
    assert 'the ray backend needs the ray extra: pip install "wnrl[ray]"' in capsys.readouterr().err
    with sweep_lock(tmp_path / "busy"):
        assert main(["compare", str(path), "--out", str(tmp_path / "busy")]) == 2
    assert "another `wnrl compare` is running" in capsys.readouterr().err


def test_compare_lists_every_failed_run_from_the_records_it_has(
    failing: tuple[Path, Path, int], tmp_path: Path
) -> None:
    """``CompareOutcome.failed`` holds the failed runs kept from earlier sessions and those of
    this call, in the sweep's order, from the records ``plan_runs`` and the pool returned (no
    second read of every ``result.json``)."""
    from wnrl.harness.api import compare

    path, out, _ = failing
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    failed_ids = [r["id"] for r in json.loads((copy / "index.json").read_text())["runs"] if r["grid"]["env.kwargs"]]
    again = compare(path, out=copy, workers=1, write_report=False, progress=False)
    assert again.ran == [] and [r.id for r in again.failed] == failed_ids and not again.ok
    retried = compare(path, out=copy, workers=2, retry_failed=True, write_report=False, progress=False)
    assert len(retried.ran) == 4 and [r.id for r in retried.failed] == failed_ids
    assert all("not_an_arg" in str(r.error) for r in retried.failed)

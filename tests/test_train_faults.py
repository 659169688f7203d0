"""Faults around one run directory: a run stopped before its first checkpoint, two writers at
once, damaged checkpoints and normalization statistics, a full disk, a read-only video folder,
a CPU-only machine asked for CUDA, and the run's TensorBoard names.

Real SB3 training on CartPole with tiny budgets; real filesystems (a small tmpfs where the test
may mount one, else the same errors from a file-size limit or a read-only directory); real
subprocesses for the kills.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from refusal import read_only, refused
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from wnrl.cli import main
from wnrl.train.resume import DamagedFile, load_error
from wnrl.train.rundir import DirLock, RunDirClaim

CONFIG = {
    "name": "tiny",
    "env": {"id": "CartPole-v1", "n_envs": 2, "normalize_obs": True},
    "agent": {
        "algo": "ppo",
        "norm": "weight",
        "net_arch": [8],
        "hyperparams": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
    },
    "train": {
        "total_timesteps": 256,
        "eval_freq": 0,
        "eval_episodes": 2,
        "diagnostics_freq": 64,
        "device": "cpu",
        "torch_threads": 1,
        "progress_bar": False,
    },
}


def _config(tmp: Path, **train: object) -> Path:
    data = json.loads(json.dumps(CONFIG))
    data["train"].update(train)
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished tiny run (normalized observations, diagnostics every rollout)."""
    tmp = tmp_path_factory.mktemp("finished")
    assert main(["train", str(_config(tmp)), "--out", str(tmp / "run")]) == 0
    return tmp / "run"


def _copy(run: Path, tmp: Path) -> Path:
    shutil.copytree(run, tmp / "run")
    return tmp / "run"


# -- a finished run ---------------------------------------------------------------------------
def test_a_finished_run_keeps_no_empty_checkpoints_folder(finished: Path) -> None:
    assert (finished / "result.json").is_file()
    assert not (finished / "checkpoints").exists()


def test_each_layer_has_one_name_in_tensorboard(finished: Path) -> None:
    """The weight-norm statistics and the mechanism diagnostics of a layer share its one name."""
    ea = EventAccumulator(str(finished / "tb"), size_guidance={"scalars": 0})
    ea.Reload()
    tags = [t for t in ea.Tags()["scalars"] if t.startswith("wnrl/")]
    layers = {t.split("/")[1] for t in tags if t.endswith(("/eff_lr", "/param_norm_growth"))}
    wn_layers = {t.split("/")[1] for t in tags if t.endswith("/v_norm")}
    assert wn_layers and wn_layers <= layers, (wn_layers, layers)
    assert not any("mlp_extractor" in t for t in tags), tags


# -- wnrl eval -------------------------------------------------------------------------------
def test_eval_refuses_a_normalized_run_without_its_statistics(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = _copy(finished, tmp_path)
    (run / "vecnormalize.pkl").unlink()
    refused(capsys, tmp_path, ["eval", str(run), "--episodes", "1"], ["vecnormalize.pkl", "normalize_obs", "restore"])


def test_eval_on_cuda_needs_a_cuda_device(finished: Path, capsys: pytest.CaptureFixture) -> None:
    """As ``wnrl train`` does: a CPU-only machine refuses ``--device cuda``."""
    if torch.cuda.is_available():
        assert main(["eval", str(finished), "--episodes", "1", "--device", "cuda"]) == 0
        return
    refused(capsys, finished.parent, ["eval", str(finished), "--device", "cuda"], ["--device", "no CUDA device"])


def test_eval_video_into_a_read_only_folder_is_one_line(
    finished: Path, read_only_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    err = refused(capsys, finished, ["eval", str(finished), "--video", str(read_only_dir)], ["--video"])
    assert str(read_only_dir) in err and ("read-only" in err or "permission" in err), err


def test_resume_or_out_in_a_read_only_directory_is_one_line(
    with_checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Opening the run directory's existing lock file to check it was free was a traceback
    (OSError: EROFS) for --resume of a run on a read-only disk, and for --out with a lock file."""
    cfg = str(_config(tmp_path))
    src = _unfinished(with_checkpoints, tmp_path / "src").parent
    (src / "out").mkdir()
    (src / "out" / ".lock").touch()  # as a stopped run leaves its directory
    with read_only(tmp_path, src) as ro:
        run, out = ro / "run", ro / "out"
        err = refused(capsys, run.parent, ["train", "--resume", str(run)], [f"{run}: cannot write the run directory"])
        assert "resume a writable copy" in err, err
        refused(capsys, run.parent, ["train", cfg, "--out", str(out)], [f"{out}: cannot write", "another --out"])


# -- --resume ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def with_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run that kept its checkpoints (steps 128 and 256)."""
    tmp = tmp_path_factory.mktemp("kept")
    assert main(["train", str(_config(tmp, checkpoint_freq=128)), "--out", str(tmp / "run")]) == 0
    return tmp / "run"


def _unfinished(run: Path, tmp: Path) -> Path:
    """A copy of ``run`` as it was before its final files were written."""
    copy = _copy(run, tmp)
    for name in ("result.json", "model.zip", "vecnormalize.pkl"):
        (copy / name).unlink()
    return copy


def test_resume_passes_over_a_truncated_checkpoint(
    with_checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = _unfinished(with_checkpoints, tmp_path)
    newest = run / "checkpoints" / "step_256.zip"
    newest.write_bytes(newest.read_bytes()[:1000])
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{newest}: not a complete model" in err and "step 128" in err, err
    parts = json.loads((run / "system.json").read_text())["parts"]
    assert parts[-1]["from_step"] == 128 and parts[-1]["status"] == "finished"


def test_resume_with_only_a_damaged_checkpoint_is_one_line(
    with_checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = _unfinished(with_checkpoints, tmp_path)
    (run / "checkpoints" / "step_128.zip").unlink()
    (run / "checkpoints" / "step_128_vecnorm.pkl").unlink()
    (run / "checkpoints" / "step_256_vecnorm.pkl").write_bytes(b"not a pickle")
    refused(
        capsys,
        tmp_path,
        ["train", "--resume", str(run)],
        ["step_256_vecnorm.pkl", "no earlier complete checkpoint", "delete it"],
    )


def test_a_checkpoint_that_cannot_be_read_is_not_called_damaged(
    with_checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Every load error was "damaged": a newest checkpoint that could not be read (here its
    statistics are a directory: EISDIR, as EACCES or EIO would be) was passed over for the one at
    step 128, and had all failed so, the line said to delete them. Now the resume stops on it."""
    run = _unfinished(with_checkpoints, tmp_path / "src")
    vecnorm = run / "checkpoints" / "step_256_vecnorm.pkl"
    vecnorm.unlink()
    vecnorm.mkdir()
    err = refused(capsys, run.parent, ["train", "--resume", str(run)], [f"{vecnorm}: cannot be read (Is a directory)"])
    assert "damaged" not in err and "delete" not in err and "step 128" not in err, err


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        RuntimeError("CUDA error: out of memory"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory"),
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.EIO, "Input/output error"),
    ],
    ids=["memory", "cuda", "cpu-allocator", "eacces", "eio"],
)
def test_a_load_failure_that_is_not_damage_says_so(error: Exception) -> None:
    path = Path("run/checkpoints/step_256.zip")
    line = load_error(path, error)
    assert not isinstance(line, DamagedFile) and str(line).startswith(f"{path}: "), line
    assert "damaged" not in str(line) and "delete" not in str(line), line


@pytest.mark.parametrize(
    "error",
    [
        ValueError("Error: the file step_256.zip wasn't a zip-file"),
        AssertionError("No data found in the saved file"),
        RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory"),
        EOFError("Ran out of input"),
    ],
    ids=["not-a-zip", "no-data", "torch-zip", "eof"],
)
def test_what_sb3_raises_for_a_damaged_file_is_damage(error: Exception) -> None:
    """The errors a truncated, empty or text model.zip and a truncated pickle raise (tried)."""
    assert isinstance(load_error(Path("step_256.zip"), error), DamagedFile)


def test_a_run_being_written_is_refused_to_a_second_writer(
    with_checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """What a running ``wnrl train`` holds (the run directory's lock) refuses a second
    ``--resume`` of it and a second ``wnrl train --out`` into it."""
    run = _unfinished(with_checkpoints, tmp_path)
    empty = tmp_path / "new"
    empty.mkdir()
    locks = [DirLock(run), DirLock(empty)]
    assert all(lock.acquire() for lock in locks)
    try:
        refused(capsys, tmp_path, ["train", "--resume", str(run)], [str(run), "another `wnrl train`"])
        argv = ["train", str(_config(tmp_path)), "--out", str(empty)]
        refused(capsys, tmp_path, argv, [str(empty), "another `wnrl train`"])
    finally:
        for lock in locks:
            lock.release()


def test_an_abandoned_claim_keeps_its_lock_file_and_the_directory_takes_a_new_run(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A refused run deleted the lock file it created: a process that had opened it (as a second
    ``wnrl train`` does before it locks) then held a lock no one else could see, and a third took
    a new lock file at once: two writers. The file stays now, and the directory, holding only it,
    takes a new run."""
    run = tmp_path / "run"
    claim = RunDirClaim(run, fresh=True)
    opened = open(run / ".lock", "a")  # the second process opened the lock file before it was let go
    try:
        claim.abandon()
        fcntl.flock(opened, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ... and holds it now
        third = DirLock(run)
        assert not third.acquire(), "a third process must see the second one's lock"
        refused(capsys, tmp_path, ["train", str(_config(tmp_path)), "--out", str(run)], ["another `wnrl train`"])
    finally:
        opened.close()
    assert [p.name for p in run.iterdir()] == [".lock"]
    assert main(["train", str(_config(tmp_path)), "--out", str(run)]) == 0
    assert (run / "result.json").is_file()


def _start(argv: list[str], cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wnrl.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=cwd,
    )


def _stop_once_started(proc: subprocess.Popen, run_dirs: Callable[[], list[Path]]) -> tuple[Path, str]:
    """SIGTERM ``proc`` once its run directory (the one of ``run_dirs()``) holds system.json; the
    directory and the stderr of the stopped command."""
    deadline = time.time() + 120
    while not [d for d in run_dirs() if (d / "system.json").is_file()]:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    return next(d for d in run_dirs() if (d / "system.json").is_file()), err


def test_a_stopped_train_names_the_run_directory_it_chose(tmp_path: Path) -> None:
    """Without --out the line said `wnrl train --resume RUN_DIR`, literally: it names runs/<name>
    now, the directory that holds the stopped run."""
    cfg = _config(tmp_path, total_timesteps=100_000, checkpoint_freq=0)
    proc = _start(["train", str(cfg)], cwd=tmp_path)
    run, err = _stop_once_started(proc, lambda: sorted((tmp_path / "runs").glob("*")))
    last = err.strip().splitlines()[-1]
    assert run.name == "cartpole-ppo-weight-s0", run
    rel = Path("runs") / run.name
    assert last == (
        f"wnrl: interrupted; the run directory {rel} is kept; continue it with `wnrl train --resume {rel}` "
        "(from its last checkpoint)"
    ), err


@pytest.mark.slow
def test_two_trains_into_one_out_one_is_refused(tmp_path: Path) -> None:
    cfg = _config(tmp_path, total_timesteps=1024)
    other = tmp_path / "other"
    other.mkdir()
    cfg2 = _config(other, total_timesteps=1024, seed=7)
    out = tmp_path / "run"
    procs = [_start(["train", str(cfg), "--out", str(out)]), _start(["train", str(cfg2), "--out", str(out)])]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results
    err = next(e for rc, e in results if rc == 2).strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "another `wnrl train`" in err or "not empty" in err, err
    seed = yaml.safe_load((out / "config.yaml").read_text())["train"]["seed"]
    assert json.loads((out / "result.json").read_text())["seed"] == seed, "one run's config and result"
    system = json.loads((out / "system.json").read_text())
    assert [p["status"] for p in system["parts"]] == ["finished"]


@pytest.mark.slow
def test_resume_of_a_run_stopped_before_its_first_checkpoint_trains_it_again(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    # the first checkpoint is at step 4032, almost the whole budget: the stop lands long before it
    cfg = _config(tmp_path, total_timesteps=4096, checkpoint_freq=4000)
    _stop_once_started(_start(["train", str(cfg), "--out", str(out)]), lambda: [out])
    assert not list((out / "checkpoints").glob("step_*.zip")), "stopped before its first checkpoint"
    stopped = json.loads((out / "system.json").read_text())

    capsys.readouterr()
    assert main(["train", "--resume", str(out)]) == 0
    err = capsys.readouterr().err
    assert "checkpoint_freq was 0" not in err and "Traceback" not in err, err
    notes = [line for line in err.splitlines() if "no checkpoint yet" in line]
    assert len(notes) == 1 and "every 4000 steps" in notes[0] and "from step 0" in notes[0], err
    system = json.loads((out / "system.json").read_text())
    assert system["status"] == "finished" and system["started"] == stopped["started"]
    parts = system["parts"]
    assert [p["status"] for p in parts] == ["interrupted", "finished"]
    assert parts[1]["from_step"] == 0 and parts[1]["to_step"] >= 4096
    record = json.loads((out / "result.json").read_text())
    assert record["steps"] >= 4096 and record["seconds"] == pytest.approx(sum(p["seconds"] for p in parts), abs=0.01)


# -- a full disk -------------------------------------------------------------------------------
def test_a_system_json_that_cannot_be_rewritten_is_kept_whole(tmp_path: Path) -> None:
    """When even the atomic rewrite of system.json fails (here past a 4 KiB file-size limit), it
    was truncated and written again in place: that write failed too and left it cut off, earlier
    parts lost. Now it keeps what it said last (the part in progress "running")."""
    old = {"status": "running", "parts": [{"status": "finished"}, {"status": "running"}]}
    (tmp_path / "system.json").write_text(json.dumps(old))
    script = (
        "import errno, json, resource, signal, sys\n"
        "from pathlib import Path\n"
        "from wnrl.train.rundir import output_failure\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "system = {**json.loads(Path(sys.argv[1], 'system.json').read_text()), 'warnings': ['x' * 9000]}\n"
        "print(output_failure(Path(sys.argv[1]), OSError(errno.EFBIG, 'File too large'), system))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "File too large; raise the file-size limit" in proc.stdout, proc.stderr
    assert json.loads((tmp_path / "system.json").read_text()) == old
    assert [p.name for p in tmp_path.iterdir()] == ["system.json"], "no temp file left"


def _train_on_a_small_disk(tmp_path: Path, disk: Path) -> subprocess.CompletedProcess:
    """``wnrl train`` with checkpoints every rollout into ``disk``: 96 KiB of tmpfs, or where the
    test may not mount one, a 24 KiB file-size limit (a checkpoint's write fails alike, EFBIG)."""
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], capture_output=True)

    def limit() -> None:
        if mounted.returncode != 0:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (24 * 1024, 24 * 1024))

    cfg = _config(tmp_path, total_timesteps=1024, checkpoint_freq=64)
    argv = [sys.executable, "-m", "wnrl.cli", "train", str(cfg), "--out", str(disk / "run")]
    return subprocess.run(argv, capture_output=True, text=True, preexec_fn=limit, timeout=300)


def test_a_full_disk_is_one_line_and_the_run_continues_after(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    try:
        proc = _train_on_a_small_disk(tmp_path, disk)
        assert proc.returncode == 2, proc.stderr
        err = proc.stderr.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert str(disk / "run") in err and "--resume" in err, err
        assert "No space left on device; free space" in err or "File too large; raise the file-size limit" in err, err
        run = disk / "run"
        system = json.loads((run / "system.json").read_text())
        assert system["status"] == "failed" and system["parts"][-1]["status"] == "failed", system
        leftovers = [p.name for p in run.rglob(".*") if p.name != ".lock"]
        ckpts = run / "checkpoints"
        orphans = [
            p.name for p in ckpts.glob("step_*_*.pkl") if not (ckpts / f"{p.name.rsplit('_', 1)[0]}.zip").exists()
        ]
        assert leftovers == [] and orphans == [], (leftovers, orphans)
        assert not (run / "model.zip").exists()
        if os.path.ismount(disk):
            subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        assert main(["train", "--resume", str(run)]) == 0  # room again: the run continues
        system = json.loads((run / "system.json").read_text())
        assert [p["status"] for p in system["parts"]] == ["failed", "finished"]
    finally:
        if os.path.ismount(disk):
            subprocess.run(["umount", str(disk)], check=True)

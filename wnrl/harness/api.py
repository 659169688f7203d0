"""``wnrl compare`` (run a sweep, then report) and ``wnrl report`` (statistics of a sweep directory).

``wnrl compare SWEEP.yaml [--out DIR] [--workers N] [--backend local|ray [--address A]]
[--runs-per-gpu K] [--retry-failed] [--set KEY=VALUE ...] [--no-report]``:

1. reads and validates every run of the sweep (nothing starts on bad input: exit code 2);
2. writes ``DIR/index.json`` and skips the runs that already have a result (a sweep is resumed
   by running the same command again);
3. runs the rest on the backend (see :mod:`wnrl.harness.execute`);
4. writes the report (``DIR/report.md``, ``results.csv``, ``figures/``) unless ``--no-report``.

Exit code 0 when every run of the sweep finished, 1 when some failed (their errors are in the
report and their ``result.json``), 2 on bad input, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wnrl.config import ConfigError

__all__ = ["compare", "report", "sweep_lock", "compare_command"]


def compare_command(args: argparse.Namespace, sweep_dir: Path) -> str:
    """The ``wnrl compare`` command line that reproduces this sweep.

    :param args: parsed arguments of ``wnrl compare``
    :param sweep_dir: the sweep directory
    """
    parts = ["wnrl", "compare"] + ([str(args.sweep)] if args.sweep else []) + ["--out", str(sweep_dir)]
    if args.workers:
        parts += ["--workers", str(args.workers)]
    if args.backend != "local":
        parts += ["--backend", args.backend] + (["--address", args.address] if args.address else [])
    if args.runs_per_gpu != 1:
        parts += ["--runs-per-gpu", str(args.runs_per_gpu)]
    for item in args.set or []:
        parts += ["--set", item]
    return shlex.join(parts)


@contextlib.contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``sweep_dir`` (one ``wnrl compare`` per directory at a time).

    :param sweep_dir: the sweep directory (created if needed)
    :raises ConfigError: when another process holds it, or the directory cannot be made
    """
    import fcntl

    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        handle = open(sweep_dir / ".lock", "w")  # noqa: SIM115 - held for the whole block
    except OSError as e:
        raise ConfigError(f"--out {sweep_dir}: cannot create the sweep directory: {e.strerror}; "
                          "choose another --out") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(f"--out {sweep_dir}: another `wnrl compare` is running in this sweep "
                              "directory; wait for it or choose another --out") from None
        yield
    finally:
        handle.close()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the sweep runs (the workers are stopped, results kept)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _check_envs(sweep: Any) -> None:
    from wnrl.envs import EnvError, ensure_registered

    for env_id in dict.fromkeys(r.config.env.id for r in sweep.runs):
        try:
            ensure_registered(env_id)
        except EnvError as e:
            raise ConfigError(f"{sweep.source}: env.id: {e}") from None


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _sessions(sweep_dir: Path) -> list[dict[str, Any]]:
    try:
        old = json.loads((sweep_dir / "index.json").read_text())
        return list(old.get("sessions", [])) if isinstance(old, dict) else []
    except (OSError, ValueError):
        return []


def compare(args: argparse.Namespace) -> int:
    """``wnrl compare``: run a sweep (resuming what is done) and write its report.

    :param args: ``sweep``, ``out``, ``workers``, ``backend``, ``address``, ``runs_per_gpu``,
        ``retry_failed``, ``set``, ``no_report``
    :returns: the exit code (0: all runs finished, 1: some failed)
    """
    from wnrl.harness.execute import execute, make_task, plan_runs, read_result
    from wnrl.harness.sweep import load_sweep

    sweep = load_sweep(args.sweep, args.set)
    _check_envs(sweep)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ConfigError(f"--workers {workers}: must be at least 1")
    if args.runs_per_gpu < 1:
        raise ConfigError(f"--runs-per-gpu {args.runs_per_gpu}: must be at least 1")
    if args.address and args.backend != "ray":
        raise ConfigError("--address: only used with --backend ray; add --backend ray")
    if args.backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError('--backend ray: the ray backend needs the ray extra: '
                              'pip install "wnrl[ray]"') from None
    sweep_dir = Path(args.out) if args.out else Path("sweeps") / sweep.name
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise ConfigError(f"--out {sweep_dir}: is a file; give a directory")
    command = compare_command(args, sweep_dir)
    with sweep_lock(sweep_dir):
        sessions = _sessions(sweep_dir)
        index = {**sweep.index(), "command": command, "sessions": sessions}
        _write_json(sweep_dir / "index.json", index)
        todo, counts = plan_runs(sweep.runs, sweep_dir, args.retry_failed)
        kept = f", {counts['failed']} failed earlier (kept; rerun them with --retry-failed)" if counts["failed"] else ""
        doing = (f"running {len(todo)} on the {args.backend} backend with {min(workers, len(todo))} workers"
                 if todo else "nothing to run")
        print(f"Sweep {sweep.name}: {len(sweep.runs)} runs in {sweep_dir}; {counts['finished']} finished "
              f"earlier{kept}; {doing}", file=sys.stderr, flush=True)
        started = time.time()
        tasks = [make_task(r, sweep_dir, sweep.source) for r in todo]
        with _sigterm_as_interrupt():
            results = execute(tasks, args.backend, workers, args.address, args.runs_per_gpu)
        wall = time.time() - started
        sessions.append({"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                         "wall_seconds": round(wall, 1), "command": command, "backend": args.backend,
                         "workers": workers, "ran": len(tasks),
                         "failed": sum(r["status"] != "finished" for r in results)})
        _write_json(sweep_dir / "index.json", {**index, "sessions": sessions})
    failed = [r for r in (read_result(sweep_dir / "runs" / run.id) for run in sweep.runs)
              if r is not None and r["status"] != "finished"]
    print(f"Sweep {sweep.name}: ran {len(tasks)} runs in {wall:.0f} s; "
          f"{len(sweep.runs) - len(failed)} of {len(sweep.runs)} finished, {len(failed)} failed",
          file=sys.stderr)
    for r in failed[:10]:
        print(f"  failed {r['id']}: {str(r['error'])[:200]}", file=sys.stderr)
    if not args.no_report:
        from wnrl.harness.report import build_report

        path = build_report(sweep_dir)
        print(f"Report: {path} (figures in {path.parent / 'figures'}, per-run table in "
              f"{path.parent / 'results.csv'}); compare the runs in TensorBoard with: "
              f"tensorboard --logdir {sweep_dir}")
    else:
        print(f"Results are in {sweep_dir}; write the report with: wnrl report {sweep_dir}")
    return 1 if failed else 0


def report(args: argparse.Namespace) -> int:
    """``wnrl report SWEEP_DIR``: results.csv, report.md and figures of a sweep directory.

    :param args: ``sweep_dir``, ``reps``
    :returns: the exit code
    """
    from wnrl.harness.report import build_report

    if args.reps < 1:
        raise ConfigError(f"--reps {args.reps}: must be at least 1 (2000 is usual)")
    path = build_report(Path(args.sweep_dir), reps=args.reps)
    print(f"Report: {path} (figures in {path.parent / 'figures'}, per-run table in "
          f"{path.parent / 'results.csv'})")
    return 0

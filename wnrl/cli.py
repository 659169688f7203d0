"""The ``wnrl`` command line: thin argument parsing over :mod:`wnrl.train` and :mod:`wnrl.harness`
(every argparse parser of wnrl is here; ``wnrl train`` and ``wnrl eval`` import nothing of the harness).

Bad input prints one line (``wnrl: error: FILE: KEY: problem; fix``) and exits with code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import wnrl
from wnrl.config import ConfigError

if TYPE_CHECKING:
    from wnrl.config import RunConfig
    from wnrl.harness.api import ExecOptions

__all__ = ["main"]


def _fail(message: str) -> int:
    print(f"wnrl: error: {message}", file=sys.stderr)
    return 2


def _parse_noise(items: list[str] | None) -> dict[str, float] | None:
    from wnrl.config import parse_overrides

    if not items:
        return None
    noise = {}
    for key, value in parse_overrides(items, "--noise"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"--noise {key}={value}: give a number, e.g. --noise obs_std=0.2")
        noise[key] = float(value)
    return noise


def _parse_seeds(text: str | None, tuned: str | None) -> list[int] | None:
    """``--seeds 2-6`` / ``2,3,4`` / ``2-4,9`` as a list (``None`` when not given)."""
    if text is None:
        return None
    if tuned is None:
        raise ConfigError("--seeds: only with --tuned (a sweep file sets its own `seeds:`); add --tuned TUNE_DIR")
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            seeds += range(int(lo), int(hi or lo) + 1)
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text}: give distinct non-negative seeds as a range or a list, e.g. --seeds 2-6")
    return seeds


def _resume_args(args: argparse.Namespace) -> None:
    """``--resume`` continues the recorded config: options that would change it are refused."""
    if args.config or args.set or args.out:
        given = "CONFIG" if args.config else "--set" if args.set else "--out"
        raise ConfigError(
            f"{args.resume}: {given} cannot be given with --resume (a resumed run keeps the config in "
            f"{Path(args.resume) / 'config.yaml'}); to change it, start a new run"
        )


def _load_for_train(args: argparse.Namespace) -> tuple[RunConfig, str]:
    from wnrl.config import load_config, resolve_path

    if args.resume:
        from wnrl.train import load_run_config

        _resume_args(args)
        config = load_run_config(Path(args.resume))
        source = str(Path(args.resume) / "config.yaml")
    else:
        if not args.config:
            raise ConfigError("give a CONFIG file (e.g. configs/cartpole_ppo.yaml or cartpole_ppo) or --resume RUN_DIR")
        config = load_config(args.config, args.set)  # bad input answered before torch is imported
        source = str(resolve_path(args.config))
    if args.device:
        config.train.device = args.device  # where it runs, not what it does: allowed on resume
    return config, source


def _finished_resume(run_dir: Path) -> bool:
    from wnrl.train.record import read_record

    record = read_record(run_dir)
    if record is None or not record.finished:
        return False
    print(f"{run_dir}: already finished ({record.steps} steps, final return {record.score:.1f}); nothing to do")
    return True


def cmd_train(args: argparse.Namespace) -> int:
    config, source = _load_for_train(args)
    if args.resume and _finished_resume(Path(args.resume)):
        return 0
    from wnrl.train import run_dir_for, train
    from wnrl.train.stop import sigterm_as_interrupt

    run_dir = Path(args.resume) if args.resume else Path(args.out) if args.out else run_dir_for(config)
    args.run_dir = run_dir  # for the line a stop prints (main's _interrupted)
    # --progress: the bar; --no-progress: nothing; default: the bar on a terminal, else lines
    tty = sys.stderr.isatty()
    bar = args.progress if args.progress is not None else (None if tty else False)
    with sigterm_as_interrupt():
        record = train(
            config,
            out=None if args.resume else run_dir,
            resume=run_dir if args.resume else None,
            progress_bar=bar,
            source=source,
            progress_lines=args.progress is None and not tty and config.train.progress_bar,
        )
    final = record.final
    assert final is not None  # a finished run always has its final evaluation
    print(
        f"\nFinished {config.name}: {config.agent.algo.upper()} with norm={config.agent.norm} on "
        f"{config.env.id} for {record.steps} steps in {record.seconds:.0f} s. Final evaluation "
        f"return {final.mean:.1f} ± {final.std:.1f} over "
        f"{config.train.eval_episodes} episodes (area under the learning curve {record.auc:.1f}). "
        f"Results are in {run_dir} (result.json, curve.json, model.zip); "
        f"open the dashboards with: tensorboard --logdir {run_dir / 'tb'}"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from wnrl.train import check_eval_args, evaluate_run, record_video

    run_dir = Path(args.run_dir)
    noise = _parse_noise(args.noise)
    check_eval_args(run_dir, args.episodes, Path(args.video) if args.video else None)
    result = evaluate_run(run_dir, episodes=args.episodes, noise=noise, device=args.device)
    setting = ", ".join(f"{k}={v:g}" for k, v in (noise or {}).items()) or "clean"
    print(f"{run_dir}: return {result['mean']:.1f} ± {result['std']:.1f} over {args.episodes} episodes ({setting})")
    if args.video:
        paths = record_video(run_dir, Path(args.video), episodes=1, noise=noise)
        print(f"video: {', '.join(str(p) for p in paths) or 'the environment renders no frames'}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``wnrl list``: what can be named in a config or on the command line."""
    from wnrl.config.catalog import catalog

    print(catalog())
    return 0


def _execution(args: argparse.Namespace) -> ExecOptions:
    """``--workers``, ``--backend``, ``--address`` (and ``compare``'s ``--runs-per-gpu``) as one object."""
    from wnrl.harness.api import ExecOptions

    return ExecOptions(args.workers, args.backend, args.address, getattr(args, "runs_per_gpu", 1))


def cmd_compare(args: argparse.Namespace) -> int:
    """``wnrl compare``: exit 0 when every run finished, 1 when some failed."""
    from wnrl.harness.api import CompareOptions, compare_with

    seeds = _parse_seeds(args.seeds, args.tuned)
    options = CompareOptions(
        sweep=args.sweep,
        out=args.out,
        execution=_execution(args),
        retry_failed=args.retry_failed,
        overrides=tuple(args.set or ()),
        write_report=not args.no_report,
        add=args.add,
        tuned=args.tuned,
        seeds=None if seeds is None else tuple(seeds),
    )
    outcome = compare_with(options)
    d = outcome.sweep_dir
    print(
        f"Sweep: ran {len(outcome.ran)} runs in {outcome.wall_seconds:.0f} s; "
        f"{outcome.total - len(outcome.failed)} of {outcome.total} finished, "
        f"{len(outcome.failed)} failed",
        file=sys.stderr,
    )
    for r in outcome.failed[:10]:
        print(f"  failed {r.id}: {str(r.error)[:200]}", file=sys.stderr)
    if outcome.report is not None:
        print(
            f"Report: {outcome.report} (figures in {d / 'figures'}, per-run table in "
            f"{d / 'results.csv'}); compare the runs in TensorBoard with: tensorboard --logdir {d}"
        )
    else:
        print(f"Results are in {d}; write the report with: wnrl report {d}")
    return 0 if outcome.ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    """``wnrl report SWEEP_DIR``."""
    from wnrl.harness.api import report, seed_plan

    if args.plan:
        print(seed_plan(args.sweep_dir, width=args.width, target_poi=args.poi, only=args.only))
        return 0
    if args.only:
        raise ConfigError("--only restricts --plan: give --plan too (the report covers the whole sweep)")
    path = report(args.sweep_dir, reps=args.reps)
    print(f"Report: {path} (figures in {path.parent / 'figures'}, per-run table in {path.parent / 'results.csv'})")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """``wnrl tune TUNE.yaml``: exit 0 when every trial of this call ran (failed trials included)."""
    from wnrl.harness.tune.session import tune_with

    outcome = tune_with(args.tune, args.out, _execution(args), args.storage, not args.quiet, not args.no_report)
    failed = sum(t.get("state") == "failed" for t in outcome.trials)
    print(
        f"Tune: {len(outcome.trials)} trials finished by this process in {outcome.wall_seconds:.0f} s "
        f"({failed} failed); storage {outcome.storage}",
        file=sys.stderr,
    )
    print(f"Best hyperparameters: {outcome.tuned}")
    if outcome.report is not None:
        print(f"Tuning report: {outcome.report}")
    print(f"Confirm on fresh seeds with: wnrl compare --tuned {outcome.tune_dir}")
    print(f'Browse the studies with: optuna-dashboard {outcome.storage}  (pip install "wnrl[dashboard]")')
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as wnrl's one line (``wnrl: error: wnrl train: ...; see
    `wnrl train --help```) instead of the usage block; subcommand parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        where = "" if self.prog == "wnrl" else f"{self.prog}: "
        raise ConfigError(f"{where}{message}; see `{self.prog} --help`")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """The parsed command line; arguments the subcommand does not take are named with it."""
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        raise ConfigError(
            f"wnrl {args.command}: unrecognized arguments: {' '.join(extra)}; see `wnrl {args.command} --help`"
        )
    return args


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``wnrl``."""
    parser = _Parser(
        prog="wnrl", description="Reinforcement learning with weight-normalized networks: train, evaluate, compare."
    )
    parser.add_argument("--version", action="version", version=f"wnrl {wnrl.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one agent from a YAML config")
    p.add_argument("config", nargs="?", help="YAML run config, or a shipped one by name (see `wnrl list`)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set agent.norm=batch (repeatable)",
    )
    p.add_argument("--out", help="run directory to create (default: runs/<env>-<algo>-<norm>-s<seed>)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override train.device")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show the progress bar (default: a bar on a terminal, else a line every 10%% or minute)",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a trained run, optionally under noise")
    p.add_argument("run_dir", help="a run directory made by `wnrl train`")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument(
        "--noise",
        action="append",
        metavar="KEY=VALUE",
        help="evaluate under noise, e.g. --noise obs_std=0.2 (repeatable)",
    )
    p.add_argument("--video", metavar="DIR", help="also record an episode as a GIF into DIR")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compare", help="run a sweep (norms × settings × seeds) and report")
    p.add_argument(
        "sweep", nargs="?", default=None, help="YAML sweep file or a shipped one by name (default: the demo sweep)"
    )
    p.add_argument("--out", help="sweep directory (default: sweeps/<sweep name>)")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: CPU cores)")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (with --backend ray)")
    p.add_argument("--runs-per-gpu", type=int, default=1, help="runs sharing one GPU")
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="rerun the runs that failed, from step 0 (one stopped by a full disk: from its checkpoint)",
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a base config key")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    p.add_argument(
        "--tuned",
        metavar="TUNE_DIR",
        help="confirm a tune's tuned settings against the shared ones on fresh seeds (see `wnrl tune`)",
    )
    p.add_argument(
        "--seeds",
        metavar="SEEDS",
        help="with --tuned: confirm on these seeds only, added to OUT (a stage, e.g. 2-6; default: the tune "
        "file's confirm_seeds)",
    )
    p.add_argument(
        "--add",
        action="store_true",
        help="add these runs to a sweep directory that holds another sweep (its runs are kept; the report covers all)",
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("report", help="statistics, figures and report.md of a sweep directory")
    p.add_argument("sweep_dir")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--plan", action="store_true", help="only print how many seeds the sweep needs")
    p.add_argument("--width", type=float, default=0.1, help="--plan: target IQM CI width (normalised)")
    p.add_argument("--poi", type=float, default=0.6, help="--plan: probability of improvement to detect")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="--plan: only the runs whose grid KEY is VALUE, as the report writes it (repeatable), "
        "e.g. --only agent.algo=sac",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("tune", help="tune every normalization with the same budget (Optuna), then confirm")
    p.add_argument("tune", help="YAML tune file (examples in configs/tune/)")
    p.add_argument("--out", help="tune directory (default: tunes/<tune name>)")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: CPU cores)")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (with --backend ray)")
    p.add_argument(
        "--storage",
        help="Optuna storage: a database URL (postgresql://...), sqlite:///FILE or journal:FILE "
        "(default: the tune file's, else TUNE_DIR/optuna.db); processes on one storage cooperate",
    )
    p.add_argument("--quiet", action="store_true", help="no line per finished trial")
    p.add_argument("--no-report", action="store_true", help="skip the tuning report at the end")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("list", help="shipped configs and sweeps, norms, algorithms, installed extras")
    p.set_defaults(func=cmd_list)
    return parser


#: What a stopped subcommand keeps and how to go on (Ctrl-C or SIGTERM).
INTERRUPTED = {
    "train": "the run directory {run_dir} is kept; continue it with `wnrl train --resume {run_dir}` "
    "(from its last checkpoint)",
    "compare": "finished runs are kept; rerun the same `wnrl compare` command to continue",
    # there is no `wnrl tune --resume`: the same command goes on where the storage says
    "tune": "finished trials are kept; rerun the same `wnrl tune` command to continue (the budget stays exact)",
}
#: A ``wnrl train`` stopped before its run directory held anything of the run.
TRAIN_NOT_STARTED = "the run had not started (nothing of it was written); run the same command again"


def _interrupted(args: argparse.Namespace) -> str:
    """The line a stopped subcommand prints (a ``wnrl train`` names its run directory, when it
    holds the run's ``system.json``)."""
    hint = INTERRUPTED.get(args.command)
    if args.command == "train":
        run_dir = getattr(args, "run_dir", None)
        started = run_dir is not None and (run_dir / "system.json").is_file()
        hint = hint.format(run_dir=run_dir) if started and hint else TRAIN_NOT_STARTED
    return "wnrl: interrupted" + (f"; {hint}" if hint else "")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``wnrl`` console script."""
    try:
        args = _parse(argv)
    except ConfigError as e:
        return _fail(str(e))
    try:
        return args.func(args)
    except ConfigError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        print(_interrupted(args), file=sys.stderr)
        return 130
    except BrokenPipeError:  # `wnrl list | head`: the reader has gone, and so does the output
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())

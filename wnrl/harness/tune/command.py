"""``wnrl tune``: the argument parser and the command (wired into :mod:`wnrl.cli`).

Nothing heavy is imported at module level: torch and optuna are imported inside :func:`cmd_tune`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["INTERRUPTED", "add_tune_parser", "cmd_tune", "main"]

#: What a stopped ``wnrl tune`` keeps and how to go on (there is no ``--resume``: the same command).
INTERRUPTED = "finished trials are kept; rerun the same `wnrl tune` command to continue (the budget stays exact)"


def cmd_tune(args: argparse.Namespace) -> int:
    """``wnrl tune TUNE.yaml``: exit 0 when every trial of this call ran (failed trials included).

    :param args: the parsed arguments
    """
    from wnrl.harness.tune.session import tune

    outcome = tune(
        args.tune,
        out=args.out,
        workers=args.workers,
        backend=args.backend,
        address=args.address,
        storage=args.storage,
        progress=not args.quiet,
        write_report=not args.no_report,
    )
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


def add_tune_parser(sub: Any) -> None:
    """Add ``wnrl tune`` to the subcommands of ``wnrl``.

    :param sub: the subparsers action of the ``wnrl`` parser
    """
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


def main(argv: list[str] | None = None) -> int:
    """``python -m wnrl.harness.tune.command TUNE.yaml ...``: ``wnrl tune`` on its own (the same
    parser; bad input is one line and exit code 2).

    :param argv: the arguments after ``wnrl tune``
    """
    from wnrl.config import ConfigError

    parser = argparse.ArgumentParser(prog="wnrl")
    add_tune_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tune", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except ConfigError as e:
        print(f"wnrl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wnrl: interrupted; {INTERRUPTED}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

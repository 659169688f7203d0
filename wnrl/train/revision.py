"""Which wnrl code a run ran: the git commit of the source tree this process imported.

Read once, at import, so that a long-lived process (a sweep's fork server, which imports wnrl once
and forks every run from it) records the code it holds, not a commit made after it started.
``+dirty`` marks code (``wnrl/``, ``agents/``) that differed from that commit; results and docs
written beside the code do not count. ``None`` outside a git checkout (an installed wheel: its
version in ``system.json`` says what ran) or without a ``git`` executable.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["SOURCE_REVISION", "source_revision"]

#: The directories whose changes make a checkout's code differ from its commit.
CODE_DIRS = ("wnrl", "agents")


def source_revision(root: Path | None = None) -> str | None:
    """The checkout's ``HEAD`` commit, ``+dirty`` when its code differs from it.

    :param root: the repository root (default: the one above the imported ``wnrl`` package)
    """
    root = root or Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        diff = subprocess.run(
            ["git", "-C", str(root), "diff", "--quiet", "HEAD", "--", *CODE_DIRS], capture_output=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if diff.returncode == 1 else head


SOURCE_REVISION = source_revision()

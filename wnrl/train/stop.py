"""How a stop from outside reaches a run: SIGTERM (what Slurm, Ray and ``kill`` send) is turned
into the ``KeyboardInterrupt`` that Ctrl-C raises, so one path records an interrupted part.

Python may run the handler inside a finalizer or a garbage-collector callback (SQLAlchemy's, in
``wnrl tune``), where an exception is printed as "Exception ignored" and lost, or between two
steps that belong together. The handler also sets a flag, so that a loop that waits for runs
stops at its next :func:`check_stop`; with ``deferred`` it only sets the flag (``wnrl compare``
and ``wnrl tune``, whose loops check it at least once a second).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["check_stop", "sigterm_as_interrupt"]

_stopped = threading.Event()


def check_stop() -> None:
    """Raise, once, the ``KeyboardInterrupt`` of a SIGTERM received inside
    :func:`sigterm_as_interrupt` (deferred, or whose own interrupt was lost where Python ignores
    exceptions); nothing otherwise."""
    if _stopped.is_set():
        _stopped.clear()  # delivered: raised once
        raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt(deferred: bool = False) -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C inside the block (only in the main thread, where Python delivers
    signals; elsewhere the block runs unchanged).

    :param deferred: do not raise where the signal lands: raise at the block's next
        :func:`check_stop`, or at its end. For loops whose steps belong together (a trial told to
        Optuna and its ``trial.json`` written; a run's record handled), which check between steps.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        _stopped.set()
        if not deferred:
            raise KeyboardInterrupt

    _stopped.clear()
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
        if deferred:
            check_stop()  # a stop the block did not check for
    finally:
        signal.signal(signal.SIGTERM, old)
        _stopped.clear()

"""SIGTERM as Ctrl-C (:mod:`wnrl.train.stop`), also when Python loses the interrupt."""

from __future__ import annotations

import os
import signal
import time

import pytest

from wnrl.train.stop import check_stop, sigterm_as_interrupt


class _SigtermInFinalizer:
    """An object whose finalizer receives a SIGTERM: the ``KeyboardInterrupt`` the handler raises
    there is printed as "Exception ignored" and lost, as it was in SQLAlchemy's GC callback."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)  # the handler runs here


def test_a_sigterm_raises_keyboard_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the lost interrupt, printed
def test_a_sigterm_lost_in_a_finalizer_still_stops_the_next_check() -> None:
    with sigterm_as_interrupt():
        check_stop()  # nothing received: nothing raised
        obj = _SigtermInFinalizer()
        del obj  # the interrupt is raised inside __del__ and ignored there
        with pytest.raises(KeyboardInterrupt):
            check_stop()
    check_stop()  # outside the block: the flag is cleared


def test_a_deferred_sigterm_waits_for_the_next_check() -> None:
    """With ``deferred``, the steps between two checks are not cut in half."""
    steps = []
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt(deferred=True):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        steps.append("told")  # would be lost if the signal raised where it landed
        steps.append("written")
        check_stop()
        steps.append("next")
    assert steps == ["told", "written"]


def test_a_deferred_sigterm_not_checked_for_raises_at_the_end_of_the_block() -> None:
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt(deferred=True):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)

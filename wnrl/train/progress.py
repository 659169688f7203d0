"""Progress as plain lines, for when stderr is not a terminal (CI, nohup, Slurm, Ray).

SB3's progress bar redraws one line with carriage returns, which a log file records as one
ever-growing line or not at all. :class:`ProgressLineCallback` prints a complete line every
``every_fraction`` of the budget or every ``every_seconds``, whichever comes first, and one last line
when training ends::

    wnrl: cartpole 40% 40960/102400 steps, 1234 steps/s, ETA 50 s
    wnrl: cartpole 100% 102400/102400 steps, 1230 steps/s, done in 83 s
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["ProgressLineCallback", "format_duration"]


def format_duration(seconds: float) -> str:
    """A short human duration: ``50 s``, ``12 min``, ``2.5 h``.

    :param seconds: a non-negative duration
    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class ProgressLineCallback(BaseCallback):
    """Print a progress line every ``every_fraction`` of the budget or every ``every_seconds``.

    Works with resumed runs: the budget is the run's whole ``total_timesteps``, thresholds already
    passed are skipped, and steps/s counts only the steps done in this process.

    :param total_timesteps: the run's whole budget (for a resumed run, not what is left of it)
    :param every_fraction: print when this fraction of the budget more is done (0 < f <= 1)
    :param every_seconds: print at least this often (seconds, > 0)
    :param stream: where to print (default: ``sys.stderr`` at the time of printing)
    :param label: a name for the run, printed after ``wnrl:`` (e.g. the config's name)

    ``start_steps`` is the step count when training started in this process (0 for a fresh run).
    """

    def __init__(
        self,
        total_timesteps: int,
        every_fraction: float = 0.1,
        every_seconds: float = 60.0,
        stream: TextIO | None = None,
        label: str = "",
    ) -> None:
        super().__init__()
        if total_timesteps < 1:
            raise ValueError(f"total_timesteps must be at least 1, got {total_timesteps}")
        if not 0 < every_fraction <= 1:
            raise ValueError(f"every_fraction must be in (0, 1], got {every_fraction}")
        if not every_seconds > 0:
            raise ValueError(f"every_seconds must be positive, got {every_seconds}")
        self.total_timesteps = int(total_timesteps)
        self.every_fraction = every_fraction
        self.every_steps = self.total_timesteps * every_fraction
        self.every_seconds = every_seconds
        self.stream = stream
        self.prefix = f"wnrl: {label} " if label else "wnrl: "
        self.start_steps = 0
        self._start_time = self._last_time = 0.0
        self._next_k = 1

    def _on_training_start(self) -> None:
        self.start_steps = self.num_timesteps
        self._start_time = self._last_time = time.monotonic()
        self._next_k = self._k_after(self.num_timesteps)

    def _k_after(self, steps: int) -> int:
        """The index of the first fraction threshold above ``steps``."""
        return math.floor(steps / self.every_steps) + 1

    def _on_step(self) -> bool:
        now = time.monotonic()
        steps = self.num_timesteps
        # The 100% line is the one printed at the end, so fraction thresholds stop below the budget.
        due = steps >= self._next_k * self.every_steps and self._next_k * self.every_fraction < 1 - 1e-9
        if due or now - self._last_time >= self.every_seconds:
            self._print(steps, now, final=False)
        return True

    def _on_training_end(self) -> None:
        self._print(self.model.num_timesteps, time.monotonic(), final=True)

    def _print(self, steps: int, now: float, final: bool) -> None:
        """Print one line for ``steps`` done at time ``now``."""
        self._last_time = now
        self._next_k = self._k_after(steps)
        elapsed = now - self._start_time
        rate = (steps - self.start_steps) / elapsed if elapsed > 0 else 0.0
        percent = min(100, math.floor(100 * steps / self.total_timesteps))
        if final:
            tail = f"done in {format_duration(elapsed)}"
        elif rate > 0:
            tail = f"ETA {format_duration(max(0, self.total_timesteps - steps) / rate)}"
        else:
            tail = "ETA ?"
        line = f"{self.prefix}{percent}% {steps}/{self.total_timesteps} steps, {rate:.0f} steps/s, {tail}\n"
        stream = self.stream if self.stream is not None else sys.stderr
        stream.write(line)
        stream.flush()

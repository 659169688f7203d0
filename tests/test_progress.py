"""`ProgressLineCallback`: plain progress lines for logs, checked on real SB3 PPO training."""

from __future__ import annotations

import io
import re

import pytest
from stable_baselines3 import PPO

from wnrl.train.progress import ProgressLineCallback, format_duration

LINE = re.compile(r"^wnrl: (?:(\w+) )?(\d+)% (\d+)/(\d+) steps, (\d+) steps/s, (ETA .+|done in .+)$")


def _ppo(n_steps: int = 64) -> PPO:
    return PPO("MlpPolicy", "CartPole-v1", n_steps=n_steps, batch_size=64, n_epochs=1, seed=0, device="cpu")


def _lines(stream: io.StringIO) -> list[re.Match[str]]:
    lines = stream.getvalue().splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    return [m for m in matches if m]


def test_a_line_every_tenth_and_one_at_the_end() -> None:
    stream = io.StringIO()
    cb = ProgressLineCallback(512, every_seconds=3600, stream=stream, label="cartpole")
    _ppo().learn(512, callback=cb)
    lines = _lines(stream)
    assert len(lines) == 10, stream.getvalue()
    percents = [int(m.group(2)) for m in lines]
    assert percents == sorted(percents) and len(set(percents)) == 10
    assert percents[:9] == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    steps = [int(m.group(3)) for m in lines]
    assert steps == sorted(steps) and all(int(m.group(4)) == 512 for m in lines)
    assert all(m.group(1) == "cartpole" for m in lines)
    assert all(m.group(6).startswith("ETA ") for m in lines[:-1])
    last = lines[-1]
    assert last.group(2) == "100" and last.group(3) == "512" and last.group(6).startswith("done in ")


def test_resume_counts_only_the_steps_of_this_process() -> None:
    model = _ppo()
    model.learn(256)
    stream = io.StringIO()
    cb = ProgressLineCallback(512, every_fraction=0.25, every_seconds=3600, stream=stream)
    model.learn(256, callback=cb, reset_num_timesteps=False)
    lines = _lines(stream)
    # 25% and 50% were passed before this process: only 75% and the last line remain.
    assert [int(m.group(2)) for m in lines] == [75, 100], stream.getvalue()
    assert lines[0].group(1) is None, "no label, no name"
    assert int(lines[-1].group(3)) == 512
    assert cb.start_steps == 256, "steps/s is over the 256 steps done here, not the 512 in all"


def test_time_lines_when_the_budget_moves_slowly() -> None:
    stream = io.StringIO()
    cb = ProgressLineCallback(128, every_fraction=1.0, every_seconds=1e-9, stream=stream)
    _ppo().learn(128, callback=cb)
    lines = _lines(stream)
    assert len(lines) > 100, "a line every step when every_seconds is tiny"
    percents = [int(m.group(2)) for m in lines]
    assert percents == sorted(percents) and percents[-1] == 100


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"total_timesteps": 0}, "total_timesteps"),
        ({"total_timesteps": 10, "every_fraction": 0}, "every_fraction"),
        ({"total_timesteps": 10, "every_fraction": 1.5}, "every_fraction"),
        ({"total_timesteps": 10, "every_seconds": 0}, "every_seconds"),
    ],
)
def test_bad_arguments(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        ProgressLineCallback(**kwargs)


def test_format_duration() -> None:
    assert format_duration(50) == "50 s"
    assert format_duration(720) == "12 min"
    assert format_duration(9000) == "2.5 h"

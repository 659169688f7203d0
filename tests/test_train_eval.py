"""`wnrl eval --video`: videos named by run and episode, never overwritten; bad arguments refused first.

A real tiny run is trained once per module through the CLI (``wnrl.cli.main``), then copied.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image

from wnrl.cli import main
from wnrl.config import ConfigError
from wnrl.train.evaluate import check_eval_args, record_video

TINY = {
    "name": "tiny",
    "env": {"id": "CartPole-v1", "n_envs": 2},
    "agent": {
        "algo": "ppo",
        "norm": "weight",
        "net_arch": [16],
        "hyperparams": {"n_steps": 64, "batch_size": 64, "n_epochs": 2},
    },
    "train": {
        "total_timesteps": 256,
        "seed": 3,
        "eval_freq": 0,
        "eval_episodes": 1,
        "device": "cpu",
        "torch_threads": 1,
        "progress_bar": False,
    },
}
FRAMES = 5  # a few frames per GIF keep the tests fast; the naming does not depend on the length


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run directory (treat as read-only: copy it to change it)."""
    root = tmp_path_factory.mktemp("trained")
    cfg = root / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = root / "run"
    assert main(["train", str(cfg), "--out", str(out)]) == 0
    assert (out / "model.zip").is_file()
    return out


def _gifs(d: Path) -> list[str]:
    return sorted(p.name for p in d.glob("*.gif"))


def test_two_runs_into_one_directory_give_two_files(run_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "alpha", tmp_path / "beta"
    shutil.copytree(run_dir, a)
    shutil.copytree(run_dir, b)
    video = tmp_path / "videos"
    (pa,) = record_video(a, video, max_frames=FRAMES)
    (pb,) = record_video(b, video, max_frames=FRAMES)
    assert pa != pb
    assert _gifs(video) == ["alpha-episode_0.gif", "beta-episode_0.gif"]
    for p in (pa, pb):
        with Image.open(p) as gif:
            assert gif.format == "GIF" and 1 < getattr(gif, "n_frames", 1) <= FRAMES  # Pillow merges equal frames


def test_recording_the_same_run_twice_never_overwrites(run_dir: Path, tmp_path: Path) -> None:
    video = tmp_path / "videos"
    first = record_video(run_dir, video, episodes=2, max_frames=FRAMES)
    before = {p: p.read_bytes() for p in first}
    second = record_video(run_dir, video, max_frames=FRAMES)
    assert [p.name for p in first] == ["run-episode_0.gif", "run-episode_1.gif"]
    assert [p.name for p in second] == ["run-episode_0-2.gif"]
    third = record_video(run_dir, video, max_frames=FRAMES)
    assert [p.name for p in third] == ["run-episode_0-3.gif"]
    assert all(p.read_bytes() == data for p, data in before.items()), "earlier videos are untouched"
    assert len(_gifs(video)) == 4


def test_a_file_as_video_directory_is_refused_before_anything_is_written(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "clip.gif"
    target.write_bytes(b"precious")
    with pytest.raises(ConfigError) as e:
        check_eval_args(run_dir, 1, target)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and str(target) in msg
    assert "is a file, not a directory" in msg and "--video" in msg
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        record_video(run_dir, target)
    with pytest.raises(ConfigError, match="is a file, not a directory"):  # a file above the directory
        check_eval_args(run_dir, 1, target / "sub")
    assert target.read_bytes() == b"precious"
    check_eval_args(run_dir, 1, tmp_path / "new" / "videos")  # a directory yet to be made is fine
    assert not (tmp_path / "new").exists(), "checking creates nothing"


@pytest.mark.parametrize("episodes", [0, -3])
def test_fewer_than_one_episode_is_refused(run_dir: Path, tmp_path: Path, episodes: int) -> None:
    with pytest.raises(ConfigError) as e:
        check_eval_args(run_dir, episodes, None)
    assert str(e.value) == f"--episodes: must be at least 1, got {episodes}"
    with pytest.raises(ConfigError, match="--episodes"):
        record_video(run_dir, tmp_path / "videos", episodes=episodes)
    assert not (tmp_path / "videos").exists()


def test_bad_run_directories_are_refused(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a wnrl run directory"):
        check_eval_args(tmp_path / "missing", 1, None)
    with pytest.raises(ConfigError, match="not a wnrl run directory"):
        check_eval_args(tmp_path, 1, None)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run_dir, unfinished)
    (unfinished / "model.zip").unlink()
    with pytest.raises(ConfigError, match="no model.zip"):
        check_eval_args(unfinished, 1, None)
    check_eval_args(run_dir, 3, None)  # a finished run passes

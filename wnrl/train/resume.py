"""What a run directory keeps across interruptions: checkpoints, the CSV log, timed parts.

``wnrl train --resume RUN`` continues from the newest complete checkpoint (a damaged one is passed
over for the one before it, with a warning line); a run stopped before its first checkpoint is
trained again from step 0 (a line says so). What it keeps:

* the model, optimizer state and step count (``checkpoints/step_<N>.zip``), the replay buffer of
  off-policy algorithms and the VecNormalize statistics;
* the learning curve up to the checkpoint (``curve.json``); points after it are evaluated again;
* ``tb/progress.csv``, appended to, never truncated (the steps between the checkpoint and the
  interruption appear twice: once as they happened, once as they were redone), and TensorBoard
  events (a new events file per part);
* ``system.json``: the first start, and one entry per part (start, end, steps, wall and CPU
  seconds, device, host, command), so the run's time counts all its parts.

What it does not keep: the random state of the environments between the checkpoint and the
interruption, so a resumed run is a valid run of the same config, not a bit-identical replay.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from wnrl.config import ConfigError, RunConfig
from wnrl.registry import ALGORITHMS
from wnrl.train.record import list_checkpoints

__all__ = [
    "AppendingCSVOutputFormat",
    "DamagedFile",
    "SpacesMismatch",
    "load_error",
    "load_checkpoint",
    "load_model",
    "previous_system",
    "run_logger",
    "total_of_parts",
]


class AppendingCSVOutputFormat(CSVOutputFormat):
    """SB3's CSV log, continuing an existing file (its header's columns are kept) instead of
    truncating it.

    :param filename: the CSV file
    """

    def __init__(self, filename: str) -> None:
        if not os.path.exists(filename) or os.path.getsize(filename) == 0:
            super().__init__(filename)
            return
        self.file = open(filename, "r+")
        header = self.file.readline().rstrip("\n")
        self.keys = header.split(",") if header else []
        self.separator, self.quotechar = ",", '"'
        self.file.seek(0, os.SEEK_END)


def run_logger(run_dir: Path) -> Logger:
    """TensorBoard events and an appended ``progress.csv`` in ``run_dir/tb``."""
    folder = run_dir / "tb"
    folder.mkdir(parents=True, exist_ok=True)
    formats = [TensorBoardOutputFormat(str(folder)), AppendingCSVOutputFormat(str(folder / "progress.csv"))]
    return Logger(folder=str(folder), output_formats=formats)


def previous_system(run_dir: Path) -> dict[str, Any]:
    """The ``system.json`` of an earlier part (empty if missing or unreadable)."""
    try:
        data = json.loads((run_dir / "system.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def total_of_parts(parts: list[dict[str, Any]], key: str) -> float:
    """The sum of ``key`` over a run's parts (missing values count 0)."""
    return round(sum(float(p.get(key) or 0.0) for p in parts), 3)


class DamagedFile(ConfigError):
    """A file of a run that is not what wnrl wrote (truncated, empty, not a zip or pickle, parts
    missing): an older checkpoint may be used instead."""


class SpacesMismatch(ConfigError):
    """The config's env is not the one a model was trained on: every checkpoint fails alike."""


#: The errors of a damaged zip or pickle, as SB3, zipfile, pickle and json raise them (a truncated
#: or text model.zip: ValueError "wasn't a zip-file" or AssertionError "No data found"; a zip
#: without policy.pth: ValueError; a truncated pickle: UnpicklingError or EOFError).
_DAMAGE = (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError, AssertionError)
#: What torch's RuntimeError says of a damaged file (its other RuntimeErrors, CUDA's and
#: "DefaultCPUAllocator: can't allocate memory" among them, are not about the file).
_TORCH_DAMAGE = ("PytorchStreamReader", "central directory", "Error(s) in loading state_dict")


def load_error(path: Path, e: Exception) -> ConfigError:
    """The one line of a file of a run that did not load: :class:`DamagedFile` for damage, else
    (memory, a device, a file that cannot be read) a line that neither calls the file damaged nor
    suggests deleting it.

    :param path: the file
    :param e: what loading it raised
    """
    what = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:160]}"
    if isinstance(e, _DAMAGE) or (isinstance(e, RuntimeError) and any(m in str(e) for m in _TORCH_DAMAGE)):
        kind = "model" if path.suffix == ".zip" else "file"
        return DamagedFile(
            f"{path}: not a complete {kind} ({what}); the file is damaged or config.yaml was changed "
            "since it was written: restore it, or train the run again"
        )
    if isinstance(e, MemoryError):
        return ConfigError(f"{path}: out of memory while loading it ({what}); free memory and run the command again")
    if isinstance(e, OSError):
        return ConfigError(
            f"{path}: cannot be read ({e.strerror or what}); make it a readable file (check its permissions "
            "and the disk), then run the command again"
        )
    return ConfigError(f"{path}: could not be loaded ({what}); fix the cause and run the command again")


def load_model(config: RunConfig, path: Path, env: VecEnv | None = None, device: str | None = None) -> BaseAlgorithm:
    """The model saved in ``path`` (a run's ``model.zip`` or a checkpoint), as ``config``'s algorithm.

    :param config: the run's config (its ``agent.algo``, and ``train.device`` unless ``device``)
    :param path: the zip file
    :param env: the env to attach (its spaces must be the model's)
    :param device: where to load it
    :raises SpacesMismatch: ``config``'s env is not the one the model was trained on
    :raises ConfigError: one line naming the file (:func:`load_error`)
    """
    source = path.parent.parent / "config.yaml" if path.parent.name == "checkpoints" else path.parent / "config.yaml"
    try:
        return ALGORITHMS[config.agent.algo].algo_class().load(path, env=env, device=device or config.train.device)
    except ValueError as e:
        if "spaces do not match" in str(e):
            raise SpacesMismatch(
                f"{source}: env.id: {config.env.id}'s spaces are not those {path} was trained on "
                f"({str(e).splitlines()[0]}); restore the config the run was trained with"
            ) from None
        raise load_error(path, e) from None
    except Exception as e:
        raise load_error(path, e) from None


def _load_one(config: RunConfig, ckpt: Path, env: VecEnv) -> BaseAlgorithm:
    stem = str(ckpt)[: -len(".zip")]
    if Path(f"{stem}_vecnorm.pkl").exists():
        try:
            env = VecNormalize.load(f"{stem}_vecnorm.pkl", env)
        except Exception as e:
            raise load_error(Path(f"{stem}_vecnorm.pkl"), e) from None
    model = load_model(config, ckpt, env)
    if isinstance(model, OffPolicyAlgorithm) and Path(f"{stem}_replay.pkl").exists():
        try:
            model.load_replay_buffer(f"{stem}_replay.pkl")
        except Exception as e:
            raise load_error(Path(f"{stem}_replay.pkl"), e) from None
    return model


def load_checkpoint(config: RunConfig, run_dir: Path, env: VecEnv) -> tuple[BaseAlgorithm, int]:
    """The model of the newest complete checkpoint of ``run_dir`` that loads, on ``env`` (with its
    replay buffer and VecNormalize statistics), and its step. A damaged checkpoint
    (:class:`DamagedFile`) is passed over for the one before it, with a warning line; any other
    failure (memory, a file that cannot be read, the config's env) ends the resume, as an older
    checkpoint would fail alike.

    :raises ConfigError: when there is no checkpoint, none that loads (naming the newest), or one
        that cannot be loaded for a reason other than damage
    """
    found = list_checkpoints(run_dir / "checkpoints")
    if not found:
        raise ConfigError(
            f"{run_dir}: no complete checkpoint in {run_dir / 'checkpoints'}; `wnrl train --resume {run_dir}` "
            "trains it again from step 0"
        )
    first: DamagedFile | None = None
    for step, ckpt in reversed(found):
        try:
            model = _load_one(config, ckpt, env)
        except DamagedFile as e:
            first = first or e
            continue
        if first is not None:
            print(f"wnrl: warning: {first}; continuing from the checkpoint at step {step} instead", file=sys.stderr)
        return model, step
    assert first is not None
    raise ConfigError(
        f"{first}; no earlier complete checkpoint: delete it and `wnrl train --resume {run_dir}` trains "
        "the run again from step 0"
    )

"""What a run directory records about its run: ``system.json`` (versions, device, host, command,
one entry per part), the final files (``model.zip``, ``vecnormalize.pkl``, ``result.json``),
written so that a failing disk never leaves a half-written one.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from wnrl.config import RunConfig, dump_config
from wnrl.train.callbacks import EvalCurveCallback
from wnrl.train.record import Curve, Evaluation, RunFields, RunRecord, write_record
from wnrl.train.resume import total_of_parts
from wnrl.train.revision import SOURCE_REVISION
from wnrl.train.rundir import RunDirClaim, atomic_write_text, save_atomically, unwritable

__all__ = ["finish_run", "now", "restart_note", "system_info", "write_start", "write_system"]


def system_info(model: BaseAlgorithm) -> dict[str, Any]:
    """What ``system.json`` records of the machine and software a part of ``model``'s run ran on.

    :param model: the model (its device and optimizer)
    """
    import gymnasium
    import stable_baselines3

    import wnrl

    return {
        "wnrl": wnrl.__version__,
        "wnrl_revision": SOURCE_REVISION,  # the git commit of the code that ran (None: not a checkout)
        "python": platform.python_version(),
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
        "device": str(model.device),
        "optimizer": getattr(model.policy, "optimizer_impl", None),  # fused / foreach / default
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "command": " ".join(sys.argv),
        "torch_threads": torch.get_num_threads(),
        "started": now(),
    }


def now() -> str:
    """Local time, ISO 8601 to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def restart_note(config: RunConfig, run_dir: Path, earlier: dict[str, Any]) -> None:
    """Say (one stderr line) that a resumed run without a checkpoint trains again from step 0.

    :param config: the run's config
    :param run_dir: the run directory
    :param earlier: its ``system.json`` (the step where it stopped)
    """
    parts = earlier.get("parts") or [{}]
    stopped = parts[-1].get("to_step")
    freq = config.train.checkpoint_steps()
    when = f"it stopped at step {stopped}" if stopped is not None else "it stopped"
    why = f"before its first checkpoint (every {freq} steps)" if freq else "train.checkpoint_freq is 0"
    print(f"wnrl: {run_dir}: no checkpoint yet ({when}, {why}); training it again from step 0", file=sys.stderr)


def write_start(config: RunConfig, claim: RunDirClaim, info: dict[str, Any], fresh: bool) -> None:
    """Write ``config.yaml`` (a new run) and ``system.json`` (status ``running``) into the claimed
    run directory; a new run that cannot write them leaves nothing of itself behind (the lock file stays).

    :param config: the run's config
    :param claim: the claimed run directory
    :param info: the content of ``system.json``
    :param fresh: a new run (else a resumed one: its ``config.yaml`` is kept)
    :raises ConfigError: when the directory cannot be written
    """
    run_dir = claim.run_dir
    try:
        if fresh:
            atomic_write_text(run_dir / "config.yaml", dump_config(config))
        atomic_write_text(run_dir / "system.json", json.dumps({**info, "status": "running"}, indent=2))
    except OSError as e:
        if fresh:
            for name in ("config.yaml", "system.json"):
                (run_dir / name).unlink(missing_ok=True)
            claim.abandon()
        raise unwritable(run_dir, e, resume=not fresh) from None


def write_system(run_dir: Path, system: dict[str, Any], must: bool) -> None:
    """Write ``system.json``; unless ``must`` (an exception is on its way), a failing disk is left
    to that exception's handler rather than chained onto it."""
    try:
        atomic_write_text(run_dir / "system.json", json.dumps(system, indent=2))
    except OSError:
        if must:
            raise


def finish_run(
    config: RunConfig,
    model: BaseAlgorithm,
    run_dir: Path,
    curve_cb: EvalCurveCallback,
    info: dict[str, Any],
    env: VecEnv,
    eval_env: VecEnv,
    fields: RunFields | None = None,
) -> RunRecord:
    final = curve_cb.final_point()  # the curve's last point: one evaluation per step
    curve = Curve.model_validate(curve_cb.curve)
    auc = curve.auc()
    model.logger.record("eval/final_return", final["mean"])
    model.logger.record("eval/auc_return", auc)
    model.logger.dump(model.num_timesteps)
    save_atomically(model.save, run_dir / "model.zip")
    venv = model.get_vec_normalize_env()
    if isinstance(venv, VecNormalize):
        save_atomically(lambda tmp: venv.save(str(tmp)), run_dir / "vecnormalize.pkl")
    record = RunRecord(
        status="finished",
        env_id=config.env.id,
        algo=config.agent.algo,
        norm=config.agent.norm,
        seed=config.train.seed,
        id=run_dir.name,
        final=Evaluation(**final),
        auc=auc,
        curve=curve,
        steps=model.num_timesteps,
        seconds=total_of_parts(info["parts"], "seconds"),
        wall_seconds=total_of_parts(info["parts"], "wall_seconds"),
        cpu_seconds=total_of_parts(info["parts"], "cpu_seconds"),
        warnings=info["warnings"],
        diagnostics=info.pop("diagnostics"),
        eval_noise=config.env.noise.active() if config.train.eval_noise else {},
        host=socket.gethostname(),
        ended=now(),
    )
    if fields is not None:  # a sweep's run: its sweep fields are part of the one write
        record = fields.finish(record)
    write_record(run_dir, record)
    atomic_write_text(
        run_dir / "system.json",
        json.dumps({**info, "status": "finished", "finished": record.ended, "train_seconds": record.seconds}, indent=2),
    )
    model.logger.close()
    env.close()
    eval_env.close()
    return record

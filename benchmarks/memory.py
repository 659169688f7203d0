"""Peak memory (RSS) of one training worker: CartPole PPO / DQN and MinAtar DQN with its 100k
replay buffer, each case in a fresh ``spawn``-ed process (as a sweep worker starts).

Each case builds the shipped config's env and model as ``wnrl train`` does, learns a short budget
(past DQN's ``learning_starts``, so updates run), then writes every page of the replay buffer (so
the peak is that of a *full* buffer: NumPy's zero-filled buffers are only resident once written)
and reports the process's peak RSS (``VmHWM``) and the buffer's size.

MinAtar variants: as shipped (wnrl's env factory turns MinAtar's bool grids into float32),
``bool`` observations (the factory's wrapper patched in the child to keep MinAtar's 0/1 values as
``bool``: the networks see the same float values after SB3's ``obs.float()``), and ``bool`` with
SB3's ``optimize_memory_usage`` (one observation array instead of two).

    python benchmarks/memory.py             # all cases (≈2 min)
    python benchmarks/memory.py --check     # also: bool and float32 observations train identically
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASES: dict[str, dict[str, Any]] = {
    "CartPole PPO": dict(config="cartpole_ppo.yaml", steps=4096),
    "CartPole DQN": dict(config="cartpole_dqn.yaml", steps=2000),
    "MinAtar Breakout DQN, float32 obs (as shipped)": dict(config="minatar_breakout_dqn.yaml", steps=5200),
    "MinAtar Breakout DQN, bool obs": dict(config="minatar_breakout_dqn.yaml", steps=5200, obs="bool"),
    "MinAtar Breakout DQN, bool obs + optimize_memory_usage": dict(
        config="minatar_breakout_dqn.yaml",
        steps=5200,
        obs="bool",
        hp=dict(optimize_memory_usage=True, replay_buffer_kwargs=dict(handle_timeout_termination=False)),
    ),
}
GIB = 1024**3


def _bool_minatar_obs() -> None:
    """Patch wnrl's MinAtar wrapper (in this process only) to emit channel-first ``bool`` grids."""
    import numpy as np
    from gymnasium import spaces

    from wnrl.envs import make as env_make

    def init(self: Any, env: Any) -> None:
        super(env_make.MinAtarObservation, self).__init__(env)
        h, w, c = env.observation_space.shape
        self.observation_space = spaces.Box(0, 1, shape=(c, h, w), dtype=np.bool_)

    def observation(self: Any, observation: Any) -> Any:
        return np.ascontiguousarray(np.transpose(observation, (2, 0, 1)), dtype=np.bool_)

    env_make.MinAtarObservation.__init__ = init  # type: ignore[method-assign]
    env_make.MinAtarObservation.observation = observation  # type: ignore[method-assign]


def _peak_rss() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _build(case: dict[str, Any]) -> Any:
    import torch

    torch.set_num_threads(1)
    if case.get("obs") == "bool":
        _bool_minatar_obs()
    from wnrl.config import load_config
    from wnrl.train.run import _make_model, build_env

    config = load_config(ROOT / "configs" / case["config"])
    if case.get("hp"):
        config.agent.hyperparams.update(case["hp"])
    return _make_model(config, build_env(config), case["config"])


def _child(case: dict[str, Any], queue: Any) -> None:
    from wnrl.policies import DataInitCallback

    before = _peak_rss()
    model = _build(case)
    model.learn(case["steps"], callback=DataInitCallback())
    buf = getattr(model, "replay_buffer", None)
    arrays = [] if buf is None else [v for v in vars(buf).values() if hasattr(v, "nbytes") and hasattr(v, "fill")]
    for a in arrays:  # every page resident: the footprint of a full buffer
        a.fill(0)
    queue.put(
        dict(
            start=before,
            peak=_peak_rss(),
            buffer=sum(a.nbytes for a in arrays),
            obs_dtype=str(model.observation_space.dtype),
        )
    )


def _run(case: dict[str, Any]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(case, queue))
    proc.start()
    try:
        out = queue.get(timeout=1800)
    finally:
        proc.join(timeout=60)
    return out


def _check_same_training(steps: int = 5600) -> bool:
    """bool and float32 MinAtar observations give the same parameters after ``steps`` steps."""
    import numpy as np

    params = []
    for obs in ("float32", "bool"):
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_params_child, args=(dict(config="minatar_breakout_dqn.yaml", obs=obs), steps, queue))
        proc.start()
        params.append(queue.get())
        proc.join()
    return all(np.array_equal(a, b) for a, b in zip(*params))


def _params_child(case: dict[str, Any], steps: int, queue: Any) -> None:
    from wnrl.policies import DataInitCallback

    model = _build(case)
    model.learn(steps, callback=DataInitCallback())
    queue.put([p.detach().numpy().copy() for p in model.policy.parameters()])  # not tensors: no shared memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check that bool and float32 obs train identically")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args()
    lines = [
        "| case | obs dtype | replay buffer (full) | peak RSS | target |",
        "|---|---|---:|---:|---|",
    ]
    for name, case in CASES.items():
        r = _run(case)
        target = "≤ 1.5 GiB: " + ("met" if r["peak"] <= 1.5 * GIB else "missed") if "MinAtar" in name else ""
        lines.append(
            f"| {name} | {r['obs_dtype']} | {r['buffer'] / 2**20:,.0f} MiB | {r['peak'] / 2**20:,.0f} MiB | {target} |"
        )
        print(lines[-1], flush=True)
    lines.append(
        f"\n(peak RSS includes the interpreter, torch and SB3, ≈350 MiB; load average {os.getloadavg()[0]:.2f})"
    )
    if args.check:
        lines.append(f"\nbool and float32 MinAtar observations train identically: {_check_same_training()}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Training throughput (env steps/s) of PPO and DQN on CartPole-v1 and of SAC and CrossQ on
Pendulum-v1: every wnrl norm against the stock ``MlpPolicy`` (SB3's; sb3-contrib's for CrossQ,
whose own network is batch renorm) with identical hyperparameters, side by side in one run, medians
over repeats.

Two settings per algorithm:

* ``sb3``: SB3's default hyperparameters (DQN: one gradient step of batch 32 per 4 env steps;
  PPO: 8 envs, 128 steps per env and rollout, 4 epochs, batch 64; SAC and CrossQ: one gradient
  step of batch 256 per env step), SB3's default ``[64, 64]`` (``[256, 256]`` for SAC; CrossQ's
  critic ``[256, 256]`` too, not sb3-contrib's ``[1024, 1024]``, which runs under 10 steps/s on a CPU);
* ``zoo``: rl-baselines3-zoo's update-heavy CartPole settings (PPO 20 epochs per 256-step
  rollout; DQN 128 gradient steps per 256 env steps, ``[256, 256]``); for SAC and CrossQ the
  zoo's Pendulum SAC learning rate (1e-3) and CrossQ's policy delay 3, study 3's settings
  (docs/results.md).

Also measured: stock SB3 with torch's own ``parametrizations.weight_norm`` on every ``Linear``
(``torch_wn``), and the physical limits: raw CartPole steps/s without a policy (a constant action,
one ``gymnasium`` env, and SB3's ``DummyVecEnv`` of 8) and SB3 stepping with random actions.
Variants are interleaved within each repeat so machine drift affects them alike. One torch
thread. wnrl's policies use their default optimizer (fused Adam); stock and ``torch_wn`` SB3's
(torch's default Adam).

    python benchmarks/train_fps.py                          # everything, 3 repeats
    python benchmarks/train_fps.py --settings sb3 --variants stock,none,weight
    python benchmarks/train_fps.py --algos sac,crossq --settings zoo   # the off-policy pair
    python benchmarks/train_fps.py --quick                  # smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import CrossQ
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.env_util import make_vec_env
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from wnrl.config import load_config
from wnrl.policies import (
    NORMS,
    DataInitCallback,
    NormActorCriticPolicy,
    NormCrossQPolicy,
    NormDQNPolicy,
    NormSACPolicy,
)

ZOO_DQN = load_config(Path(__file__).resolve().parents[1] / "configs" / "cartpole_dqn.yaml").agent.hyperparams
CROSSQ_ARCH = dict(pi=[256, 256], qf=[256, 256])
SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "sb3": {
        "ppo": dict(hp=dict(n_steps=128, n_epochs=4), n_envs=8, arch=[64, 64]),
        "dqn": dict(hp={}, n_envs=1, arch=[64, 64]),
        "sac": dict(hp={}, n_envs=1, arch=[256, 256]),
        "crossq": dict(hp={}, n_envs=1, arch=CROSSQ_ARCH),
    },
    "zoo": {
        "ppo": dict(
            hp=dict(
                n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate=1e-3
            ),
            n_envs=8,
            arch=[64, 64],
        ),
        "dqn": dict(hp=ZOO_DQN, n_envs=1, arch=[256, 256]),
        "sac": dict(hp=dict(learning_rate=1e-3), n_envs=1, arch=[256, 256]),
        "crossq": dict(hp=dict(learning_rate=1e-3, policy_delay=3), n_envs=1, arch=CROSSQ_ARCH),
    },
}
#: algo → (SB3 class, wnrl policy, environment, env steps before timing: past learning_starts and
#: the data-dependent init)
ALGOS: dict[str, tuple[Any, Any, str, int]] = {
    "ppo": (PPO, NormActorCriticPolicy, "CartPole-v1", 2048),
    "dqn": (DQN, NormDQNPolicy, "CartPole-v1", 1500),
    "sac": (SAC, NormSACPolicy, "Pendulum-v1", 300),
    "crossq": (CrossQ, NormCrossQPolicy, "Pendulum-v1", 300),
}
#: ``torch_wn`` patches an SB3 model with one optimizer (PPO's policy, DQN's Q-network)
TORCH_WN_ALGOS = ("ppo", "dqn")


def _torch_weight_norm(model: Any) -> None:
    """Stock SB3 model with torch's parametrized weight norm on every Linear (optimizer rebuilt)."""
    policy = model.policy
    for module in list(policy.modules()):
        for name, child in module.named_children():
            if type(child) is nn.Linear:
                setattr(module, name, weight_norm(child))
    if isinstance(model, DQN):
        policy.q_net_target.load_state_dict(policy.q_net.state_dict())
        model._create_aliases()
        params = policy.q_net.parameters()
    else:
        params = policy.parameters()
    policy.optimizer = policy.optimizer_class(
        params, lr=policy.optimizer.param_groups[0]["lr"], **policy.optimizer_kwargs
    )


def build(setting: str, algo: str, variant: str, seed: int, device: str = "cpu") -> Any:
    cfg = SETTINGS[setting][algo]
    cls, policy, env_id, _ = ALGOS[algo]
    env = make_vec_env(env_id, n_envs=cfg["n_envs"], seed=seed)
    kw = dict(seed=seed, device=device, **cfg["hp"])
    if variant in ("stock", "torch_wn"):
        model = cls("MlpPolicy", env, policy_kwargs=dict(net_arch=cfg["arch"]), **kw)
        if variant == "torch_wn":
            _torch_weight_norm(model)
        return model
    return cls(policy, env, policy_kwargs=dict(net_arch=cfg["arch"], norm=variant), **kw)


def measure(setting: str, algo: str, variant: str, steps: int, seed: int, device: str = "cpu") -> float:
    model = build(setting, algo, variant, seed, device)
    model.learn(ALGOS[algo][3], callback=DataInitCallback())
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def raw_env_fps(n: int = 100_000) -> dict[str, float]:
    """Steps/s of CartPole alone: one gymnasium env, constant action; SB3's vectorized env of 8
    (per env step, random actions as the PPO rollout's policy would send)."""
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(n):
        _, _, term, trunc, _ = env.step(0)
        if term or trunc:
            env.reset()
    single = n / (time.perf_counter() - start)
    venv = make_vec_env("CartPole-v1", n_envs=8, seed=0)
    venv.reset()
    actions = np.random.default_rng(0).integers(0, 2, size=(n // 8, 8))
    start = time.perf_counter()
    for a in actions:
        venv.step(a)
    return {
        "gymnasium env, constant action": single,
        "SB3 DummyVecEnv x8, random actions": n / (time.perf_counter() - start),
    }


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> list[str]:
    repeats = 1 if args.quick else args.repeats
    variants = args.variants.split(",") if args.variants else ["stock", "torch_wn", *NORMS]
    rows = []
    for setting in args.settings.split(","):
        for algo in args.algos.split(","):
            steps = args.steps[algo]
            here = [v for v in variants if v != "torch_wn" or algo in TORCH_WN_ALGOS]
            fps: dict[str, list[float]] = {v: [] for v in here}
            for rep in range(repeats):
                order = here[rep % len(here) :] + here[: rep % len(here)]
                for v in order:
                    fps[v].append(measure(setting, algo, v, steps, seed=rep, device=args.device))
            load = _load()
            paired = {v: [a / b for a, b in zip(fps[v], fps["stock"])] for v in here} if "stock" in fps else {}
            for v in here:
                med = statistics.median(fps[v])
                ratio = f"{statistics.median(paired[v]):.2f}×" if paired else "—"
                rows.append(f"| {setting} | {algo.upper()} | {v} | {med:,.0f} | {ratio} | {load} |")
            print(rows[-len(here) :], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settings", default="sb3,zoo", help="comma-separated: sb3, zoo")
    parser.add_argument("--algos", default="ppo,dqn", help="comma-separated: ppo, dqn, sac, crossq")
    parser.add_argument("--variants", default="", help="comma-separated (default: stock, torch_wn and every norm)")
    parser.add_argument("--ppo-steps", type=int, default=30_000)
    parser.add_argument("--dqn-steps", type=int, default=12_000)
    parser.add_argument("--offpolicy-steps", type=int, default=1_500, help="SAC and CrossQ steps per measurement")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw env measurement")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    parser.add_argument("--device", default="cpu", help="torch device of the models (cpu, cuda)")
    args = parser.parse_args()
    if args.quick:
        args.steps = {"ppo": 4096, "dqn": 2048, "sac": 200, "crossq": 200}
    else:
        args.steps = {"ppo": args.ppo_steps, "dqn": args.dqn_steps, "sac": args.offpolicy_steps}
        args.steps["crossq"] = args.offpolicy_steps
    torch.set_num_threads(1)
    lines = []
    if not args.no_raw:
        raw = raw_env_fps(20_000 if args.quick else 100_000)
        lines += ["| physical limit | steps/s |", "|---|---:|"]
        lines += [f"| {k} | {v:,.0f} |" for k, v in raw.items()]
        lines += [f"\n(load average {_load()})\n"]
    rows = run(args)
    repeats = 1 if args.quick else args.repeats
    algos = args.algos.split(",")
    timed = ", ".join(f"{algo.upper()} {args.steps[algo]} on {ALGOS[algo][2]}" for algo in algos)
    lines += [
        f"Device {args.device}, 1 torch thread, median of {repeats} repeat(s) "
        f"(ratios: median of the paired per-repeat ratios), steps timed per measurement: {timed}; "
        "load average (1, 5, 15 min) after each block\n",
        "| setting | algo | policy | steps/s | vs stock | load |",
        "|---|---|---|---:|---:|---|",
        *rows,
    ]
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()

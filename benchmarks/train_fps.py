"""Training throughput (env steps/s) of PPO and DQN on CartPole-v1: every wnrl norm against SB3's
stock ``MlpPolicy`` with identical hyperparameters, side by side in one run, medians over repeats.

Also measured: stock SB3 with torch's own ``parametrizations.weight_norm`` on every ``Linear``
(the baseline wnrl must beat). Variants are interleaved within each repeat so machine drift
affects them alike. One torch thread.

    python benchmarks/train_fps.py            # full run (a few minutes)
    python benchmarks/train_fps.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_vec_env
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from wnrl.config import load_config
from wnrl.policies import NORMS, DataInitCallback, NormActorCriticPolicy, NormDQNPolicy

PPO_HP = dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate=1e-3)
DQN_HP = load_config(Path(__file__).resolve().parents[1] / "configs" / "cartpole_dqn.yaml").agent.hyperparams
ARCH = {"ppo": [64, 64], "dqn": [256, 256]}


def _torch_weight_norm(model) -> None:
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


def build(algo: str, variant: str, seed: int):
    cls, hp = (PPO, PPO_HP) if algo == "ppo" else (DQN, DQN_HP)
    env = make_vec_env("CartPole-v1", n_envs=8 if algo == "ppo" else 1, seed=seed)
    if variant in ("stock", "torch_wn"):
        model = cls("MlpPolicy", env, policy_kwargs=dict(net_arch=ARCH[algo]), seed=seed, device="cpu", **hp)
        if variant == "torch_wn":
            _torch_weight_norm(model)
        return model
    policy = NormActorCriticPolicy if algo == "ppo" else NormDQNPolicy
    return cls(policy, env, policy_kwargs=dict(net_arch=ARCH[algo], norm=variant), seed=seed, device="cpu", **hp)


def measure(algo: str, variant: str, steps: int, seed: int) -> float:
    model = build(algo, variant, seed)
    model.learn(2000 if algo == "ppo" else 1500, callback=DataInitCallback())  # warm-up + init
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats = 1 if args.quick else args.repeats
    steps = {"ppo": 4096 if args.quick else 30_000, "dqn": 2048 if args.quick else 12_000}
    variants = ["stock", "torch_wn", *NORMS]
    rows = []
    for algo in ("ppo", "dqn"):
        fps: dict[str, list[float]] = {v: [] for v in variants}
        for rep in range(repeats):
            for v in variants:
                fps[v].append(measure(algo, v, steps[algo], seed=rep))
        base = statistics.median(fps["stock"])
        for v in variants:
            med = statistics.median(fps[v])
            rows.append(f"| {algo.upper()} | {v} | {med:,.0f} | {med / base:.2f}× |")
    table = "\n".join(
        [
            f"CartPole-v1, 1 torch thread, median of {repeats} repeat(s), "
            f"{steps['ppo']} PPO / {steps['dqn']} DQN steps each\n",
            "| algo | policy | steps/s | vs stock |",
            "|---|---|---:|---:|",
            *rows,
        ]
    )
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()

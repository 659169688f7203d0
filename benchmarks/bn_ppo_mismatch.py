"""How far BatchNorm makes PPO off-policy: mean |log π_rollout(a|s) − log π_update(a|s)| at
identical parameters, on real rollout minibatches, for the default BN mode and for
``bn_running_stats_in_update=True``.

Rollouts run in eval mode (running statistics), the PPO loss in train mode (minibatch
statistics), so even before any gradient step the update's "current policy" is a different
function from the one that acted. Medians over minibatches and seeds.

    python benchmarks/bn_ppo_mismatch.py
"""

from __future__ import annotations

import argparse
import statistics

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from wnrl.policies import NormActorCriticPolicy


def mismatch(remedy: bool, seed: int, train_steps: int, batch: int) -> list[float]:
    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = PPO(
        NormActorCriticPolicy,
        env,
        n_steps=128,
        batch_size=batch,
        seed=seed,
        device="cpu",
        policy_kwargs=dict(norm="batch", bn_running_stats_in_update=remedy),
    )
    model.learn(train_steps)
    assert model.env is not None
    model.collect_rollouts(model.env, _NullCallback(), model.rollout_buffer, model.n_steps)
    policy, out = model.policy, []
    for data in model.rollout_buffer.get(batch):
        policy.set_training_mode(True)  # what PPO.train() does before evaluate_actions
        with torch.no_grad():
            _, logp, _ = policy.evaluate_actions(data.observations, data.actions.long().flatten())
        out.append(float((logp - data.old_log_prob).abs().mean()))
    return out


class _NullCallback(BaseCallback):
    def _on_step(self) -> bool:
        return True

    def on_rollout_start(self) -> None: ...
    def on_rollout_end(self) -> None: ...
    def update_locals(self, _locals) -> None: ...
    def on_step(self) -> bool:
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=10_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| BN mode in the PPO update | batch | median mean|Δ log π| |\n|---|---:|---:|")
    for batch in (64, 256):
        for remedy in (False, True):
            values = [v for s in range(args.seeds) for v in mismatch(remedy, s, args.train_steps, batch)]
            name = "running stats (bn_running_stats_in_update=True)" if remedy else "minibatch stats (default)"
            print(f"| {name} | {batch} | {statistics.median(values):.4f} |")


if __name__ == "__main__":
    main()

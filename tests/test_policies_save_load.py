"""Save → load in a fresh Python process gives identical deterministic actions, for every norm,
and the policy's constructor arguments (``norm`` and friends) survive SB3's save format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import DQN, PPO

from wnrl.policies import NORMS, DataInitCallback, NormActorCriticPolicy, NormDQNPolicy

LOADER = """
import json, sys
import numpy as np
from stable_baselines3 import DQN, PPO
obs = np.load(sys.argv[1])
out = {}
for path in sys.argv[2:]:
    algo = path.rsplit("/", 1)[-1].split("-")[0]
    model = {"dqn": DQN, "ppo": PPO}[algo].load(path, device="cpu")
    actions, _ = model.predict(obs, deterministic=True)
    p = model.policy
    out[path] = {"actions": actions.tolist(), "norm": p.norm, "norm_output": p.norm_output,
                 "init_scale": p.init_scale, "init_batch": p.init_batch,
                 "data_init_done": bool(p.data_init_done), "policy": type(p).__name__}
print(json.dumps(out))
"""


def test_save_load_in_fresh_process_gives_identical_actions(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    obs = rng.normal(0, 1, (64, 4)).astype(np.float32)
    np.save(tmp_path / "obs.npy", obs)
    expected = {}
    for norm in NORMS:
        kw = dict(norm=norm, net_arch=[32, 32], init_scale=0.7, init_batch=128, norm_output=True)
        models = {
            "dqn": DQN(
                NormDQNPolicy, "CartPole-v1", policy_kwargs=kw, learning_starts=150, train_freq=4, seed=0, device="cpu"
            ),
            "ppo": PPO(
                NormActorCriticPolicy,
                "CartPole-v1",
                policy_kwargs=kw,
                n_steps=128,
                batch_size=64,
                n_epochs=1,
                seed=0,
                device="cpu",
            ),
        }
        for algo, model in models.items():
            model.learn(300, callback=DataInitCallback())
            params = model.policy._get_constructor_parameters()
            for key in ("norm", "norm_output", "init_scale", "init_batch", "data_init"):
                assert key in params, f"{key} would be dropped by save/load"
            path = str(tmp_path / f"{algo}-{norm}.zip")
            model.save(path)
            expected[path] = (norm, type(model.policy).__name__, model.predict(obs, deterministic=True)[0])
    out = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path / "obs.npy"), *expected], capture_output=True, text=True, check=True
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    for path, (norm, policy, actions) in expected.items():
        got = loaded[path]
        assert got["actions"] == actions.tolist(), path
        assert got["norm"] == norm and got["norm_output"] is True
        assert got["init_scale"] == 0.7 and got["init_batch"] == 128
        assert got["data_init_done"] is True, "a loaded model must not be re-initialised"
        assert got["policy"] == policy


@pytest.mark.parametrize(
    "cls, options",
    [
        (
            NormActorCriticPolicy,
            dict(
                norm="weight_meanbn",
                norm_output=True,
                data_init=False,
                init_scale=0.7,
                init_batch=64,
                bn_running_stats_in_update=True,
                share_features_extractor=False,
            ),
        ),
        (NormDQNPolicy, dict(norm="layer", norm_output=True, data_init=True, init_scale=0.5, init_batch=32)),
    ],
    ids=["actor_critic", "dqn"],
)
def test_policy_save_load_keeps_every_option(tmp_path: Path, cls, options) -> None:
    policy = cls(spaces.Box(-1, 1, (4,)), spaces.Discrete(3), lambda _: 1e-3, net_arch=[16], **options)
    policy.save(tmp_path / "policy.pt")
    loaded = cls.load(tmp_path / "policy.pt", device="cpu")
    attribute = {"data_init": "data_init_enabled"}
    assert {k: getattr(loaded, attribute.get(k, k)) for k in options} == options
    assert loaded.net_arch == [16]
    state, loaded_state = policy.state_dict(), loaded.state_dict()
    assert list(loaded_state) == list(state)
    assert all(torch.equal(loaded_state[k], v) for k, v in state.items())

"""Env factories: registration, extras, seeding, noise placement, normalisation, image envs."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecNormalize,
    VecTransposeImage,
    unwrap_vec_normalize,
)

from wnrl.envs import (
    EnvError,
    MissingExtraError,
    UnknownEnvError,
    ensure_registered,
    env_family,
    make_eval_env,
    make_vec_env,
    sync_normalization,
)


def _run(venv, steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = [venv.reset()]
    for _ in range(steps):
        obs, rew, _, _ = venv.step(rng.integers(0, 2, size=venv.num_envs))
        out += [obs, rew[:, None]]
    venv.close()
    return np.concatenate([o.reshape(venv.num_envs, -1) for o in out], axis=1)


def test_cartpole_noise_monitor_logs_clean_returns():
    venv = make_vec_env("CartPole-v1", n_envs=2, seed=0, noise={"reward_flip": 1.0, "obs_std": 0.1})
    assert isinstance(venv, DummyVecEnv) and venv.num_envs == 2
    assert all(venv.env_is_wrapped(Monitor))
    venv.reset()
    rewards, episodes = [], []
    for _ in range(200):
        _, rew, _, infos = venv.step(np.array([0, 1]))
        rewards.append(rew)
        episodes += [info["episode"]["r"] for info in infos if "episode" in info]
    assert np.all(np.concatenate(rewards) == -1.0)  # the agent sees flipped rewards ...
    assert episodes and all(r > 0 for r in episodes)  # ... Monitor logs the true returns
    venv.close()


def test_seeding_reproducible_and_distinct_per_env():
    noise = {"obs_std": 0.05, "reward_std": 0.1}
    a = _run(make_vec_env("CartPole-v1", n_envs=2, seed=3, noise=noise), 40)
    b = _run(make_vec_env("CartPole-v1", n_envs=2, seed=3, noise=noise), 40)
    c = _run(make_vec_env("CartPole-v1", n_envs=2, seed=4, noise=noise), 40)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[0, :4], a[1, :4])  # sub-envs get different seeds (seed + i)
    # sub-env 1 of seed 3 starts like sub-env 0 of seed 4 (clean obs: no noise here)
    clean = make_vec_env("CartPole-v1", n_envs=2, seed=3).reset()
    np.testing.assert_array_equal(clean[1], make_vec_env("CartPole-v1", n_envs=1, seed=4).reset()[0])
    spaces_a = make_vec_env("CartPole-v1", n_envs=2, seed=3).envs
    spaces_b = make_vec_env("CartPole-v1", n_envs=2, seed=3).envs
    assert [e.action_space.sample() for e in spaces_a] == [e.action_space.sample() for e in spaces_b]


def test_subproc_two_envs_matches_dummy():
    sub = make_vec_env(
        "CartPole-v1",
        n_envs=2,
        seed=5,
        vec_env="subproc",
        noise={"obs_std": 0.1},
        vec_env_kwargs={"start_method": "fork"},
    )
    assert isinstance(sub, SubprocVecEnv)
    dummy = make_vec_env("CartPole-v1", n_envs=2, seed=5, noise={"obs_std": 0.1})
    np.testing.assert_array_equal(_run(sub, 10), _run(dummy, 10))


def test_vecnormalize_and_eval_env_sync():
    train = make_vec_env("CartPole-v1", n_envs=2, normalize_obs=True, normalize_reward=True, gamma=0.9)
    assert isinstance(train, VecNormalize) and train.norm_obs and train.norm_reward and train.gamma == 0.9
    _run_keep_open(train, 30)
    ev = make_eval_env("CartPole-v1", train_env=train)
    assert isinstance(ev, VecNormalize) and ev.num_envs == 1
    assert not ev.training and not ev.norm_reward and ev.norm_obs
    np.testing.assert_array_equal(ev.obs_rms.mean, train.obs_rms.mean)
    assert ev.obs_rms is not train.obs_rms
    _run_keep_open(train, 10)
    assert not np.array_equal(ev.obs_rms.mean, train.obs_rms.mean)
    sync_normalization(train, ev)
    np.testing.assert_array_equal(ev.obs_rms.mean, train.obs_rms.mean)
    plain = make_eval_env("CartPole-v1")
    assert unwrap_vec_normalize(plain) is None
    with pytest.raises(ValueError, match="VecNormalize"):
        sync_normalization(train, plain)
    for env in (train, ev, plain):
        env.close()


def _run_keep_open(venv, steps: int) -> None:
    venv.reset()
    for _ in range(steps):
        venv.step(np.zeros(venv.num_envs, dtype=np.int64))


def test_eval_env_is_clean_by_default():
    ev = make_eval_env("CartPole-v1", seed=1)
    assert isinstance(ev.envs[0], Monitor)  # nothing on top of Monitor: no noise
    noisy = make_eval_env("CartPole-v1", noise={"obs_std": 0.2})
    assert any(type(w).__name__ == "GaussianObservationNoise" for w in _chain(noisy.envs[0]))


def _chain(env):
    while hasattr(env, "env"):
        yield env
        env = env.env


def test_minatar_breakout_float_channel_first():
    pytest.importorskip("minatar")
    venv = make_vec_env("MinAtar/Breakout-v1", n_envs=1, noise={"obs_std": 0.0})
    assert venv.observation_space.shape == (4, 10, 10) and venv.observation_space.dtype == np.float32
    obs = venv.reset()
    assert obs.shape == (1, 4, 10, 10) and obs.dtype == np.float32
    obs, *_ = venv.step(np.array([0]))
    assert obs.dtype == np.float32 and set(np.unique(obs)) <= {0.0, 1.0}
    venv.close()


def test_ale_breakout_preprocessed_channel_first():
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    venv = make_vec_env("ALE/Breakout-v5", n_envs=1, seed=0)
    assert isinstance(venv, VecTransposeImage)
    obs = venv.reset()
    assert obs.shape == (1, 4, 84, 84) and obs.dtype == np.uint8
    for _ in range(2):
        obs, *_ = venv.step(np.array([1]))
    assert obs.shape == (1, 4, 84, 84)
    sub = venv.unwrapped.envs[0]
    assert sub.unwrapped._frameskip == 1  # AtariWrapper skips frames, not ALE
    assert sub.unwrapped.spec.kwargs["repeat_action_probability"] == 0.25
    venv.close()
    with pytest.raises(ValueError, match="repeat_action_probability"):
        make_vec_env("ALE/Breakout-v5", noise={"sticky": 0.25})


def test_unknown_id_suggests():
    with pytest.raises(UnknownEnvError, match="Did you mean 'CartPole-v1'") as info:
        make_vec_env("CartPol-v1")
    assert isinstance(info.value, EnvError) and isinstance(info.value, ValueError)
    with pytest.raises(UnknownEnvError, match="MinAtar/Breakout"):
        ensure_registered("MinAtar/breakout-v1")


@pytest.mark.parametrize(
    "env_id,module,extra",
    [
        ("ALE/Breakout-v5", "ale_py", "atari"),
        ("BreakoutNoFrameskip-v4", "ale_py", "atari"),
        ("MinAtar/Breakout-v1", "minatar", "minatar"),
        ("LunarLander-v3", "Box2D", "box2d"),
        ("HalfCheetah-v5", "mujoco", "mujoco"),
    ],
)
def test_missing_extra_names_extra(monkeypatch, env_id, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    if module == "minatar":
        monkeypatch.setitem(sys.modules, "minatar.gym", None)
    with pytest.raises(MissingExtraError) as info:
        make_vec_env(env_id)
    assert f'needs the {extra} extra: pip install "wnrl[{extra}]"' in str(info.value)
    assert repr(env_id) in str(info.value) and isinstance(info.value, EnvError)


def test_env_family_and_validation():
    assert env_family("ALE/Pong-v5") == "atari" and env_family("PongNoFrameskip-v4") == "atari"
    assert env_family("MinAtar/Asterix-v1") == "minatar" and env_family("BipedalWalker-v3") == "box2d"
    assert env_family("Hopper-v5") == "mujoco" and env_family("CartPole-v1") is None
    with pytest.raises(ValueError, match="vec_env"):
        make_vec_env("CartPole-v1", vec_env="threads")
    with pytest.raises(ValueError, match="n_envs"):
        make_vec_env("CartPole-v1", n_envs=0)
    with pytest.raises(ValueError, match="unknown noise parameter 'obs_sd'"):
        make_vec_env("CartPole-v1", noise={"obs_sd": 0.1})
    with pytest.raises(ValueError, match="reward_flip"):
        make_vec_env("CartPole-v1", noise={"reward_flip": 2.0})

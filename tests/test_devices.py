"""The device paths: every test here runs on CPU and, marked ``cuda``, on CUDA whenever a GPU is
present (skipped with the reason otherwise), so the CUDA checks of issue 12 are the same code that
is proven on CPU at every run of the suite.

* the weight-norm inference cache sees every write on the device: fused and foreach optimizer
  steps, SB3's ``polyak_update`` (writes through ``.data``), ``load_state_dict``;
* CNN policies (SB3's Nature CNN on 84×84 images, 36×36 on CPU; the MinAtar CNN) train and act on the device
  for every norm (a few norms on CPU, where ``test_policies_spaces.py`` covers them all);
* a model saved on the device loads on CPU with the same action probabilities;
* ``wnrl compare --runs-per-gpu K`` runs its runs on the GPU, K per GPU (CUDA only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.common.vec_env import DummyVecEnv, VecTransposeImage
from torch import nn

from wnrl.envs import make_vec_env
from wnrl.nn import WeightNormConv2d, WeightNormLinear
from wnrl.policies import DataInitCallback, NormActorCriticPolicy, NormDQNPolicy
from wnrl.registry import NORMS

NO_CUDA = "no CUDA device here (the CPU twin of this test ran)"
CUDA_MARKS = (pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA))
DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", marks=CUDA_MARKS, id="cuda")]
#: Norms of the CNN test on CPU (every norm there is test_policies_spaces.py's job).
CPU_NORMS = ("weight",)


def _assert_cache_fresh(layer: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        cached = layer(x)
        w = layer.weight.detach()  # computed afresh from v and g
        if isinstance(layer, WeightNormLinear):
            expected = nn.functional.linear(x, w, layer.bias)
        else:
            expected = nn.functional.conv2d(x, w, layer.bias, layer.stride, layer.padding)
    torch.testing.assert_close(cached, expected, rtol=0, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", ["fused", "foreach"])
@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_inference_cache_sees_every_write_on_the_device(device: str, impl: str, kind: str) -> None:
    torch.manual_seed(0)
    make = (lambda: WeightNormLinear(6, 4)) if kind == "linear" else (lambda: WeightNormConv2d(3, 4, 3))
    layer, other = make().to(device), make().to(device)
    x = torch.randn(5, 6, device=device) if kind == "linear" else torch.randn(2, 3, 8, 8, device=device)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1, **{impl: True})
    for _ in range(3):  # optimizer steps
        _assert_cache_fresh(layer, x)
        opt.zero_grad()
        layer(x).square().sum().backward()
        opt.step()
    _assert_cache_fresh(layer, x)
    polyak_update(other.parameters(), layer.parameters(), 0.5)  # SB3's target update, through .data
    _assert_cache_fresh(layer, x)
    layer.load_state_dict(other.state_dict())
    _assert_cache_fresh(layer, x)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), other(x), rtol=0, atol=0)


def _image_env(device: str) -> VecTransposeImage:
    """Atari-shaped uint8 images (84×84×1) on CUDA; on CPU the Nature CNN's smallest input, 36×36."""
    side = 84 if device == "cuda" else 36
    return VecTransposeImage(DummyVecEnv([lambda: FakeImageEnv(screen_height=side, screen_width=side, n_channels=1)]))


def _cnn_params() -> list[object]:
    """(device, algo, env, norm): every norm on CUDA, :data:`CPU_NORMS` on CPU."""
    out = []
    for device, marks in (("cpu", ()), ("cuda", CUDA_MARKS)):
        norms = NORMS if device == "cuda" else CPU_NORMS
        for algo in ("ppo", "dqn"):
            for env in ("image", "minatar"):
                out += [pytest.param(device, algo, env, n, marks=marks, id=f"{device}-{algo}-{env}-{n}") for n in norms]
    return out


@pytest.mark.parametrize(("device", "algo", "env", "norm"), _cnn_params())
def test_cnn_policies_train_and_act_on_the_device(device: str, algo: str, env: str, norm: str, tmp_path: Path) -> None:
    venv = _image_env(device) if env == "image" else make_vec_env("MinAtar/Breakout-v1", frame_stack=2)
    kwargs = dict(norm=norm, net_arch=[16])
    if algo == "ppo":
        model = PPO(NormActorCriticPolicy, venv, n_steps=32, batch_size=16, n_epochs=1, seed=0, device=device,
                    policy_kwargs={**kwargs, "init_batch": 16})  # fmt: skip
    else:
        model = DQN(NormDQNPolicy, venv, learning_starts=16, buffer_size=200, batch_size=8, train_freq=4, seed=0,
                    device=device, policy_kwargs={**kwargs, "init_batch": 16})  # fmt: skip
    model.learn(64, callback=DataInitCallback())
    assert all(p.device.type == device for p in model.policy.parameters())
    obs = venv.reset()
    a1, _ = model.predict(obs, deterministic=True)
    a2, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    model.save(tmp_path / "m.zip")
    loaded = type(model).load(tmp_path / "m.zip", device="cpu")
    assert all(p.device.type == "cpu" for p in loaded.policy.parameters())
    t_dev, _ = model.policy.obs_to_tensor(obs)
    t_cpu, _ = loaded.policy.obs_to_tensor(obs)
    with torch.no_grad():
        model.policy.set_training_mode(False)
        loaded.policy.set_training_mode(False)
        if algo == "ppo":
            got = loaded.policy.get_distribution(t_cpu).distribution.probs
            want = model.policy.get_distribution(t_dev).distribution.probs.cpu()
        else:
            got, want = loaded.policy.q_net(t_cpu), model.policy.q_net(t_dev).cpu()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)  # saved on the device, loaded on CPU


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_compare_runs_per_gpu_puts_the_runs_on_the_gpu(tmp_path: Path) -> None:
    import json

    from wnrl.harness.api import compare

    sweep = {
        "name": "gpu",
        "base": {
            "env": {"id": "CartPole-v1"},
            "agent": {"algo": "ppo", "hyperparams": {"n_steps": 64, "batch_size": 32, "n_epochs": 1}},
            "train": {"total_timesteps": 128, "eval_freq": 0, "eval_episodes": 1, "device": "cuda"},
        },
        "grid": {"agent.norm": ["none", "weight"]},
        "seeds": 2,
    }
    import yaml

    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(sweep))
    compare(path, tmp_path / "out", workers=4, runs_per_gpu=2, write_report=False, progress=False)
    systems = [json.loads(p.read_text()) for p in (tmp_path / "out" / "runs").glob("*/system.json")]
    assert len(systems) == 4 and all(s["device"].startswith("cuda") for s in systems)

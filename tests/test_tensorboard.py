"""The wnrl diagnostics and HParams reach TensorBoard: real SB3 training, real event files, and the
real ``tensorboard`` server's HTTP data API (loopback only)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import Logger, configure
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from wnrl.config.schema import RunConfig
from wnrl.nn import weight_norm_layers
from wnrl.policies import DataInitCallback, NormActorCriticPolicy, NormDQNPolicy
from wnrl.train.diagnostics_callback import DiagnosticsCallback
from wnrl.train.tb_hparams import hparams_callback, run_hparams, sanitize_hparams

PPO_STEPS, PPO_ROLLOUT = 1024, 128  # n_envs=2 × n_steps=64: 8 rollouts, one dump after each
PPO_LAYERS = ("policy_net_0", "policy_net_2", "value_net_0", "value_net_2")
DQN_BN_LAYERS = ("q_net_0_1", "q_net_0_4")  # Linear, BatchNorm1d, ReLU, Linear, BatchNorm1d, ReLU
EVAL_FREQ = 256
METRICS = {"eval/mean_return": 0.0, "eval/final_return": 0.0}
WN_STATS = ("v_norm", "g_mean", "g_min", "g_max", "eff_lr_factor", "v_grad_norm")


class EvalLogger(BaseCallback):
    """What the trainer's evaluation does: record ``eval/mean_return`` every ``EVAL_FREQ`` steps and
    dump (a cheap stand-in return: the mean of the recent training episodes)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []

    def _on_step(self) -> bool:
        if self.num_timesteps % EVAL_FREQ == 0:
            buf = [ep["r"] for ep in self.model.ep_info_buffer]
            self.logger.record("eval/mean_return", float(np.mean(buf)) if buf else 0.0)
            self.logger.dump(self.num_timesteps)
            self.steps.append(self.num_timesteps)
        return True


class WeightSnapshot(BaseCallback):
    """Independent record of the weight-norm layers: at training start (after data-dependent init)
    and at every rollout end (after the rollout's last step, before the update), per layer the mean
    ‖v_i‖ and the mean 1/‖v_i‖²."""

    def __init__(self) -> None:
        super().__init__()
        self.v_norm: dict[str, list[float]] = {}
        self.inv_sq: dict[str, list[float]] = {}

    def _take(self) -> None:
        for name, layer in weight_norm_layers(self.model.policy.mlp_extractor):
            norms = layer._v_norm().detach().double()
            key = name.replace(".", "_")
            self.v_norm.setdefault(key, []).append(float(norms.mean()))
            self.inv_sq.setdefault(key, []).append(float(norms.pow(-2).mean()))

    def _on_training_start(self) -> None:
        self._take()

    def _on_rollout_end(self) -> None:
        self._take()

    def _on_step(self) -> bool:
        return True


class BatchNormSnapshot(BaseCallback):
    """Mean |running mean| of the online Q-network's first BatchNorm, every ``freq`` steps."""

    def __init__(self, freq: int) -> None:
        super().__init__()
        self.freq, self.values = freq, []

    def _on_step(self) -> bool:
        if self.num_timesteps % self.freq == 0:
            bn = self.model.policy.q_net.q_net[0][1]
            assert isinstance(bn, torch.nn.BatchNorm1d)
            self.values.append(float(bn.running_mean.double().abs().mean()))
        return True


#: The mechanism diagnostics' tag endings (effective learning rate, norm growth, dormant units,
#: srank, Q-value bias), logged beside the weight-norm and BatchNorm statistics.
MECHANISM_STATS = {"eff_lr", "param_norm_growth", "srank", "dormant_frac", "q_bias", "q_bias_rel", "q_start"}
MECHANISM_STATS |= {"return_start"}


def _diagnostics_hooks(optimizer: object) -> list[object]:
    """The optimizer's step pre-hooks other than wnrl's one-time fused-kernel check."""
    hooks = optimizer._optimizer_step_pre_hooks.values()
    return [h for h in hooks if getattr(h, "__name__", "") != "_fused_fallback"]


def _finish(model: Any, final: float) -> None:
    model.logger.record("eval/final_return", final)
    model.logger.dump(model.num_timesteps)
    model.logger.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train a weight-norm PPO and a batch-norm DQN, each into its own TensorBoard run."""
    root = tmp_path_factory.mktemp("tb")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
        ppo = PPO(
            NormActorCriticPolicy,
            env,
            n_steps=64,
            batch_size=64,
            n_epochs=2,
            seed=0,
            max_grad_norm=0.5,
            policy_kwargs=dict(norm="weight", net_arch=[32, 32], init_batch=64),
        )
        ppo.set_logger(configure(str(root / "ppo_weight"), ["tensorboard"]))
        ppo_diag, ppo_eval, snap = DiagnosticsCallback(PPO_ROLLOUT), EvalLogger(), WeightSnapshot()
        ppo_hp = {
            "algo": "ppo",
            "env": "CartPole-v1",
            "norm": "weight",
            "learning_rate": 3e-4,
            "seed": 0,
            "net_arch": [32, 32],
            "noise": None,
        }
        ppo.learn(
            PPO_STEPS,
            callback=CallbackList([DataInitCallback(), snap, ppo_diag, ppo_eval, hparams_callback(ppo_hp, METRICS)]),
        )
        hook_left = ppo_diag._hook is not None
        _finish(ppo, float(np.mean([ep["r"] for ep in ppo.ep_info_buffer])))

        env = make_vec_env("CartPole-v1", n_envs=1, seed=1)
        dqn = DQN(
            NormDQNPolicy,
            env,
            learning_starts=200,
            train_freq=4,
            batch_size=32,
            seed=1,
            target_update_interval=200,
            policy_kwargs=dict(norm="batch", net_arch=[32, 32]),
        )
        dqn.set_logger(configure(str(root / "dqn_batch"), ["tensorboard"]))
        dqn_diag, bn_snap = DiagnosticsCallback(250), BatchNormSnapshot(250)
        dqn_hp = {
            "algo": "dqn",
            "env": "CartPole-v1",
            "norm": "batch",
            "learning_rate": 1e-4,
            "seed": 1,
            "net_arch": [32, 32],
            "noise": None,
        }
        dqn.learn(
            1000,
            log_interval=1,
            callback=CallbackList([dqn_diag, bn_snap, EvalLogger(), hparams_callback(dqn_hp, METRICS)]),
        )
        _finish(dqn, 0.0)
    finally:
        torch.set_num_threads(threads)
    return {
        "root": root,
        "ppo": ppo,
        "dqn": dqn,
        "snap": snap,
        "hook_left": hook_left,
        "eval_steps": ppo_eval.steps,
        "bn_snap": bn_snap.values,
    }


def _accumulator(run_dir: Path) -> EventAccumulator:
    ea = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return ea


def _series(ea: EventAccumulator, tag: str) -> tuple[list[int], list[float]]:
    events = ea.Scalars(tag)
    return [e.step for e in events], [e.value for e in events]


def _hparams_content(ea: EventAccumulator) -> tuple[dict[str, Any], list[str]]:
    """(session hparams, the hparams summaries written) of a run."""
    content = ea.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    values = {}
    for k, v in start.session_start_info.hparams.items():
        values[k] = (
            v.string_value
            if v.HasField("string_value")
            else v.bool_value
            if v.HasField("bool_value")
            else v.number_value
        )
    return values, sorted(content)


# -- event files -----------------------------------------------------------------------------
def test_ppo_weight_norm_diagnostics_in_event_files(logdir: dict[str, Any]) -> None:
    ea = _accumulator(logdir["root"] / "ppo_weight")
    tags = set(ea.Tags()["scalars"])
    expected = {f"wnrl/{layer}/{stat}" for layer in PPO_LAYERS for stat in WN_STATS}
    expected |= {"wnrl/grad_norm", "wnrl/grad_norm_mean", "eval/mean_return", "eval/final_return"}
    assert expected <= tags, sorted(expected - tags)
    assert not any("target" in t or "running" in t for t in tags if t.startswith("wnrl/"))

    rollout_ends = list(range(PPO_ROLLOUT, PPO_STEPS + 1, PPO_ROLLOUT))
    for layer in PPO_LAYERS:
        steps, v_norm = _series(ea, f"wnrl/{layer}/v_norm")
        assert steps == rollout_ends  # one snapshot per rollout, at the step it was measured at
        assert all(math.isfinite(x) and x > 0 for x in v_norm)
        # Each point is the network as it was at that rollout's end; the first (before any
        # update) is the network as data-dependent init left it.
        snap_v, snap_inv = logdir["snap"].v_norm[layer], logdir["snap"].inv_sq[layer]
        assert len(snap_v) == 1 + len(rollout_ends) and snap_v[1] == snap_v[0]
        assert v_norm == pytest.approx(snap_v[1:], rel=1e-5)
        assert v_norm[-1] != pytest.approx(v_norm[0], rel=1e-7)  # the updates changed v
        # eff_lr_factor = mean 1/‖v_i‖² relative to its value at training start.
        _, eff = _series(ea, f"wnrl/{layer}/eff_lr_factor")
        assert eff == pytest.approx([x / snap_inv[0] for x in snap_inv[1:]], rel=1e-5)
        assert eff[0] == pytest.approx(1.0, abs=1e-6) and eff[-1] != pytest.approx(1.0, abs=1e-6)
        _, g_min = _series(ea, f"wnrl/{layer}/g_min")
        _, g_mean = _series(ea, f"wnrl/{layer}/g_mean")
        _, g_max = _series(ea, f"wnrl/{layer}/g_max")
        assert all(0 < lo <= m <= hi for lo, m, hi in zip(g_min, g_mean, g_max))
        assert all(math.isfinite(x) for x in g_max)

    # Gradient norms exist from the second rollout on (no optimizer step before the first log),
    # and are the clipped gradients PPO applies (max_grad_norm=0.5).
    steps, grad = _series(ea, "wnrl/grad_norm")
    assert steps == rollout_ends[1:]
    assert all(0 < x <= 0.5 * (1 + 1e-4) for x in grad)
    _, grad_mean = _series(ea, "wnrl/grad_norm_mean")
    assert all(0 < x <= 0.5 * (1 + 1e-4) for x in grad_mean)
    assert not logdir["hook_left"]  # the optimizer hook is gone once training ended
    assert not _diagnostics_hooks(logdir["ppo"].policy.optimizer)

    steps, _ = _series(ea, "eval/mean_return")
    assert steps == logdir["eval_steps"] == list(range(EVAL_FREQ, PPO_STEPS + 1, EVAL_FREQ))
    assert _series(ea, "eval/final_return")[0] == [PPO_STEPS]


def test_dqn_batch_norm_diagnostics_in_event_files(logdir: dict[str, Any]) -> None:
    ea = _accumulator(logdir["root"] / "dqn_batch")
    tags = {t for t in ea.Tags()["scalars"] if t.startswith("wnrl/")}
    expected = {f"wnrl/{layer}/{stat}" for layer in DQN_BN_LAYERS for stat in ("running_mean", "running_var")}
    expected |= {"wnrl/grad_norm", "wnrl/grad_norm_mean"}
    mechanisms = {t for t in tags if t.rsplit("/", 1)[-1] in MECHANISM_STATS}  # docs/diagnostics.md
    assert tags - mechanisms == expected  # no weight-norm layers, nothing from the target network
    for tag in expected:  # snapshots at 250, 500, 750, 1000, each written by the next dump
        steps, values = _series(ea, tag)
        assert len(steps) == 4 and steps[-1] == 1000, (tag, steps)
        assert all(250 * (i + 1) <= s < 250 * (i + 2) for i, s in enumerate(steps)), (tag, steps)
        assert all(math.isfinite(x) for x in values), tag
    # Running statistics moved away from their init (mean 0, var 1) and are the online net's.
    _, var = _series(ea, "wnrl/q_net_0_1/running_var")
    _, mean = _series(ea, "wnrl/q_net_0_1/running_mean")
    assert all(x > 0 for x in var) and var[-1] != pytest.approx(1.0, abs=1e-3)
    assert mean == pytest.approx(logdir["bn_snap"], rel=1e-5)
    assert mean[-1] > 0
    assert _series(ea, "eval/final_return")[0] == [1000]


def test_hparams_in_event_files(logdir: dict[str, Any]) -> None:
    for run, algo, norm in (("ppo_weight", "ppo", "weight"), ("dqn_batch", "dqn", "batch")):
        values, summaries = _hparams_content(_accumulator(logdir["root"] / run))
        assert {"algo", "env", "norm", "learning_rate", "seed", "net_arch", "noise"} == set(values)
        # no per-run experiment summary: it would list this run's values alone (`differs: false`)
        assert summaries == ["_hparams_/session_end_info", "_hparams_/session_start_info"]
        assert values["algo"] == algo and values["norm"] == norm and values["env"] == "CartPole-v1"
        assert values["net_arch"] == "[32,32]" and values["noise"] == "None"


def test_diagnostics_off_and_validation(logdir: dict[str, Any]) -> None:
    ppo = logdir["ppo"]
    off = DiagnosticsCallback(0)
    off.init_callback(ppo)
    off.on_training_start({}, {})
    assert off._hook is None and not _diagnostics_hooks(ppo.policy.optimizer)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError):
            DiagnosticsCallback(bad)  # type: ignore[arg-type]
    # A snapshot outside learn() reports the current weights.
    diag = DiagnosticsCallback(10)
    diag.init_callback(ppo)
    snap = diag.snapshot()
    layer = ppo.policy.mlp_extractor.policy_net[0]
    assert snap["policy_net_0/v_norm"] == pytest.approx(float(layer._v_norm().detach().mean()), rel=1e-6)
    assert snap["policy_net_0/g_max"] == pytest.approx(float(layer.g.detach().max()), rel=1e-6)


def test_gradient_norms_come_from_the_optimizer_hook() -> None:
    model = PPO(
        NormActorCriticPolicy, "CartPole-v1", n_steps=64, seed=0, policy_kwargs=dict(norm="weight", net_arch=[8])
    )
    model.set_logger(Logger(folder=None, output_formats=[]))
    diag = DiagnosticsCallback(64)
    diag.init_callback(model)
    diag.on_training_start({}, {})
    optimizer, params = model.policy.optimizer, list(model.policy.parameters())
    n = sum(p.numel() for p in params)
    v = model.policy.mlp_extractor.policy_net[0].v

    def step(c: float) -> None:
        for p in params:
            p.grad = torch.full_like(p, c)
        optimizer.step()

    step(1.0), step(3.0)
    values = diag.record_now()
    assert values["grad_norm"] == pytest.approx(3.0 * math.sqrt(n), rel=1e-5)  # the last step's
    assert values["grad_norm_mean"] == pytest.approx(2.0 * math.sqrt(n), rel=1e-5)  # mean of both
    assert values["policy_net_0/v_grad_norm"] == pytest.approx(3.0 * math.sqrt(v.numel()), rel=1e-5)
    assert model.logger.name_to_value["wnrl/grad_norm"] == values["grad_norm"]
    assert model.logger.name_to_excluded["wnrl/grad_norm"] == ("stdout", "log")
    step(5.0)
    assert diag.record_now()["grad_norm_mean"] == pytest.approx(5.0 * math.sqrt(n), rel=1e-5)
    diag.on_training_end()
    step(7.0)  # no hook any more: nothing changes
    assert diag.record_now()["grad_norm"] == pytest.approx(5.0 * math.sqrt(n), rel=1e-5)


# -- hparams helpers ----------------------------------------------------------------------------
def test_sanitize_hparams() -> None:
    out = sanitize_hparams(
        {
            "a": None,
            "b": [64, 64],
            "c": np.float32(0.5),
            "d": np.int64(3),
            "e": True,
            "f": float("nan"),
            "g": {"pi": [8]},
            "h": "x",
            "i": 2,
        }
    )
    assert out == {
        "a": "None",
        "b": "[64,64]",
        "c": 0.5,
        "d": 3,
        "e": True,
        "f": "nan",
        "g": '{"pi":[8]}',
        "h": "x",
        "i": 2,
    }
    assert type(out["d"]) is int and type(out["c"]) is float
    with pytest.raises(TypeError):
        sanitize_hparams({1: 2})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        hparams_callback({"a": 1}, {})


def test_run_hparams_flattens_a_config() -> None:
    cfg = RunConfig.model_validate(
        {
            "name": "cp",
            "env": {"id": "CartPole-v1", "n_envs": 4, "noise": {"obs_std": 0.2, "sticky": 0.25}},
            "agent": {
                "algo": "ppo",
                "norm": "weight_proj",
                "net_arch": [64, 64],
                "hyperparams": {"learning_rate": "lin_1e-3", "n_steps": 128, "gamma": 0.98},
            },
            "train": {"total_timesteps": 5000, "seed": 7},
        }
    )
    hp = run_hparams(cfg)
    assert hp["algo"] == "ppo" and hp["env"] == "CartPole-v1" and hp["norm"] == "weight_proj"
    assert hp["noise"] == "obs_std=0.2,sticky=0.25"
    assert hp["noise_obs_std"] == 0.2 and hp["noise_sticky"] == 0.25 and hp["noise_reward_std"] == 0.0
    assert hp["learning_rate"] == 1e-3 and isinstance(hp["learning_rate"], float)
    assert hp["lr_schedule"] == "linear"
    assert hp["seed"] == 7 and hp["n_envs"] == 4 and hp["net_arch"] == "[64,64]"
    assert hp["n_steps"] == 128 and hp["gamma"] == 0.98 and hp["total_timesteps"] == 5000
    assert all(isinstance(v, (str, bool, int, float)) for v in hp.values())
    assert hp == sanitize_hparams(hp)

    clean = RunConfig.model_validate(
        {"env": {"id": "CartPole-v1"}, "agent": {"algo": "dqn"}, "train": {"total_timesteps": 100}}
    )
    hp = run_hparams(clean)
    assert hp["noise"] == "clean" and hp["net_arch"] == "default"
    assert hp["learning_rate"] == 1e-4  # SB3's DQN default
    assert hp["lr_schedule"] == "constant" and hp["data_init"] == "auto"


# -- the tensorboard server ---------------------------------------------------------------------
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy


def _get(port: int, path: str, body: dict[str, Any] | None = None) -> Any:
    url = f"http://127.0.0.1:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"} if body else {},
    )
    with _OPENER.open(req, timeout=10) as resp:
        return json.loads(resp.read().decode())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(what: str, fn: Any, proc: subprocess.Popen, deadline: float) -> Any:
    last: Any = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"tensorboard exited with {proc.returncode} while waiting for {what}")
        try:
            result = fn()
            if result:
                return result
            last = result
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as e:
            last = e
        time.sleep(0.25)
    raise AssertionError(f"tensorboard: no {what} within the time limit (last: {last!r})")


def test_tensorboard_server_serves_runs_scalars_and_hparams(logdir: dict[str, Any]) -> None:
    port = _free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(logdir["root"]),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast=false",
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        runs = _wait_for(
            "runs",
            lambda: (lambda r: r if {"ppo_weight", "dqn_batch"} <= set(r) else None)(_get(port, "/data/runs")),
            proc,
            deadline,
        )
        assert set(runs) == {"ppo_weight", "dqn_batch"}

        tags = _wait_for(
            "scalar tags",
            lambda: (
                lambda t: (
                    t
                    if "wnrl/grad_norm" in t.get("dqn_batch", {}) and "wnrl/grad_norm" in t.get("ppo_weight", {})
                    else None
                )
            )(_get(port, "/data/plugin/scalars/tags")),
            proc,
            deadline,
        )
        ppo_tags = set(tags["ppo_weight"])
        assert {f"wnrl/{layer}/{stat}" for layer in PPO_LAYERS for stat in WN_STATS} <= ppo_tags
        assert {"eval/mean_return", "eval/final_return", "train/loss"} <= ppo_tags
        assert {"wnrl/q_net_0_1/running_mean", "wnrl/q_net_0_1/running_var"} <= set(tags["dqn_batch"])

        query = urllib.parse.urlencode({"run": "ppo_weight", "tag": "wnrl/policy_net_0/v_norm"})
        points = _get(port, f"/data/plugin/scalars/scalars?{query}")
        assert [p[1] for p in points] == list(range(PPO_ROLLOUT, PPO_STEPS + 1, PPO_ROLLOUT))
        assert all(math.isfinite(p[2]) and p[2] > 0 for p in points)
        ea_values = _series(_accumulator(logdir["root"] / "ppo_weight"), "wnrl/policy_net_0/v_norm")[1]
        assert [p[2] for p in points] == pytest.approx(ea_values)

        experiment = _get(port, "/data/plugin/hparams/experiment", {"experimentName": ""})
        infos = {h["name"]: h for h in experiment.get("hparamInfos", [])}
        assert {"algo", "env", "norm", "learning_rate", "seed"} <= set(infos)
        # `differs` is true exactly where the two runs differ (TensorBoard computes it from both)
        differs = {name for name, h in infos.items() if h.get("differs")}
        assert differs == {"algo", "norm", "learning_rate", "seed"}, infos
        metric_tags = {m["name"]["tag"] for m in experiment.get("metricInfos", [])}
        assert set(METRICS) <= metric_tags

        groups = _get(
            port,
            "/data/plugin/hparams/session_groups",
            {
                "experimentName": "",
                "startIndex": 0,
                "sliceSize": 100,
                "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            },
        )
        sessions = {g["sessions"][0]["name"]: g for g in groups["sessionGroups"]}
        assert set(sessions) == {"ppo_weight", "dqn_batch"}
        assert sessions["ppo_weight"]["hparams"]["algo"] == "ppo"
        assert sessions["dqn_batch"]["hparams"]["norm"] == "batch"
        final = {m["name"]["tag"]: m["value"] for m in sessions["dqn_batch"]["metricValues"]}
        assert final["eval/final_return"] == 0.0 and "eval/mean_return" in final
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

r"""TensorBoard diagnostics of a wnrl run: weight-norm statistics, gradient norms, BatchNorm
running statistics and the mechanism metrics (the HParams summary is :mod:`wnrl.train.tb_hparams`).

:class:`DiagnosticsCallback` records, every ``log_freq`` environment steps, under ``wnrl/``:

=====================================  =================================================================
``wnrl/<layer>/v_norm``                mean over units of :math:`\lVert v_i\rVert` (weight-norm layers)
``wnrl/<layer>/g_mean|g_min|g_max``    statistics of the learned lengths :math:`g_i`
``wnrl/<layer>/eff_lr_factor``         :math:`\overline{1/\lVert v_i\rVert^2}` now, divided by its value
                                       when ``learn()`` started. The gradient of :math:`v` is orthogonal
                                       to :math:`v` and scaled by :math:`g/\lVert v\rVert`, so a step on
                                       :math:`v` changes the direction :math:`v/\lVert v\rVert` by a factor
                                       :math:`\propto 1/\lVert v\rVert^2`: as :math:`\lVert v\rVert` grows
                                       the effective learning rate of the direction decays (the paper's
                                       self-stabilisation). Stays at 1 with ``norm="weight_proj"``.
``wnrl/<layer>/v_grad_norm``           :math:`\lVert\nabla_v L\rVert` of the last optimizer step
``wnrl/grad_norm``                     global gradient norm of the last optimizer step
``wnrl/grad_norm_mean``                mean of that norm over the optimizer steps since the last log
``wnrl/<layer>/running_mean``          mean of :math:`|\text{running mean}|` (BatchNorm, mean-only BN)
``wnrl/<layer>/running_var``           mean of the running variance (BatchNorm only)
``wnrl/<layer>/eff_lr``                :math:`\lVert\Delta W\rVert/\lVert W\rVert` of the effective weight, one sampled
                                       update per interval (every algorithm, every norm)
``wnrl/<layer>/param_norm_growth``     :math:`\lVert\theta\rVert/\lVert\theta_0\rVert` of the raw weight (``v`` for WN)
``wnrl/<net>/dormant_frac``            τ-dormant fraction of the penultimate layer on a fixed probe batch
``wnrl/<net>/srank``                   :math:`\mathrm{srank}_{0.01}` of the penultimate features on the probe batch
``wnrl/q_bias``, ``q_bias_rel``        :math:`Q(s_0,\pi(s_0)) - G_0` at evaluation start states (with ``eval_env``)
=====================================  =================================================================

The last five are defined in :mod:`wnrl.train.mechanisms` and ``docs/diagnostics.md``;
:meth:`DiagnosticsCallback.summary` condenses them for the run's record.

Only the networks that are trained are inspected: the online Q-network for DQN (not its target),
the whole policy for actor-critic algorithms. Layer names are the module paths with dots replaced by
``_`` and the ``mlp_extractor.`` prefix dropped (``policy_net_0``, ``value_net_2``, ``q_net_0_0``).

Gradient norms are taken by an ``optimizer.register_step_pre_hook`` on ``model.policy.optimizer``
(SB3 clears the gradients before the next backward pass, so they are gone by logging time). The
hook sees the gradient the optimizer applies, i.e. *after* SB3's ``clip_grad_norm_``
(``max_grad_norm``): PPO's ``grad_norm`` never exceeds ``max_grad_norm``. The hook is removed when
training ends.

Writing: values go through ``self.logger.record`` (so into every output format of the run's SB3
logger except ``stdout`` and ``log``, whose tables they would flood) and the callback never calls
``logger.dump``. SB3 dumps at its own cadence (on-policy: after every ``log_interval`` rollouts;
off-policy: after every ``log_interval`` episodes; plus every dump by other callbacks such as the
evaluation curve's), and the values recorded since the previous dump are written then, at the
dump's step. Dumping here would print extra stdout tables and split SB3's own rows. Consequences:

* the series has one point per dump at most: a ``log_freq`` finer than the dump cadence keeps only
  the latest snapshot of each interval (for PPO/A2C the weights only change in ``train()``, once per
  rollout, so nothing is lost with the default ``log_interval=1``);
* a snapshot taken after the last dump of ``learn()`` is written by the next dump; the wnrl trainer
  dumps the final evaluation right after ``learn()``, which writes it.

With PPO/A2C (``log_interval=1``) and ``log_freq`` a multiple of ``n_steps · n_envs`` the points
land exactly at the steps they were measured at.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn

from wnrl.nn.batch_norm import BATCH_NORMS as _BATCH_NORMS
from wnrl.nn.weight_norm import WeightNormMixin
from wnrl.train.callbacks import EverySteps
from wnrl.train.mechanisms import MechanismProbe, q_value_bias, trained_modules

__all__ = [
    "DiagnosticsCallback",
    "PREFIX",
]

PREFIX = "wnrl/"


def _inv_sq_mean(layer: WeightNormMixin) -> float:
    return float(layer._v_norm().detach().double().pow(-2).mean())


class DiagnosticsCallback(BaseCallback):
    """Record weight-norm, gradient and BatchNorm diagnostics every ``log_freq`` env steps.

    See the module docstring for the tags and for when they are written.

    :param log_freq: environment steps between snapshots (counted with ``num_timesteps``, so
        independent of ``n_envs``); 0 turns the callback off (no hook, nothing recorded)
    :param exclude: logger output formats that do not receive the values
    :param verbose: SB3 verbosity
    :param mechanisms: also record the mechanism diagnostics (effective learning rate, parameter
        norm growth, dormant units, srank)
    :param probe_size: observations in the fixed probe batch of dormant units and srank
    :param dormant_tau: the τ of τ-dormant units
    :param eval_env: a raw one-env ``VecEnv`` for the Q-value bias (``None``: not measured)
    :param q_bias_episodes: evaluation episodes per Q-value-bias measurement
    """

    def __init__(
        self,
        log_freq: int,
        exclude: tuple[str, ...] = ("stdout", "log"),
        verbose: int = 0,
        *,
        mechanisms: bool = True,
        probe_size: int = 256,
        dormant_tau: float = 0.1,
        eval_env: Any = None,
        q_bias_episodes: int = 1,
    ) -> None:
        super().__init__(verbose)
        self.mechanisms, self.probe_size, self.dormant_tau = mechanisms, int(probe_size), float(dormant_tau)
        self.eval_env, self.q_bias_episodes = eval_env, int(q_bias_episodes)
        self._probe: MechanismProbe | None = None
        self.history: list[dict[str, float]] = []  # every snapshot's mechanism values
        if isinstance(log_freq, bool) or not isinstance(log_freq, (int, np.integer)) or log_freq < 0:
            raise ValueError(f"log_freq must be a non-negative integer, got {log_freq!r}")
        self.log_freq = int(log_freq)
        self.exclude = tuple(exclude)
        self.latest: dict[str, float] = {}  # the last snapshot, as recorded
        self._schedule = EverySteps(self.log_freq)
        self._reference: dict[str, float] = {}
        self._hook: Any = None
        self._hooked: torch.optim.Optimizer | None = None
        self._wn: list[tuple[str, WeightNormMixin]] = []
        self._bn: list[tuple[str, nn.Module]] = []
        self._grad: dict[str, torch.Tensor] = {}
        self._grad_sum: torch.Tensor | None = None
        self._grad_steps = 0
        self._collected = False

    # -- SB3 callback interface ---------------------------------------------------------------
    def _on_training_start(self) -> None:
        if not self.log_freq:
            return
        self._schedule.start(self.num_timesteps)
        self._collect_layers()
        # The reference of eff_lr_factor: this learn() call's start (a resumed run restarts at 1).
        self._reference = {name: _inv_sq_mean(layer) for name, layer in self._wn}
        self._install_hook()
        if self.mechanisms:
            self._probe = MechanismProbe(self.model, self.probe_size, self.dormant_tau)
            self._probe.start()

    def _on_step(self) -> bool:
        if self._schedule.due(self.num_timesteps):
            self.record_now()
        return True

    def _on_training_end(self) -> None:
        self.remove_hook()
        if self._probe is not None:
            self._probe.stop()

    # -- the diagnostics ----------------------------------------------------------------------
    def _collect_layers(self) -> None:
        modules = list(trained_modules(self.model.policy))
        self._wn = [(n, m) for n, m in modules if isinstance(m, WeightNormMixin)]
        self._bn = [
            (n, m) for n, m in modules if isinstance(m, _BATCH_NORMS) and getattr(m, "running_mean", None) is not None
        ]
        self._collected = True

    def _install_hook(self) -> None:
        optimizer = getattr(self.model.policy, "optimizer", None)
        if optimizer is self._hooked and self._hook is not None:
            return
        self.remove_hook()
        if isinstance(optimizer, torch.optim.Optimizer):
            self._hook = optimizer.register_step_pre_hook(self._grad_hook)
            self._hooked = optimizer

    def remove_hook(self) -> None:
        """Remove the optimizer hook (done automatically when training ends)."""
        if self._hook is not None:
            self._hook.remove()
        self._hook, self._hooked = None, None

    @torch.no_grad()
    def _grad_hook(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not grads:
            return
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        self._grad = {"grad_norm": total}
        for name, layer in self._wn:
            if layer.v.grad is not None:
                self._grad[f"{name}/v_grad_norm"] = torch.linalg.vector_norm(layer.v.grad).detach()
        self._grad_sum = total if self._grad_sum is None else self._grad_sum + total
        self._grad_steps += 1

    @torch.no_grad()
    def snapshot(self) -> dict[str, float]:
        """The current diagnostics as ``{tag without the wnrl/ prefix: value}`` (nothing recorded)."""
        if not self._collected:  # outside learn()
            self._collect_layers()
        out: dict[str, float] = {}
        for name, layer in self._wn:
            norms = layer._v_norm().detach().double()
            g = layer.g.detach().double()
            out[f"{name}/v_norm"] = float(norms.mean())
            out[f"{name}/g_mean"] = float(g.mean())
            out[f"{name}/g_min"] = float(g.min())
            out[f"{name}/g_max"] = float(g.max())
            ref = self._reference.get(name)
            if ref is not None and ref > 0 and math.isfinite(ref):
                out[f"{name}/eff_lr_factor"] = float(norms.pow(-2).mean()) / ref
        for name, bn in self._bn:
            mean = bn.running_mean
            assert isinstance(mean, torch.Tensor)  # _collect_layers keeps only those with one
            out[f"{name}/running_mean"] = float(mean.detach().double().abs().mean())
            var = getattr(bn, "running_var", None)
            if var is not None:
                out[f"{name}/running_var"] = float(var.detach().double().mean())
        for key, value in self._grad.items():
            out[key] = float(value)
        if self._grad_steps:
            out["grad_norm_mean"] = float(self._grad_sum) / self._grad_steps  # type: ignore[arg-type]
        return out

    def record_now(self) -> dict[str, float]:
        """Take a snapshot and record it in the SB3 logger (written at the logger's next dump)."""
        if self._hook is not None:
            self._install_hook()  # the optimizer may have been replaced
        values = self.snapshot()
        mechanisms = self.mechanism_snapshot()
        values.update(mechanisms)
        for key, value in values.items():
            self.logger.record(PREFIX + key, value, exclude=self.exclude)
        self._grad_sum, self._grad_steps = None, 0
        self.latest = values
        return values

    def mechanism_snapshot(self) -> dict[str, float]:
        """The mechanism diagnostics now (kept in :attr:`history`; nothing recorded)."""
        out: dict[str, float] = self._probe.snapshot() if self._probe is not None else {}
        model = self.model
        if self.mechanisms and self.eval_env is not None and hasattr(model, "gamma"):
            policy = model.policy
            if hasattr(policy, "q_net") or hasattr(policy, "critic"):
                was = policy.training
                try:
                    out.update(q_value_bias(model, self.eval_env, self.q_bias_episodes))
                finally:
                    policy.set_training_mode(was)
        if out:
            self.history.append(out)
        return out

    def summary(self) -> dict[str, float]:
        """The run's mechanism diagnostics for its record: per key the last value, and
        ``<key>:mean`` the mean over the snapshots (empty if none was taken)."""
        if not self.history:
            return {}
        out = dict(self.history[-1])
        keys = {k for snap in self.history for k in snap}
        for key in sorted(keys):
            vals = [snap[key] for snap in self.history if key in snap and math.isfinite(snap[key])]
            if vals:
                out[f"{key}:mean"] = float(np.mean(vals))
        return out

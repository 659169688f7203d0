"""Budgets that cannot mean what the user wrote: warned about once, and kept in the run's record."""

from __future__ import annotations

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

from wnrl.config import RunConfig

__all__ = ["budget_warnings"]


def budget_warnings(config: RunConfig, model: BaseAlgorithm, source: str) -> list[str]:
    """One line per setting the budget ``train.total_timesteps`` makes meaningless: a rollout
    longer than the budget (SB3 trains whole rollouts, so more steps than asked), a
    ``learning_starts`` at or past the budget (no gradient step ever), an evaluation or
    checkpoint frequency past the budget. Read from the built model, so SB3's defaults count.

    :param config: the run's config
    :param model: its SB3 model
    :param source: the config file, for the message
    """
    t = config.train
    budget = t.total_timesteps
    out = []
    if isinstance(model, OnPolicyAlgorithm):
        rollout = model.n_steps * model.n_envs
        if rollout > budget:
            out.append(
                f"{source}: train.total_timesteps={budget} is less than one rollout (n_steps {model.n_steps} "
                f"x n_envs {model.n_envs} = {rollout}): the run trains {rollout} steps; lower "
                "agent.hyperparams.n_steps or env.n_envs, or raise the budget"
            )
    if isinstance(model, OffPolicyAlgorithm) and model.learning_starts >= budget:
        out.append(
            f"{source}: agent.hyperparams.learning_starts={model.learning_starts} is not below "
            f"train.total_timesteps={budget}: no gradient step will ever happen; lower learning_starts"
        )
    if t.eval_freq > budget:
        out.append(
            f"{source}: train.eval_freq={t.eval_freq} is more than train.total_timesteps={budget}: the curve "
            "has only the final evaluation; lower eval_freq"
        )
    if t.checkpoint_freq != "auto" and t.checkpoint_freq > budget:
        out.append(
            f"{source}: train.checkpoint_freq={t.checkpoint_freq} is more than train.total_timesteps={budget}: "
            "no checkpoint, so the run cannot be resumed; use checkpoint_freq: auto"
        )
    return out

"""The ``agent.hyperparams`` and ``agent.policy_kwargs`` names of each algorithm, known without
importing SB3 or torch: a sweep or tune file is validated before either loads.

:func:`wnrl.agents.check_hyperparams` reads these names from the SB3 constructors and the wnrl
policies, importing both; the tables here hold the same names (``tests/test_harness_sweep.py``
checks that they do, against the SB3 installed). :func:`check_agent_args` accepts the names found
here without importing anything, and hands every other case (a typo, a malformed ``lin_``
schedule, or an argument only a newer SB3 has) to :func:`wnrl.agents.check_hyperparams`, which
refuses it with its own message or accepts it: as strict as that check, with the same messages.
The tables are used only with the SB3 and sb3-contrib releases they were read from
(:data:`MADE_WITH`): with another release installed (an argument may have come or gone), every
check goes to :func:`wnrl.agents.check_hyperparams`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from types import MappingProxyType
from typing import Any

from wnrl.registry import SCHEDULED, parse_schedule

__all__ = ["HYPERPARAMS", "MADE_WITH", "POLICY_KWARGS", "check_agent_args", "tables_current"]

#: The releases the tables were read from (``tests/test_harness_sweep.py`` prints the names to
#: put here after an upgrade).
MADE_WITH: Mapping[str, str] = MappingProxyType({"stable-baselines3": "2.9.2", "sb3-contrib": "2.9.2"})


@functools.cache
def tables_current() -> bool:
    """Whether the installed SB3 and sb3-contrib are the releases of :data:`MADE_WITH` (read from
    the installed metadata, without importing either)."""
    try:
        return all(version(dist) == release for dist, release in MADE_WITH.items())
    except PackageNotFoundError:
        return False


def _names(text: str) -> frozenset[str]:
    """The names of a space-separated list.

    :param text: the names, separated by spaces
    """
    return frozenset(text.split())


#: ``agent.algo`` → the names ``agent.hyperparams`` may hold (the SB3 constructor's arguments
#: that wnrl does not set itself: ``wnrl.agents.common.hyperparam_names``).
HYPERPARAMS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "dqn": _names(
            "batch_size buffer_size exploration_final_eps exploration_fraction exploration_initial_eps gamma "
            "gradient_steps learning_rate learning_starts max_grad_norm n_steps optimize_memory_usage "
            "replay_buffer_class replay_buffer_kwargs target_update_interval tau train_freq"
        ),
        "ppo": _names(
            "batch_size clip_range clip_range_vf ent_coef gae_lambda gamma learning_rate max_grad_norm "
            "n_epochs n_steps normalize_advantage rollout_buffer_class rollout_buffer_kwargs sde_sample_freq "
            "target_kl use_sde vf_coef"
        ),
        "a2c": _names(
            "ent_coef gae_lambda gamma learning_rate max_grad_norm n_steps normalize_advantage rms_prop_eps "
            "rollout_buffer_class rollout_buffer_kwargs sde_sample_freq use_rms_prop use_sde vf_coef"
        ),
        "sac": _names(
            "action_noise batch_size buffer_size ent_coef gamma gradient_steps learning_rate learning_starts "
            "n_steps optimize_memory_usage replay_buffer_class replay_buffer_kwargs sde_sample_freq "
            "target_entropy target_update_interval tau train_freq use_sde use_sde_at_warmup"
        ),
        "td3": _names(
            "action_noise batch_size buffer_size gamma gradient_steps learning_rate learning_starts n_steps "
            "optimize_memory_usage policy_delay replay_buffer_class replay_buffer_kwargs target_noise_clip "
            "target_policy_noise tau train_freq"
        ),
        "crossq": _names(
            "action_noise batch_size buffer_size ent_coef gamma gradient_steps learning_rate learning_starts "
            "n_steps optimize_memory_usage policy_delay replay_buffer_class replay_buffer_kwargs "
            "sde_sample_freq target_entropy train_freq use_sde use_sde_at_warmup"
        ),
    }
)

#: ``agent.algo`` → the names ``agent.policy_kwargs`` may hold (its wnrl policy's arguments:
#: ``wnrl.agents.common.policy_kwarg_names``).
POLICY_KWARGS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "dqn": _names(
            "activation_fn data_init fast_optimizer features_extractor_class features_extractor_kwargs "
            "init_batch init_scale net_arch norm norm_output normalize_images optimizer_class "
            "optimizer_kwargs"
        ),
        "ppo": _names(
            "activation_fn bn_running_stats_in_update data_init fast_optimizer features_extractor_class "
            "features_extractor_kwargs full_std init_batch init_scale log_std_init net_arch norm norm_output "
            "normalize_images optimizer_class optimizer_kwargs ortho_init share_features_extractor "
            "squash_output use_expln use_sde"
        ),
        "a2c": _names(
            "activation_fn bn_running_stats_in_update data_init fast_optimizer features_extractor_class "
            "features_extractor_kwargs full_std init_batch init_scale log_std_init net_arch norm norm_output "
            "normalize_images optimizer_class optimizer_kwargs ortho_init share_features_extractor "
            "squash_output use_expln use_sde"
        ),
        "sac": _names(
            "activation_fn actor_norm batch_norm_eps batch_norm_momentum clip_mean critic_norm data_init "
            "fast_optimizer features_extractor_class features_extractor_kwargs init_batch init_scale "
            "log_std_init n_critics net_arch norm norm_output normalize_images optimizer_class "
            "optimizer_kwargs renorm_warmup_steps share_features_extractor use_expln use_sde"
        ),
        "td3": _names(
            "activation_fn actor_norm batch_norm_eps batch_norm_momentum critic_norm data_init fast_optimizer "
            "features_extractor_class features_extractor_kwargs init_batch init_scale n_critics net_arch norm "
            "norm_output normalize_images optimizer_class optimizer_kwargs renorm_warmup_steps "
            "share_features_extractor"
        ),
        "crossq": _names(
            "activation_fn actor_norm batch_norm batch_norm_eps batch_norm_momentum clip_mean critic_norm "
            "data_init fast_optimizer features_extractor_class features_extractor_kwargs init_batch "
            "init_scale log_std_init n_critics net_arch norm norm_output normalize_images optimizer_class "
            "optimizer_kwargs renorm_warmup_steps share_features_extractor use_expln use_sde"
        ),
    }
)


def _schedules_parse(hyperparams: Mapping[str, Any]) -> bool:
    """Whether every scheduled hyperparameter (``lin_<number>`` or a number) parses.

    :param hyperparams: ``agent.hyperparams``
    """
    try:
        for key in SCHEDULED:
            if key in hyperparams:
                parse_schedule(key, hyperparams[key])
    except ValueError:
        return False
    return True


def check_agent_args(algo: str, hyperparams: Mapping[str, Any], policy_kwargs: Mapping[str, Any]) -> None:
    """:func:`wnrl.agents.check_hyperparams`, without importing SB3 when every name is in
    :data:`HYPERPARAMS` and :data:`POLICY_KWARGS` and every schedule parses.

    :param algo: ``agent.algo``
    :param hyperparams: ``agent.hyperparams``
    :param policy_kwargs: ``agent.policy_kwargs``
    :raises wnrl.agents.AgentError: an unknown name or a malformed schedule (that check's message)
    """
    names, policy_names = HYPERPARAMS.get(algo), POLICY_KWARGS.get(algo)
    if (
        tables_current()
        and names is not None
        and policy_names is not None
        and names.issuperset(hyperparams)
        and policy_names.issuperset(policy_kwargs)
        and _schedules_parse(hyperparams)
    ):
        return
    from wnrl.agents import check_hyperparams  # imports SB3: only for a name not in the tables

    check_hyperparams(algo, dict(hyperparams), dict(policy_kwargs))

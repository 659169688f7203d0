"""Normalized policy and value networks for stable-baselines3 (DQN, PPO, A2C)."""

from wnrl.policies.actor_critic import NormActorCriticPolicy, NormMlpExtractor
from wnrl.policies.base import NormPolicyMixin
from wnrl.policies.data_init import DataInitCallback
from wnrl.policies.dqn import NormDQNPolicy, NormQNetwork
from wnrl.policies.extractors import MinAtarCNN, NormCombinedExtractor, NormNatureCNN, default_extractor
from wnrl.policies.layers import NORMS, WEIGHT_NORMS, check_norm
from wnrl.policies.spaces import ObservationSpaceError

__all__ = [
    "NormDQNPolicy",
    "NormQNetwork",
    "NormActorCriticPolicy",
    "NormMlpExtractor",
    "NormPolicyMixin",
    "DataInitCallback",
    "NormNatureCNN",
    "MinAtarCNN",
    "NormCombinedExtractor",
    "default_extractor",
    "ObservationSpaceError",
    "NORMS",
    "WEIGHT_NORMS",
    "check_norm",
]

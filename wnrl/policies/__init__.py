"""Normalized policy and value networks for stable-baselines3 (DQN, PPO, A2C, SAC, TD3) and
sb3-contrib (CrossQ)."""

from wnrl.policies.actor_critic import NormActorCriticPolicy, NormMlpExtractor
from wnrl.policies.base import NormPolicyMixin
from wnrl.policies.continuous import NormContinuousCritic, NormSACActor, NormTD3Actor
from wnrl.policies.crossq import NormCrossQPolicy
from wnrl.policies.data_init import DataInitCallback
from wnrl.policies.dqn import NormDQNPolicy, NormQNetwork
from wnrl.policies.extractors import MinAtarCNN, NormCombinedExtractor, NormNatureCNN, default_extractor
from wnrl.policies.layers import NORMS, WEIGHT_NORMS, check_norm
from wnrl.policies.off_policy import NormOffPolicyMixin
from wnrl.policies.sac import NormSACPolicy
from wnrl.policies.spaces import ObservationSpaceError
from wnrl.policies.td3 import NormTD3Policy

__all__ = [
    "NormDQNPolicy",
    "NormQNetwork",
    "NormActorCriticPolicy",
    "NormMlpExtractor",
    "NormPolicyMixin",
    "NormSACPolicy",
    "NormTD3Policy",
    "NormCrossQPolicy",
    "NormSACActor",
    "NormTD3Actor",
    "NormContinuousCritic",
    "NormOffPolicyMixin",
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

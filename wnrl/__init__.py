"""wnrl: reinforcement learning with weight-normalized networks, on stable-baselines3."""

__version__ = "0.1.0"

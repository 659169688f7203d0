"""What ``wnrl list`` shows: every name a config or command line can use, and what is installed.

Reads only the registry, the shipped YAML files and package metadata: no torch, no SB3.
"""

from __future__ import annotations

import importlib.util

from wnrl.config.load import shipped
from wnrl.registry import ACTIVATIONS, ALGORITHMS, NORMS

__all__ = ["EXTRAS", "catalog"]

#: Optional packages → what they enable (the pip extra that installs them).
EXTRAS = {
    "ale_py": "Atari (ALE/...-v5) environments: pip install 'wnrl[atari]'",
    "minatar": "MinAtar (MinAtar/...-v1) environments: pip install 'wnrl[minatar]'",
    "Box2D": "Box2D (LunarLander-v3): pip install 'wnrl[box2d]'",
    "mujoco": "MuJoCo (HalfCheetah-v5, ...): pip install 'wnrl[mujoco]'",
    "ray": "wnrl compare --backend ray: pip install 'wnrl[ray]'",
    "sb3_contrib": "sb3-contrib algorithms",
    "optuna": "hyperparameter tuning",
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def catalog() -> str:
    """The text of ``wnrl list``."""
    lines = ["Shipped run configs (wnrl train NAME):", "  " + ", ".join(shipped("config file"))]
    lines += ["Shipped sweeps (wnrl compare NAME):", "  " + ", ".join(shipped("sweep file"))]
    lines += ["Shipped tune files (wnrl tune NAME):", "  " + ", ".join(shipped("tune file"))]
    lines += ["Algorithms (agent.algo):"]
    lines += [f"  {s.name:<6} {s.summary}" for s in ALGORITHMS.values()]
    lines += ["Normalizations (agent.norm):", "  " + ", ".join(NORMS)]
    lines += ["Activations (agent.activation):", "  " + ", ".join(ACTIVATIONS)]
    lines += ["Optional extras:"]
    lines += [f"  [{'x' if _installed(m) else ' '}] {m:<12} {what}" for m, what in EXTRAS.items()]
    return "\n".join(lines)

"""How runs are executed, as one typed object shared by ``compare`` and ``tune``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from wnrl.config import ConfigError

__all__ = ["BACKENDS", "ExecOptions"]

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class ExecOptions:
    """Where and how many runs execute at once.

    :param workers: parallel runs (``None``: the CPU cores)
    :param backend: ``local`` (a process pool) or ``ray``
    :param address: Ray cluster address (``ray`` backend; ``None``: a local instance)
    :param runs_per_gpu: runs sharing one GPU
    """

    workers: int | None = None
    backend: str = "local"
    address: str | None = None
    runs_per_gpu: int = 1

    @property
    def n_workers(self) -> int:
        """``workers``, or the CPU cores when not given."""
        return self.workers if self.workers is not None else (os.cpu_count() or 1)

    def check(self) -> ExecOptions:
        """Refuse bad options in one line, before anything is expanded or written.

        :returns: ``self``, for chaining
        :raises ConfigError: naming the flag and the fix
        """
        if self.n_workers < 1:
            raise ConfigError(f"--workers {self.workers}: must be at least 1")
        if self.runs_per_gpu < 1:
            raise ConfigError(f"--runs-per-gpu {self.runs_per_gpu}: must be at least 1")
        if self.backend not in BACKENDS:
            raise ConfigError(f"--backend {self.backend}: unknown backend; valid values: {', '.join(BACKENDS)}")
        if self.address and self.backend != "ray":
            raise ConfigError("--address: only used with --backend ray; add --backend ray")
        if self.backend == "ray":
            try:
                import ray  # noqa: F401
            except ImportError:
                raise ConfigError(
                    '--backend ray: the ray backend needs the ray extra: pip install "wnrl[ray]"'
                ) from None
        return self

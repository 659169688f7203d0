"""The parts of a tune file: a dimension of the search space, the objective, sampler and pruner."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wnrl.harness.sweeps.values import LR_KEY

__all__ = ["DEFAULT_SPACE", "Objective", "Param", "Pruner", "Sampler"]


class Param(BaseModel):
    """One dimension of the search space.

    :param type: ``log_uniform``, ``uniform`` (floats), ``int``, ``log_int`` or ``categorical``
    :param low: lower bound (numeric types)
    :param high: upper bound (numeric types)
    :param step: grid step of a ``uniform``/``int`` range (optional)
    :param choices: the values of a ``categorical``
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["log_uniform", "uniform", "int", "log_int", "categorical"]
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> Param:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical needs a non-empty list: choices: [a, b]")
            if len(self.encoded()) != len(self.choices):
                raise ValueError(f"choices {self.choices} repeat a value; give each once")
            if self.low is not None or self.high is not None or self.step is not None:
                raise ValueError("a categorical takes only choices; remove low/high/step")
            return self
        if self.choices is not None:
            raise ValueError(f"{self.type} takes low and high, not choices; use type: categorical for a list")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} needs low and high, e.g. {{type: {self.type}, low: 1, high: 10}}")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low > self.high:
            raise ValueError(f"inverted range: low {self.low:g} > high {self.high:g}; swap them")
        if self.low == self.high:
            raise ValueError(f"empty range: low = high = {self.low:g}; widen it or set the value in base")
        if self.type.startswith("log") and self.low <= 0:
            raise ValueError(f"a log range must be > 0, got low {self.low:g}; use a positive low such as 1e-6")
        if self.type.endswith("int") and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError("an int range needs integer low and high")
        if self.step is not None and (self.step <= 0 or self.type.startswith("log")):
            raise ValueError("step must be > 0 and is only for uniform/int ranges; remove it")
        return self

    def encoded(self) -> dict[Any, Any]:
        """Optuna's value of each choice -> the choice (lists and mappings travel as JSON text)."""
        out = {}
        for c in self.choices or []:
            scalar = c is None or isinstance(c, (str, int, float, bool))
            out[c if scalar else json.dumps(c)] = c
        return out

    def grid_values(self) -> list[Any] | None:
        """The values a grid search visits (``None`` when the range is continuous)."""
        if self.type == "categorical":
            return list(self.encoded())
        if self.type == "int" and self.low is not None and self.high is not None:
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        return None


#: The search space when a tune file gives none: the learning rate, log-uniform.
DEFAULT_SPACE = {LR_KEY: Param(type="log_uniform", low=1e-5, high=1e-2)}


class Objective(BaseModel):
    """What a trial is scored by: ``statistic`` over seeds × tasks of ``metric``.

    :param metric: ``final`` (the final evaluation return) or ``auc`` (area under the curve)
    :param statistic: ``iqm`` (default), ``mean`` or ``median``
    """

    model_config = ConfigDict(extra="forbid")
    metric: Literal["final", "auc"] = "final"
    statistic: Literal["iqm", "mean", "median"] = "iqm"


class Sampler(BaseModel):
    """The Optuna sampler: ``tpe`` (default), ``random`` or ``grid``; ``seed`` makes it repeatable.

    :param type: the sampler
    :param seed: its seed
    :param n_startup_trials: random trials before TPE models the space
    """

    model_config = ConfigDict(extra="forbid")
    type: Literal["tpe", "random", "grid"] = "tpe"
    seed: int = Field(default=0, ge=0, strict=True)  # a SeedSequence entropy: non-negative
    n_startup_trials: int = Field(default=5, ge=1)


class Pruner(BaseModel):
    """Pruning on the seed-averaged intermediate evaluations.

    :param type: ``none``, ``median`` (MedianPruner) or ``halving`` (SuccessiveHalvingPruner)
    :param n_startup_trials: trials completed before the median pruner prunes
    :param n_warmup_steps: env steps before a trial can be pruned
    :param min_resource: the halving pruner's first rung (evaluations)
    :param reduction_factor: the halving pruner's reduction factor
    """

    model_config = ConfigDict(extra="forbid")
    type: Literal["none", "median", "halving"] = "none"
    n_startup_trials: int = Field(default=2, ge=0)
    n_warmup_steps: int = Field(default=0, ge=0)
    min_resource: int = Field(default=1, ge=1)
    reduction_factor: int = Field(default=3, ge=2)

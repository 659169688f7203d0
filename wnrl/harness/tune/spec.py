"""Tune files: a base config, the variants, the tasks, a search space, one budget for all.

A tune file is YAML (read with wnrl's safe loader)::

    name: cartpole-lr                    # tune directory: tunes/<name> (default: the file's stem)
    base: ../cartpole_ppo.yaml           # a run config path (relative to this file) or a mapping
    per: {agent.algo: {dqn: {env.n_envs: 1}}}   # optional, as in sweep files
    variants: {agent.norm: [none, batch, weight]}   # one Optuna study per variant (× group)
    groups: {agent.algo: [ppo, dqn]}     # optional: tuned separately (one study each)
    tasks: {env.noise.obs_std: [0.0, 0.2]}          # optional: pooled into the objective
    space:                               # dotted config key -> distribution
      agent.hyperparams.learning_rate: {type: log_uniform, low: 1.0e-5, high: 1.0e-2}
      agent.hyperparams.gamma: {type: categorical, choices: [0.98, 0.99]}
    budget: 20                           # trials per study, the same for every variant
    seeds: 3                             # seeds of every trial (0..2) or a list
    objective: {metric: final, statistic: iqm}      # or metric: auc
    sampler: tpe                         # tpe | random | grid (every key categorical)
    pruner: none                         # none | median | halving
    confirm_seeds: 10                    # seeds of `wnrl compare --tuned` (disjoint from seeds)

Every problem raises one :class:`~wnrl.config.ConfigError` line ``FILE: KEY: problem; fix``.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from wnrl.config import ConfigError, read_yaml, resolve_path, validate_model
from wnrl.config.keys import check_key
from wnrl.config.names import name_problem
from wnrl.harness.sweeps.spec import Sweep, expand_sweep
from wnrl.harness.sweeps.values import LR_KEY, checked_name, grid_values, seed_list, show
from wnrl.harness.tune.models import DEFAULT_SPACE, Objective, Param, Pruner, Sampler

__all__ = [
    "DEFAULT_SPACE",
    "Param",
    "Study",
    "Tune",
    "TuneSpec",
    "load_tune",
    "parse_tune",
]

_EXAMPLE = "agent.hyperparams.learning_rate"  # the third example key of an unknown-key error
#: An example value of each grid-like entry, for its messages.
_GRID_EXAMPLES = {
    "variants": "{agent.norm: [none, weight]}",
    "groups": "{agent.algo: [ppo, dqn]}",
    "tasks": "{env.noise.obs_std: [0.0, 0.2]}",
}


class TuneSpec(BaseModel):
    """A tune file (see the module docstring); unknown keys and bad values give one line.

    :param name: the tune's name (default: the file's stem)
    :param description: one line for the report
    :param base: a run config mapping or the path of a run config file
    :param per: settings depending on a variant/group/task value, as in sweep files
    :param variants: dotted key -> values; each combination is tuned in its own study
    :param groups: dotted key -> values tuned separately (e.g. the algorithm)
    :param tasks: dotted key -> values pooled into each trial's objective
    :param space: dotted key -> :class:`Param`
    :param budget: trials per study (a number, or one per variant label: they must be equal)
    :param seeds: the seeds of every trial
    :param objective: see :class:`Objective`
    :param sampler: see :class:`Sampler`
    :param pruner: see :class:`Pruner`
    :param storage: an Optuna storage URL, ``journal:PATH``, or none (SQLite in the tune directory)
    :param confirm_seeds: seeds of the confirmation (a count: after the largest tuning seed)
    :param ranges: env id -> [low, high], the normalisation of scores over several tasks
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str = ""
    base: dict[str, Any] | str
    per: dict[str, dict[Any, dict[str, Any]]] = Field(default_factory=dict)
    variants: dict[str, list[Any]]
    groups: dict[str, list[Any]] = Field(default_factory=dict)
    tasks: dict[str, list[Any]] = Field(default_factory=dict)
    space: dict[str, Param] = Field(default_factory=lambda: dict(DEFAULT_SPACE))
    budget: int | dict[str, int]
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    objective: Objective = Field(default_factory=Objective)
    sampler: Sampler = Field(default_factory=Sampler)
    pruner: Pruner = Field(default_factory=Pruner)
    storage: str | None = None
    confirm_seeds: list[int] | int = 10
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return checked_name(v)

    @field_validator("variants", "groups", "tasks", mode="before")
    @classmethod
    def _grids(cls, v: Any, info: ValidationInfo) -> Any:
        return grid_values(v, str(info.field_name), _GRID_EXAMPLES[str(info.field_name)], _EXAMPLE)

    @field_validator("space", mode="before")
    @classmethod
    def _space(cls, v: Any) -> Any:
        if not isinstance(v, dict) or not v:
            raise ValueError(f"must map dotted config keys to distributions, e.g. space: {{{LR_KEY}: ...}}")
        for key in v:
            check_key(key, "space", _EXAMPLE)
        return v

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> Any:
        values = list(v.values()) if isinstance(v, dict) else [v]
        for b in values:
            if isinstance(b, bool) or not isinstance(b, int) or b < 1:
                raise ValueError(f"must be a positive number of trials per variant, got {b!r}; e.g. budget: 20")
        if isinstance(v, dict) and len(set(values)) > 1:
            given = ", ".join(f"{k}: {b}" for k, b in v.items())
            raise ValueError(
                f"unequal budgets ({given}): every variant gets the same number of trials, or the "
                "comparison is not fair; give one number, e.g. budget: 20"
            )
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> list[int]:
        return seed_list(v, "seeds of a trial")

    @field_validator("confirm_seeds", mode="before")
    @classmethod
    def _confirm(cls, v: Any) -> Any:
        return v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else seed_list(v)

    @field_validator("sampler", "pruner", mode="before")
    @classmethod
    def _by_name(cls, v: Any) -> Any:
        return {"type": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _consistent(self) -> TuneSpec:
        owners: dict[str, str] = {}
        for section in ("variants", "groups", "tasks", "space"):
            for key in getattr(self, section):
                if key in owners:
                    raise ValueError(f"{section}: {key} is also in {owners[key]}; give each key in one place")
                owners[key] = section
        for key, table in self.per.items():
            values = {**self.variants, **self.groups, **self.tasks}.get(key)
            if values is None:
                raise ValueError(f"per: {key}: not a key of variants, groups or tasks; per settings depend on one")
            for gv in table:
                if not any(str(gv) == str(v) for v in values):
                    raise ValueError(f"per: {key}: {gv!r} is not one of its values {[show(v) for v in values]}")
        if isinstance(self.budget, dict):
            labels = [_label(v) for v in _combos(self.variants)]
            if sorted(self.budget) != sorted(labels):
                raise ValueError(f"budget: give one number, or one entry per variant: {', '.join(labels)}")
        if self.sampler.type == "grid":
            for key, p in self.space.items():
                if p.grid_values() is None:
                    raise ValueError(
                        f"space: {key}: grid search needs categorical (or int) values; "
                        "write {type: categorical, choices: [...]}"
                    )
        if isinstance(self.confirm_seeds, list) and set(self.confirm_seeds) & set(self.seeds):
            common = sorted(set(self.confirm_seeds) & set(self.seeds))
            raise ValueError(f"confirm_seeds: {common} are also tuning seeds; confirmation seeds must be new")
        return self


TUNE_KEYS = tuple(TuneSpec.model_fields)


def _combos(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def _label(combo: dict[str, Any]) -> str:
    return ",".join(show(v) for v in combo.values()) or "all"


@dataclass(frozen=True)
class Study:
    """One study: a variant × a group.

    :param variant: the variant's values
    :param group: the group's values
    :param study_name: the Optuna study name
    """

    variant: dict[str, Any]
    group: dict[str, Any]
    study_name: str

    @property
    def label(self) -> str:
        """``weight`` or ``weight | ppo``."""
        g = _label(self.group) if self.group else ""
        return f"{_label(self.variant)} | {g}" if g else _label(self.variant)

    @property
    def slug(self) -> str:
        """A directory name."""
        return re.sub(r"[^A-Za-z0-9_.\-]+", "_", self.label.replace(" | ", "-")).strip("_") or "all"


def _only(table: dict[Any, Any], values: list[Any]) -> dict[Any, Any]:
    """The entries of a ``per`` table for ``values`` (a trial has one value of a variant/group key)."""
    return {gv: v for gv, v in table.items() if any(str(gv) == str(x) for x in values)}


@dataclass
class Tune:
    """A loaded tune file.

    :param name: the tune's name
    :param source: the file
    :param spec: the validated spec
    :param base: the base run config mapping
    :param digest: hash of ``recorded`` and ``base`` (a study records it)
    :param cells: the studies, variant-major
    :param confirm_seeds: the seeds of the confirmation
    :param recorded: the validated spec as data, as ``tune.json`` records it (the digest's input)
    """

    name: str
    source: str
    spec: TuneSpec
    base: dict[str, Any]
    digest: str
    cells: list[Study] = field(default_factory=list)
    confirm_seeds: list[int] = field(default_factory=list)
    recorded: dict[str, Any] = field(default_factory=dict)

    @property
    def budget(self) -> int:
        """Trials per study (the same for every variant)."""
        b = self.spec.budget
        return next(iter(b.values())) if isinstance(b, dict) else b

    def trial_sweep(self, cell: Study, params: dict[str, Any], seeds: list[int] | None = None) -> Sweep:
        """The runs of one trial: the cell's values, every task, ``params``, every seed.

        :param cell: the study
        :param params: dotted key -> value (the trial's hyperparameters)
        :param seeds: the seeds (default: the tuning seeds)
        """
        grid = {**{k: [v] for k, v in cell.variant.items()}, **{k: [v] for k, v in cell.group.items()}}
        grid.update(self.spec.tasks)
        grid.update({k: [v] for k, v in params.items()})
        data = {
            "name": self.name,
            "base": self.base,
            "per": self.per_for(grid),
            "grid": grid,
            "seeds": seeds or self.spec.seeds,
        }
        return expand_sweep(copy.deepcopy(data), self.source)  # expanding must not change the spec

    def per_for(self, grid: dict[str, list[Any]]) -> dict[str, Any]:
        """The ``per`` settings of a sweep over ``grid`` (a copy): of a key in the grid, only the
        entries of its values there (a sweep refuses entries for values it does not have).

        :param grid: dotted key -> values
        """
        return copy.deepcopy({k: _only(t, grid[k]) if k in grid else t for k, t in self.spec.per.items()})

    def describe(self) -> dict[str, Any]:
        """What ``tune.json`` records."""
        return {
            "name": self.name,
            "source": self.source,
            "digest": self.digest,
            "spec": copy.deepcopy(self.recorded),
            "base": copy.deepcopy(self.base),
            "budget": self.budget,
            "seeds": self.spec.seeds,
            "confirm_seeds": self.confirm_seeds,
            "studies": [{"name": c.study_name, "variant": c.variant, "group": c.group} for c in self.cells],
        }


def _midpoint(p: Param) -> Any:
    if p.type == "categorical":
        return (p.choices or [None])[0]
    assert p.low is not None and p.high is not None
    mid = math.sqrt(p.low * p.high) if p.type.startswith("log") else (p.low + p.high) / 2
    return int(round(mid)) if p.type.endswith("int") else float(mid)


def _confirm_seeds(spec: TuneSpec) -> list[int]:
    if isinstance(spec.confirm_seeds, list):
        return spec.confirm_seeds
    start = max(spec.seeds) + 1
    return list(range(start, start + spec.confirm_seeds))


def _digest(recorded: dict[str, Any], base: dict[str, Any]) -> str:
    """The hash of what defines the trials: the recorded spec (but where its studies are stored
    and its description) and the base config."""
    canon = {k: v for k, v in recorded.items() if k not in ("storage", "description")}
    canon["base"] = base
    return hashlib.sha1(json.dumps(canon, sort_keys=True, default=str).encode()).hexdigest()[:12]


def parse_tune(data: Any, source: str = "<tune>", base_dir: Path | None = None) -> Tune:
    """Validate a tune mapping, and every config a trial can make (at the middle of the space).

    :param data: the mapping read from the tune file
    :param source: the file, for messages
    :param base_dir: the folder a ``base`` path is relative to
    :raises ConfigError: one line naming ``source`` and the key
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a tune file is a mapping with the keys {', '.join(TUNE_KEYS)}")
    spec = validate_model(TuneSpec, copy.deepcopy(data), source)
    name = spec.name or Path(source).stem
    problem = name_problem(name)
    if problem:
        raise ConfigError(f"{source}: name: {problem}; add a name")
    if isinstance(spec.base, dict):
        base = spec.base
    else:
        try:
            base = read_yaml((base_dir or Path.cwd()) / spec.base)
        except ConfigError as e:
            raise ConfigError(f"{source}: base: {e}") from None
    recorded = spec.model_dump(mode="json")
    digest = _digest(recorded, base)
    tune = Tune(name, source, spec, copy.deepcopy(base), digest, confirm_seeds=_confirm_seeds(spec), recorded=recorded)
    for variant in _combos(spec.variants):
        for group in _combos(spec.groups):
            tune.cells.append(Study(variant, group, ""))
    tune.cells = [Study(c.variant, c.group, f"{name}/{c.slug}") for c in tune.cells]
    mid = {k: _midpoint(p) for k, p in spec.space.items()}
    for cell in tune.cells:
        tune.trial_sweep(cell, mid)  # every run config valid before anything is written
    return tune


def load_tune(path: str | Path) -> Tune:
    """Read and validate a tune file.

    :param path: the YAML file
    :raises ConfigError: one line naming the file and the key
    """
    p = resolve_path(path, "tune file")  # a path, or a shipped tune file by name
    data = read_yaml(p, "tune file", " (examples in configs/tune/)")
    return parse_tune(data, str(p), p.parent)

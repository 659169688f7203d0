"""Sweep files: one base run config × a grid of config values × seeds → validated runs.

A sweep file is YAML (read with a safe loader)::

    name: demo                          # sweep directory: sweeps/<name> (default: the file's stem)
    base:                               # a run config mapping, or a path relative to this file
      env: {id: CartPole-v1}
      agent: {net_arch: [64, 64]}
      train: {total_timesteps: 40000, eval_freq: 10000}
    grid:                               # dotted config key -> list of values (cartesian product)
      agent.algo: [ppo, dqn]
      env.noise.obs_std: [0.0, 0.2]
      agent.norm: [none, batch, weight]
    seeds: 3                            # seeds 0, 1, 2; or an explicit list: [0, 7, 42]
    per:                                # optional: settings that depend on a grid value
      agent.algo:
        ppo: {env.n_envs: 8, agent.hyperparams: {n_steps: 32, learning_rate: lin_0.001}}
        dqn: {agent.hyperparams: {learning_rate: 0.001, buffer_size: 50000}}

Each run's config is built in this order: ``base`` → the ``per`` entries of the run's grid values
(in grid order; each dotted key *replaces* the value at that path, so ``agent.hyperparams: {...}``
replaces the whole mapping) → ``wnrl compare --set KEY=VALUE`` → the grid values → ``train.seed``.
Every run also gets ``name`` = the sweep name, ``train.progress_bar = false`` and
``train.torch_threads = 1``. Every run is validated before anything starts; a problem raises a
one-line :class:`~wnrl.config.ConfigError` naming the sweep file and the key.

Run ids are ``<env>-<grid values>-s<seed>-<sha1[:10]>`` (``mountaincarcontinuous-weight-s0-…``;
:func:`wnrl.config.names.env_slug`), the hash taken over the canonical JSON of the run's resolved config
(its values that differ from the schema's defaults, less ``name`` and :data:`NOT_HASHED`, which only
change how a run is watched): the same config always gets the same hash, any change to what a run
does a new one (a changed sweep never reuses stale results), and a new schema key with a default
leaves existing ids alone; older ids (without ``<env>``) are kept on resume
(:func:`wnrl.harness.sweeps.directory.reuse_ids`). The id does not cover the code: after changing wnrl
itself, write to a new ``--out`` to rerun everything.

Numbers such as ``1e-3`` are read as floats in sweep files (plain YAML 1.1 reads them as strings).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wnrl.config import (
    ConfigError,
    RunConfig,
    apply_overrides,
    parse_overrides,
    read_yaml,
    resolve_path,
    validate,
    validate_model,
)
from wnrl.config.keys import check_key
from wnrl.config.names import env_slug, name_problem
from wnrl.harness.sweeps.agent_args import check_agent_args
from wnrl.harness.sweeps.values import MAX_SEEDS, checked_name, grid_values, seed_list, show

__all__ = [
    "MAX_RUNS",
    "MAX_SEEDS",
    "SWEEP_KEYS",
    "Sweep",
    "SweepRun",
    "SweepSpec",
    "demo_sweep",
    "expand_sweep",
    "load_sweep",
    "run_id",
    "show",
]

#: An upper bound that catches a typo before a minute of silent expansion (and :data:`MAX_SEEDS`).
MAX_RUNS = 100_000


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep.

    :param id: stable id (directory name under ``runs/``)
    :param grid: this run's grid values, ``{dotted key: value}`` in grid order
    :param seed: the run's seed (``train.seed``)
    :param config: the resolved, validated run config
    """

    id: str
    grid: dict[str, Any]
    seed: int
    config: RunConfig

    def describe(self) -> str:
        """``agent.algo=ppo, agent.norm=weight, seed=0``."""
        return ", ".join([f"{k}={show(v)}" for k, v in self.grid.items()] + [f"seed={self.seed}"])


@dataclass
class Sweep:
    """An expanded sweep: its spec and every run.

    :param name: sweep name (default directory ``sweeps/<name>``)
    :param source: the sweep file (or ``<built-in demo sweep>``)
    :param spec: the sweep mapping with ``base`` resolved to a mapping
    :param overrides: the ``--set`` overrides applied to every run
    :param runs: the runs, grid-major and seeds innermost
    """

    name: str
    source: str
    spec: dict[str, Any]
    overrides: list[tuple[str, Any]] = field(default_factory=list)
    runs: list[SweepRun] = field(default_factory=list)

    @property
    def grid(self) -> dict[str, list[Any]]:
        """The grid, ``{dotted key: values}``."""
        return self.spec["grid"]

    @property
    def seeds(self) -> list[int]:
        """The seeds."""
        return self.spec["seeds"]

    def index(self) -> dict[str, Any]:
        """What ``index.json`` of a sweep directory holds (without session information)."""
        return {
            "name": self.name,
            "source": self.source,
            "grid_keys": list(self.grid),
            "grid": self.grid,
            "seeds": self.seeds,
            "base": self.spec["base"],
            "per": self.spec.get("per", {}),
            "description": self.spec.get("description", ""),
            "overrides": [f"{k}={json.dumps(v)}" for k, v in self.overrides],
            "runs": [{"id": r.id, "grid": r.grid, "seed": r.seed} for r in self.runs],
        }


def _slug(value: Any, key: str) -> str:
    text = value if isinstance(value, str) else f"{key.rsplit('.', 1)[-1]}{json.dumps(value)}"
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_") or "x"


#: Settings that change how a run is watched, not what it computes: left out of a run id's hash.
NOT_HASHED = {"train": ("progress_bar", "checkpoint_freq", "torch_threads")}


def run_id(config: RunConfig, grid: dict[str, Any], seed: int) -> str:
    """The stable id of a run: env, grid values and seed + sha1 of the resolved config.

    :param config: the resolved run config
    :param grid: the run's grid values (for the readable prefix)
    :param seed: the run's seed
    """
    data = config.model_dump(mode="json", exclude_defaults=True)
    data.pop("name", None)
    for section, keys in NOT_HASHED.items():
        for key in keys:
            data.get(section, {}).pop(key, None)
    digest = hashlib.sha1(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    values = [_slug(v, k) for k, v in grid.items() if k != "env.id"]
    prefix = "-".join([env_slug(config.env.id), *values, f"s{seed}"])
    return f"{prefix[:80]}-{digest[:10]}"


class SweepSpec(BaseModel):
    """A sweep file (see the module docstring); validated like a run config: unknown keys and
    bad values give one line naming the key.

    :param name: the sweep's name (default: the file's stem)
    :param description: one line for the report
    :param base: a run config mapping, or the path of a run config file (relative to the sweep file)
    :param grid: dotted config key → list of values (cartesian product)
    :param seeds: the seeds (a count n means ``0..n-1``)
    :param per: settings that depend on a grid value: ``{grid key: {value: {dotted key: value}}}``
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str = ""
    base: dict[str, Any] | str
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: list[int]
    per: dict[str, dict[Any, dict[str, Any]]] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return checked_name(v)

    @field_validator("base", mode="before")
    @classmethod
    def _base(cls, v: Any) -> Any:
        if not isinstance(v, (dict, str)):
            raise ValueError(f"must be a run config mapping or a path, got {show(v)}")
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> list[int]:
        return seed_list(v)

    @field_validator("grid", mode="before")
    @classmethod
    def _grid(cls, v: Any) -> dict[str, list[Any]]:
        return grid_values(v, "grid", "{agent.norm: [none, weight]}")

    @field_validator("per", mode="before")
    @classmethod
    def _per_shape(cls, v: Any) -> Any:
        if v is None:
            return {}
        if not isinstance(v, dict) or not all(isinstance(t, dict) for t in v.values()):
            raise ValueError(
                "must map a grid key to {value: {dotted key: value}}, e.g. "
                "per: {agent.algo: {dqn: {train.total_timesteps: 50000}}}"
            )
        return v

    @model_validator(mode="after")
    def _per_matches_grid(self) -> SweepSpec:
        for key, table in self.per.items():
            if key not in self.grid:
                raise ValueError(
                    f"per: {key}: not a grid key; `per` settings depend on a grid value "
                    f"(grid keys: {', '.join(self.grid) or 'none'})"
                )
            for gv, settings in table.items():
                if not any(_same(gv, v) for v in self.grid[key]):
                    raise ValueError(
                        f"per: {key}: {gv!r} is not one of the grid values {[show(v) for v in self.grid[key]]}"
                    )
                for k in settings:
                    check_key(k, f"per: {key}: {gv}")
                    if k in self.grid:
                        raise ValueError(f"per: {key}: {gv}: {k} is a grid key; set it in the grid")
        size = len(self.seeds) * math.prod(len(v) for v in self.grid.values())
        if size > MAX_RUNS:
            raise ValueError(
                f"grid × seeds: {size} runs is more than {MAX_RUNS}; make the grid "
                "or the seeds smaller, or split the sweep"
            )
        return self


SWEEP_KEYS = tuple(SweepSpec.model_fields)


def _same(a: Any, b: Any) -> bool:
    return (a == b and isinstance(a, bool) == isinstance(b, bool)) or str(a) == str(b)


def _per_settings(per: dict[str, Any], key: str, value: Any) -> list[tuple[str, Any]]:
    for gv, settings in per.get(key, {}).items():
        if _same(gv, value):
            return list(settings.items())
    return []


def _resolve_base(spec: SweepSpec, source: str, base_dir: Path | None) -> dict[str, Any]:
    if isinstance(spec.base, dict):
        return spec.base
    try:
        return read_yaml((base_dir or Path.cwd()) / spec.base)
    except ConfigError as e:
        raise ConfigError(f"{source}: base: {e}") from None


def _check_overrides(sets: list[tuple[str, Any]], grid: dict[str, list[Any]], source: str) -> None:
    for key, _ in sets:
        if key in grid:
            raise ConfigError(f"--set {key}: {key} is a grid key of {source}; edit the grid instead")
        if key == "train.seed":
            raise ConfigError(f"--set {key}: the seeds come from `seeds` in {source}")


def _resolve_run(base: dict[str, Any], changes: list[tuple[str, Any]], source: str, label: str) -> RunConfig:
    """One run's validated config: ``base`` with ``changes`` applied (errors name the run)."""
    try:
        config = validate(apply_overrides(base, changes), source)
        check_agent_args(config.agent.algo, config.agent.hyperparams, config.agent.policy_kwargs)
    except ConfigError as e:
        raise ConfigError(f"{e} (in the run {label})") from None
    except ValueError as e:  # AgentError, and apply_overrides on a non-section
        raise ConfigError(f"{source}: {e} (in the run {label})") from None
    return config


def expand_sweep(
    data: dict[str, Any], source: str = "<sweep>", base_dir: Path | None = None, overrides: list[str] | None = None
) -> Sweep:
    """Expand and validate a sweep mapping into its runs.

    :param data: the sweep mapping (see the module docstring and :class:`SweepSpec`)
    :param source: where it came from, for error messages
    :param base_dir: the folder a ``base`` path is relative to (default: the current directory)
    :param overrides: ``KEY=VALUE`` strings applied to every run (``wnrl compare --set``)
    :raises ConfigError: on the first problem, one line naming ``source`` and the key
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a sweep file is a mapping with the keys {', '.join(SWEEP_KEYS)}")
    spec = validate_model(SweepSpec, data, source)
    name = spec.name or Path(source).stem
    problem = name_problem(name)
    if problem:  # a name taken from the file's name
        raise ConfigError(f"{source}: name: {problem}; add a name")
    base = _resolve_base(spec, source, base_dir)
    sets = parse_overrides(overrides, "--set")
    _check_overrides(sets, spec.grid, source)
    full = {**spec.model_dump(), "name": name, "base": base}
    sweep = Sweep(name=name, source=source, spec=full, overrides=sets)
    seen: dict[str, SweepRun] = {}
    fixed = [("name", name), ("train.progress_bar", False), ("train.torch_threads", 1)]
    for values in itertools.product(*spec.grid.values()):
        combo = dict(zip(spec.grid, values))
        settings = [kv for k, v in combo.items() for kv in _per_settings(spec.per, k, v)]
        for seed in spec.seeds:
            label = ", ".join([f"{k}={show(v)}" for k, v in combo.items()] + [f"seed={seed}"])
            changes = settings + sets + list(combo.items()) + [("train.seed", seed)] + fixed
            config = _resolve_run(base, changes, source, label)
            run = SweepRun(run_id(config, combo, seed), combo, seed, config)
            if run.id in seen:
                raise ConfigError(
                    f"{source}: grid: the runs {seen[run.id].describe()} and "
                    f"{run.describe()} have the same config; remove the duplicate value"
                )
            seen[run.id] = run
            sweep.runs.append(run)
    return sweep


def demo_sweep() -> dict[str, Any]:
    """The built-in demo sweep (``wnrl compare`` without a file): ``configs/sweeps/demo.yaml``,
    shipped as package data (:mod:`wnrl.configs`)."""
    from importlib import resources

    return read_yaml(Path(str(resources.files("wnrl.configs") / "sweeps" / "demo.yaml")), "sweep file")


def load_sweep(path: str | Path | None, overrides: list[str] | None = None) -> Sweep:
    """Read, expand and validate a sweep file (``None``: the built-in demo sweep).

    :param path: the YAML sweep file
    :param overrides: ``KEY=VALUE`` strings applied to every run (``wnrl compare --set``)
    :raises ConfigError: one line naming the file and the key
    """
    if path is None:
        return expand_sweep(demo_sweep(), "<built-in demo sweep>", overrides=overrides)
    p = resolve_path(path, "sweep file")  # a path, or a shipped sweep by name
    data = read_yaml(p, "sweep file", " (examples in configs/sweeps/)")
    return expand_sweep(data, str(p), p.parent, overrides)

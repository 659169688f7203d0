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

Run ids are ``<grid values>-s<seed>-<sha1[:10]>``, the hash taken over the canonical JSON of the
run's resolved config (everything but ``name``): the same config always gets the same id, any
change to what a run does gives a new id (so a changed sweep never reuses stale results). The id
does not cover the code: after changing wnrl itself, write to a new ``--out`` to rerun everything.

Numbers such as ``1e-3`` are read as floats in sweep files (plain YAML 1.1 reads them as strings).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wnrl.agents import check_hyperparams
from wnrl.config import ConfigError, RunConfig, apply_overrides, parse_overrides, read_yaml, validate

__all__ = ["Sweep", "SweepRun", "load_sweep", "expand_sweep", "config_paths", "run_id",
           "DEMO_SWEEP", "SWEEP_KEYS"]

SWEEP_KEYS = ("name", "description", "base", "grid", "seeds", "per")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_FREE_SECTIONS = ("env.kwargs", "agent.hyperparams", "agent.policy_kwargs")

# The built-in demo (``wnrl compare`` without a file); configs/sweeps/demo.yaml is the same sweep.
_PPO = {"n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20,
        "ent_coef": 0.0, "learning_rate": "lin_0.001", "clip_range": "lin_0.2"}
_DQN = {"learning_rate": 2.3e-3, "batch_size": 64, "buffer_size": 100000, "learning_starts": 1000,
        "gamma": 0.99, "target_update_interval": 10, "train_freq": 256, "gradient_steps": 128,
        "exploration_fraction": 0.16, "exploration_final_eps": 0.04}
DEMO_SWEEP: dict[str, Any] = {
    "name": "demo",
    "description": "PPO and DQN on CartPole-v1 with observation noise: none vs batch vs weight norm",
    "base": {"env": {"id": "CartPole-v1"},
             "agent": {"net_arch": [64, 64]},
             "train": {"device": "cpu", "eval_freq": 10000, "eval_episodes": 5,
                       "eval_noise": True, "diagnostics_freq": 10000}},
    "grid": {"agent.algo": ["ppo", "dqn"], "env.noise.obs_std": [0.0, 0.2],
             "agent.norm": ["none", "batch", "weight"]},
    "seeds": 3,
    "per": {"agent.algo": {
        "ppo": {"env.n_envs": 8, "train.total_timesteps": 40000, "agent.hyperparams": _PPO},
        "dqn": {"env.n_envs": 1, "train.total_timesteps": 25000, "agent.hyperparams": _DQN}}},
}


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
        return ", ".join([f"{k}={_show(v)}" for k, v in self.grid.items()] + [f"seed={self.seed}"])


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
        return {"name": self.name, "source": self.source, "grid_keys": list(self.grid),
                "grid": self.grid, "seeds": self.seeds, "base": self.spec["base"],
                "per": self.spec.get("per", {}), "description": self.spec.get("description", ""),
                "overrides": [f"{k}={json.dumps(v)}" for k, v in self.overrides],
                "runs": [{"id": r.id, "grid": r.grid, "seed": r.seed} for r in self.runs]}


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _slug(value: Any, key: str) -> str:
    text = value if isinstance(value, str) else f"{key.rsplit('.', 1)[-1]}{json.dumps(value)}"
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("_") or "x"


def run_id(config: RunConfig, grid: dict[str, Any], seed: int) -> str:
    """The stable id of a run: readable grid values and seed + sha1 of the resolved config.

    :param config: the resolved run config
    :param grid: the run's grid values (for the readable prefix)
    :param seed: the run's seed
    """
    data = config.model_dump(mode="json")
    data.pop("name", None)
    digest = hashlib.sha1(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    prefix = "-".join([_slug(v, k) for k, v in grid.items()] + [f"s{seed}"])
    return f"{prefix[:80]}-{digest[:10]}"


def config_paths(model: type = RunConfig, prefix: str = "") -> list[str]:
    """Every dotted key of the run config schema (sections and leaves).

    :param model: a pydantic model class
    :param prefix: the dotted path of ``model``
    """
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        sub = _submodel(info.annotation)
        if sub is not None:
            out += config_paths(sub, f"{path}.")
    return out


def _submodel(annotation: Any) -> type | None:
    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        if hasattr(arg, "model_fields"):
            return arg
    return None


def _check_key(key: Any, where: str, source: str) -> str:
    """Check that ``key`` is a dotted config path; ``where`` names the sweep entry (for errors)."""
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{source}: {where}: keys are dotted config keys such as agent.norm, got {key!r}")
    if key == "train.seed":
        raise ConfigError(f"{source}: {where}: train.seed: the seeds come from `seeds`; remove it here")
    if any(key.startswith(f"{s}.") and len(key) > len(s) + 1 for s in _FREE_SECTIONS):
        return key  # free mappings: checked when each run is validated
    valid = config_paths()
    if key not in valid:
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "valid keys look like agent.norm, env.noise.obs_std, train.total_timesteps"
        raise ConfigError(f"{source}: {where}: unknown key {key!r}; {hint}")
    return key


def _parse_seeds(value: Any, source: str) -> list[int]:
    if isinstance(value, bool):
        value = None
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{source}: seeds: must be at least 1 (the number of seeds), got {value}")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool)
                                                 and s >= 0 for s in value):
        if len(set(value)) != len(value):
            raise ConfigError(f"{source}: seeds: {value} repeats a seed; give each seed once")
        return list(value)
    raise ConfigError(f"{source}: seeds: give a number of seeds (e.g. 5) or a list of non-negative "
                      f"integers (e.g. [0, 1, 2]), got {value!r}")


def _parse_grid(value: Any, source: str) -> dict[str, list[Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: grid: must map dotted config keys to lists of values, e.g. "
                          "grid: {agent.norm: [none, weight]}")
    grid = {}
    for key, values in value.items():
        _check_key(key, "grid", source)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: grid: {key}: give a non-empty list of values, e.g. "
                              f"{key}: [{_show(values)}]")
        grid[key] = values
    return grid


def _parse_per(value: Any, grid: dict[str, list[Any]], source: str) -> dict[str, dict[Any, dict[str, Any]]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: per: must map a grid key to {{value: {{dotted key: value}}}}, "
                          "e.g. per: {agent.algo: {dqn: {train.total_timesteps: 50000}}}")
    for key, table in value.items():
        if key not in grid:
            raise ConfigError(f"{source}: per: {key}: not a grid key; `per` settings depend on a grid "
                              f"value (grid keys: {', '.join(grid) or 'none'})")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: per: {key}: must map grid values to {{dotted key: value}}")
        for gv, settings in table.items():
            if not any(_same(gv, v) for v in grid[key]):
                raise ConfigError(f"{source}: per: {key}: {gv!r} is not one of the grid values "
                                  f"{[_show(v) for v in grid[key]]}")
            if not isinstance(settings, dict):
                raise ConfigError(f"{source}: per: {key}: {gv}: must map dotted config keys to values")
            for k in settings:
                _check_key(k, f"per: {key}: {gv}", source)
                if k in grid:
                    raise ConfigError(f"{source}: per: {key}: {gv}: {k} is a grid key; set it in the grid")
    return value


def _same(a: Any, b: Any) -> bool:
    return (a == b and isinstance(a, bool) == isinstance(b, bool)) or str(a) == str(b)


def _per_settings(per: dict[str, Any], key: str, value: Any) -> list[tuple[str, Any]]:
    for gv, settings in per.get(key, {}).items():
        if _same(gv, value):
            return list(settings.items())
    return []


def expand_sweep(data: dict[str, Any], source: str = "<sweep>", base_dir: Path | None = None,
                 overrides: list[str] | None = None) -> Sweep:
    """Expand and validate a sweep mapping into its runs.

    :param data: the sweep mapping (see the module docstring)
    :param source: where it came from, for error messages
    :param base_dir: the folder a ``base`` path is relative to (default: the current directory)
    :param overrides: ``KEY=VALUE`` strings applied to every run (``wnrl compare --set``)
    :raises ConfigError: on the first problem, one line naming ``source`` and the key
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a sweep file is a mapping with the keys {', '.join(SWEEP_KEYS)}")
    for key in data:
        if key not in SWEEP_KEYS:
            close = difflib.get_close_matches(str(key), SWEEP_KEYS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(SWEEP_KEYS)}"
            raise ConfigError(f"{source}: unknown key {key!r}; {hint}")
    name = data.get("name") or Path(source).stem
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{source}: name: {name!r} must use only letters, digits, '_', '.', '-' "
                          "(it names the sweep directory)")
    base = data.get("base")
    if isinstance(base, str):
        path = (base_dir or Path.cwd()) / base
        try:
            base = read_yaml(path)
        except ConfigError as e:
            raise ConfigError(f"{source}: base: {e}") from None
    elif base is None:
        raise ConfigError(f"{source}: base: required; give a run config mapping or the path of a run "
                          "config file (relative to the sweep file)")
    if not isinstance(base, dict):
        raise ConfigError(f"{source}: base: must be a run config mapping or a path, got {_show(base)}")
    if "seeds" not in data:
        raise ConfigError(f"{source}: seeds: required; give a number of seeds (e.g. 5) or a list")
    seeds = _parse_seeds(data["seeds"], source)
    grid = _parse_grid(data.get("grid"), source)
    per = _parse_per(data.get("per"), grid, source)
    sets = parse_overrides(overrides, "--set")
    for key, _ in sets:
        if key in grid:
            raise ConfigError(f"--set {key}: {key} is a grid key of {source}; edit the grid instead")
        if key == "train.seed":
            raise ConfigError(f"--set {key}: the seeds come from `seeds` in {source}")
    spec = {**copy.deepcopy(data), "name": name, "base": base, "grid": grid, "seeds": seeds, "per": per}
    sweep = Sweep(name=name, source=source, spec=spec, overrides=sets)
    seen: dict[str, SweepRun] = {}
    for values in itertools.product(*grid.values()):
        combo = dict(zip(grid, values))
        settings = [kv for k, v in combo.items() for kv in _per_settings(per, k, v)]
        fixed = [("name", name), ("train.progress_bar", False), ("train.torch_threads", 1)]
        for seed in seeds:
            label = ", ".join([f"{k}={_show(v)}" for k, v in combo.items()] + [f"seed={seed}"])
            try:
                resolved = apply_overrides(base, settings + sets + list(combo.items())
                                           + [("train.seed", seed)] + fixed)
            except ConfigError as e:
                raise ConfigError(f"{source}: {e} (in the run {label})") from None
            try:
                config = validate(resolved, source)
                check_hyperparams(config.agent.algo, config.agent.hyperparams)
            except ConfigError as e:
                raise ConfigError(f"{e} (in the run {label})") from None
            except ValueError as e:  # AgentError
                raise ConfigError(f"{source}: {e} (in the run {label})") from None
            run = SweepRun(run_id(config, combo, seed), combo, seed, config)
            if run.id in seen:
                raise ConfigError(f"{source}: grid: the runs {seen[run.id].describe()} and "
                                  f"{run.describe()} have the same config; remove the duplicate value")
            seen[run.id] = run
            sweep.runs.append(run)
    return sweep


def load_sweep(path: str | Path | None, overrides: list[str] | None = None) -> Sweep:
    """Read, expand and validate a sweep file (``None``: the built-in demo sweep).

    :param path: the YAML sweep file
    :param overrides: ``KEY=VALUE`` strings applied to every run (``wnrl compare --set``)
    :raises ConfigError: one line naming the file and the key
    """
    if path is None:
        return expand_sweep(copy.deepcopy(DEMO_SWEEP), "<built-in demo sweep>", overrides=overrides)
    p = Path(path)
    data = read_yaml(p, "sweep file", " (examples in configs/sweeps/)")
    return expand_sweep(data, str(p), p.parent, overrides)

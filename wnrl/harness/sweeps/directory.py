"""Where a sweep goes: :func:`prepare` checks ``--out`` before ``wnrl compare`` writes anything.

* a new or empty directory: the sweep's own index;
* the same sweep (its name and its runs: a resume): its index; runs already there under an older
  id (same config hash, ids written by an older wnrl) keep that id (:func:`reuse_ids`);
* another sweep, or another version of it (other runs): refused, unless ``add``
  (``wnrl compare --add``): the index then keeps every run there and adds the new ones
  (:func:`merge`), so the report covers them all;
* a file, a ``wnrl train`` run directory or a folder inside one, a directory holding sweep
  outputs (``runs/``, ``report.md``, ...) without ``index.json``, an unreadable ``index.json``,
  a path that cannot be a directory (:func:`wnrl.train.rundir.check_dir_path`): refused.

Every refusal is one :class:`~wnrl.config.ConfigError` line and leaves the directory untouched.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from wnrl.config import ConfigError, read_yaml
from wnrl.harness.sweeps.index import RUN_FILES, SWEEP_OUTPUTS, read_index, run_dir_of
from wnrl.harness.sweeps.spec import NOT_HASHED, Sweep, expand_sweep
from wnrl.harness.sweeps.values import show
from wnrl.train.rundir import check_dir_path

__all__ = ["check_out", "merge", "prepare", "reuse_ids", "sweep_parts"]

_ADD = "choose another --out, or pass --add to add these runs to it (the runs there are kept)"
_SPEC_KEYS = ("name", "source", "description", "base", "grid", "seeds", "per", "overrides")


def check_out(sweep_dir: Path) -> dict[str, Any] | None:
    """The index of ``sweep_dir`` (``None``: no sweep there yet) when a sweep may be written there.

    :param sweep_dir: the ``--out`` directory
    :raises ConfigError: on a file, a run directory (or inside one), sweep outputs without an
        index, an unreadable index, a path that cannot be a directory (a symbolic link loop, a
        name too long)
    """
    check_dir_path(sweep_dir, f"--out {sweep_dir}", "choose another --out")
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise ConfigError(f"--out {sweep_dir}: is a file, not a directory; choose another --out (a new directory)")
    run = run_dir_of(sweep_dir)
    if run is not None:
        where = "is" if run == sweep_dir.resolve() else f"is inside {run}, which is"
        raise ConfigError(
            f"--out {sweep_dir}: {where} a `wnrl train` run directory (it holds {', '.join(RUN_FILES[:3])}); "
            "choose another --out (e.g. sweeps/<name>)"
        )
    if not sweep_dir.is_dir():
        return None
    index = read_index(sweep_dir)
    if index is None:
        found = [name for name in SWEEP_OUTPUTS if (sweep_dir / name).exists()]
        if found:
            raise ConfigError(
                f"--out {sweep_dir}: holds {found[0]} but no index.json, so it is not a sweep directory "
                "and writing the sweep there would replace what is there; choose another --out"
            )
    return index


def _digest(run_id: str) -> str:
    return run_id.rsplit("-", 1)[-1]


def reuse_ids(sweep: Sweep, index: dict[str, Any]) -> Sweep:
    """``sweep`` with the ids of ``index`` for the runs it already holds under another id.

    An id ends with the hash of the run's config; a run of the index with the same hash is the
    same run (written under an older id format, e.g. before ids named the environment).

    :param sweep: the expanded sweep
    :param index: the index of the sweep directory
    """
    there = {_digest(r["id"]): r["id"] for r in index["runs"]}
    runs = [dataclasses.replace(r, id=there.get(_digest(r.id), r.id)) for r in sweep.runs]
    return dataclasses.replace(sweep, runs=runs)


def _part(sweep: Sweep) -> dict[str, Any]:
    """The entry of ``sweep`` in the index's ``sweeps``: its spec and its run ids."""
    spec = sweep.index()
    return {**{k: spec[k] for k in _SPEC_KEYS}, "runs": [r.id for r in sweep.runs]}


def sweep_parts(index: dict[str, Any]) -> list[dict[str, Any]]:
    """The sweeps written into a directory: the index's ``sweeps``, else the index's own sweep.

    :param index: a sweep index
    """
    if index.get("sweeps"):
        return list(index["sweeps"])
    return [{**{k: index.get(k) for k in _SPEC_KEYS}, "runs": [r["id"] for r in index["runs"]]}]


def _holds(index: dict[str, Any]) -> str:
    parts = [f"{p['name']!r} ({p.get('source')})" for p in sweep_parts(index)]
    return f"sweep {parts[0]}" if len(parts) == 1 else f"the sweeps {', '.join(parts)}"


def _same(part: dict[str, Any], sweep: Sweep) -> bool:
    return (
        part.get("name") == sweep.name
        and set(part.get("runs") or []) == {r.id for r in sweep.runs}
        and list(part.get("grid") or {}) == list(sweep.grid)
    )


def _refusal(sweep_dir: Path, index: dict[str, Any], sweep: Sweep) -> ConfigError:
    there = {r["id"] for r in index["runs"]}
    if all(p.get("name") != sweep.name for p in sweep_parts(index)):
        return ConfigError(f"--out {sweep_dir}: holds {_holds(index)}, not {sweep.name!r} ({sweep.source}); {_ADD}")
    both = sum(r.id in there for r in sweep.runs)
    return ConfigError(
        f"--out {sweep_dir}: holds another version of the sweep {sweep.name!r} ({len(there)} runs there, "
        f"{len(sweep.runs)} in {sweep.source}, {both} in both); {_ADD}"
    )


def prepare(sweep: Sweep, sweep_dir: Path, add: bool = False) -> tuple[Sweep, dict[str, Any]]:
    """The sweep to run (with the run ids already in ``sweep_dir``) and the index to write
    (without ``command`` and ``sessions``). Writes nothing.

    :param sweep: the expanded sweep
    :param sweep_dir: the ``--out`` directory
    :param add: add the sweep to a directory holding another one (``--add``)
    :raises ConfigError: when the sweep may not go there (see the module docstring)
    """
    index = check_out(sweep_dir)
    if index is None:
        return sweep, sweep.index()
    sweep = reuse_ids(sweep, index)
    parts = sweep_parts(index)
    if any(_same(p, sweep) for p in parts):
        if len(parts) == 1:
            return sweep, sweep.index()
        return sweep, {k: v for k, v in index.items() if k not in ("command", "sessions")}
    if not add:
        raise _refusal(sweep_dir, index, sweep)
    return sweep, merge(index, sweep, sweep_dir)


# --------------------------------------------------------------------------------------------
# Adding a sweep to a directory that holds another one
# --------------------------------------------------------------------------------------------


def _get(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None  # not set: the default
        node = node[part]
    return node


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class _Configs:
    """The resolved configs (as data) of the runs of a merge: the new sweep's, then the sweeps
    already in the directory expanded again from their index, then ``runs/<id>/config.yaml``."""

    def __init__(self, sweep: Sweep, index: dict[str, Any], sweep_dir: Path) -> None:
        self.sweep_dir, self.index = sweep_dir, index
        self.known = {r.id: r.config.model_dump(mode="json") for r in sweep.runs}
        self.expanded = False

    def _expand_old(self) -> None:
        self.expanded = True
        there = {_digest(r["id"]): r["id"] for r in self.index["runs"]}
        for part in sweep_parts(self.index):
            data = {k: part[k] for k in ("name", "description", "base", "grid", "seeds", "per") if part.get(k)}
            try:
                old = expand_sweep(data, str(part.get("source")), overrides=list(part.get("overrides") or []))
            except (ConfigError, KeyError, TypeError, ValueError):
                continue  # a spec this version of wnrl reads differently: config.yaml below
            for r in old.runs:
                if _digest(r.id) in there:
                    self.known.setdefault(there[_digest(r.id)], r.config.model_dump(mode="json"))

    def get(self, run_id: str) -> dict[str, Any] | None:
        if run_id not in self.known and not self.expanded:
            self._expand_old()
        if run_id not in self.known:
            try:
                self.known[run_id] = read_yaml(self.sweep_dir / "runs" / run_id / "config.yaml")
            except ConfigError:
                return None
        return self.known[run_id]


def _value(entry: dict[str, Any], key: str, configs: _Configs, sweep_dir: Path) -> Any:
    if key in entry["grid"]:
        return entry["grid"][key]
    config = configs.get(entry["id"])
    if config is None:
        raise ConfigError(
            f"--out {sweep_dir}: --add: cannot tell the {key} of the run {entry['id']} there (no "
            "config.yaml, and its sweep no longer expands); choose another --out"
        )
    return _get(config, key)


def _unique(values: list[Any]) -> list[Any]:
    return list({json.dumps(v, sort_keys=True): v for v in values}.values())


def _check_distinct(entries: list[dict[str, Any]], keys: list[str], configs: _Configs, sweep: Sweep) -> None:
    """Two runs with the same grid values and seed would count as seeds of one setting."""
    seen: dict[str, str] = {}
    for e in entries:
        sig = json.dumps([[e["grid"][k] for k in keys], e["seed"]], sort_keys=True)
        if sig in seen:
            a, b = configs.get(seen[sig]), configs.get(e["id"])
            differ = ""
            if a is not None and b is not None:
                fa, fb = _flat(a), _flat(b)
                keys_differ = sorted(k for k in fa.keys() | fb.keys() if k != "name" and fa.get(k) != fb.get(k))
                differ = f" (they differ in {', '.join(keys_differ[:3])})" if keys_differ else ""
            raise ConfigError(
                f"{sweep.source}: --add: the run {e['id']} has the grid values and seed of the run "
                f"{seen[sig]} already there, but another config{differ}; the report would count them "
                "as one setting: make that difference a grid key of the sweep, or choose another --out"
            )
        seen[sig] = e["id"]


#: Flat config keys that differ between the seeds of one setting, or only change how a run is watched.
_NOT_A_SETTING = {"name", "train.seed", *(f"{section}.{key}" for section, keys in NOT_HASHED.items() for key in keys)}


def _setting(config: dict[str, Any]) -> dict[str, Any]:
    """What makes a run's setting: its flat config less :data:`_NOT_A_SETTING`."""
    return {k: v for k, v in _flat(config).items() if k not in _NOT_A_SETTING}


def _check_same_settings(
    entries: list[dict[str, Any]], keys: list[str], configs: _Configs, sweep: Sweep, sweep_dir: Path
) -> None:
    """A new run and a run there with the same grid values but another config (another budget or
    learning rate given with ``--set``) would be pooled as seeds of one setting: refused.

    :param entries: the merged runs (the ones there first)
    :param keys: the merged grid keys
    :param configs: the runs' configs
    :param sweep: the sweep being added
    :param sweep_dir: the sweep directory
    :raises ConfigError: naming the first differing keys and their values
    """
    new = {r.id for r in sweep.runs}
    first: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for e in entries:
        config = configs.get(e["id"])
        if config is None:
            continue
        sig = json.dumps([e["grid"][k] for k in keys], sort_keys=True)
        if sig not in first:
            first[sig] = (e, _setting(config))
            continue
        there, setting = first[sig]
        if (e["id"] in new) == (there["id"] in new):
            continue  # both new or both there: not this --add's doing
        mine = _setting(config)
        differ = sorted(k for k in mine.keys() | setting.keys() if mine.get(k) != setting.get(k))
        if differ:
            values = "; ".join(f"{k}: {show(mine.get(k))} here, {show(setting.get(k))} there" for k in differ[:3])
            where = ", ".join(f"{k}={show(e['grid'][k])}" for k in keys) or "the one setting"
            raise ConfigError(
                f"{sweep.source}: --add: its runs and the runs in {sweep_dir} with the same grid values ({where}) "
                f"differ in {values}; the report would pool them as seeds of one setting: give the same --set "
                f"as the runs there, make {differ[0]} a grid key, or choose another --out"
            )


def merge(index: dict[str, Any], sweep: Sweep, sweep_dir: Path) -> dict[str, Any]:
    """The index of ``sweep_dir`` with ``sweep``'s runs added (without ``command`` and ``sessions``).

    Every run there is kept. When the sweep holds every one of them, its own index is the
    merge. Otherwise the grid keys are the union (with ``env.id`` added when the environments
    differ); a run gets the value of a grid key its sweep did not vary from its resolved config.

    :param index: the index of ``sweep_dir``
    :param sweep: the sweep to add (ids from :func:`reuse_ids`)
    :param sweep_dir: the sweep directory
    :raises ConfigError: when two runs would count as one setting (the same seed, or runs there
        with another config), or a run's config is unknown
    """
    ids = {r.id for r in sweep.runs}
    if all(r["id"] in ids for r in index["runs"]):
        return sweep.index()
    keys = list(index["grid_keys"]) + [k for k in sweep.grid if k not in index["grid_keys"]]
    entries = {r["id"]: {"id": r["id"], "grid": dict(r["grid"]), "seed": r["seed"]} for r in index["runs"]}
    for r in sweep.runs:
        entries.setdefault(r.id, {"id": r.id, "grid": dict(r.grid), "seed": r.seed})
    configs = _Configs(sweep, index, sweep_dir)
    if "env.id" not in keys and len(_unique([_value(e, "env.id", configs, sweep_dir) for e in entries.values()])) > 1:
        keys.append("env.id")
    for e in entries.values():
        e["grid"] = {k: _value(e, k, configs, sweep_dir) for k in keys}
    _check_distinct(list(entries.values()), keys, configs, sweep)
    _check_same_settings(list(entries.values()), keys, configs, sweep, sweep_dir)
    parts = [p for p in sweep_parts(index) if not _same(p, sweep)] + [_part(sweep)]
    return {
        **{k: v for k, v in index.items() if k not in ("command", "sessions")},
        "grid_keys": keys,
        "grid": {k: _unique([e["grid"][k] for e in entries.values()]) for k in keys},
        "seeds": sorted({*index["seeds"], *sweep.seeds}),
        "runs": list(entries.values()),
        "sweeps": parts,
    }

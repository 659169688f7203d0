"""``index.json`` of a sweep directory, read and checked, and what else a directory may be.

``index.json`` (written by ``wnrl compare``) holds the sweep's name, source, grid keys and values,
seeds, spec (``base``, ``per``, ``overrides``), ``runs`` (``[{id, grid, seed}]``, what the report
covers), ``command``, ``sessions`` and, once sweeps were added to the directory
(``wnrl compare --add``), ``sweeps``: one entry per sweep written into it (its spec and run ids).

:func:`read_index` is the one reader: an index of the wrong shape (edited by hand, damaged) is a
one-line :class:`~wnrl.config.ConfigError`, never a traceback later on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wnrl.config import ConfigError
from wnrl.config.schema import NAME_PATTERN
from wnrl.train.rundir import read_json

__all__ = ["INDEX_FILE", "RUN_FILES", "SWEEP_OUTPUTS", "check_index", "index_problem", "read_index", "run_dir_of"]

INDEX_FILE = "index.json"
#: What ``wnrl train`` writes into a run directory (a directory holding any of them is a run's).
RUN_FILES = ("config.yaml", "system.json", "result.json", "curve.json", "model.zip")
#: What ``wnrl compare`` and ``wnrl report`` write beside ``index.json``.
SWEEP_OUTPUTS = ("runs", "report.md", "results.csv", "summary.json", "figures")
_NAME = re.compile(NAME_PATTERN)
_FIX = "restore it, or run the sweep again into a new --out"


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _run_problem(i: int, run: Any, keys: list[str]) -> str | None:
    """What is wrong with ``runs[i]`` (``None``: nothing)."""
    if not isinstance(run, dict):
        return f"runs[{i}]: not a mapping {{id, grid, seed}}"
    rid = run.get("id")
    if not isinstance(rid, str) or not _NAME.match(rid) or rid in (".", ".."):
        return f"runs[{i}]: id: {rid!r} is not a run id (letters, digits, '_', '.', '-')"
    if not isinstance(run.get("grid"), dict):
        return f"runs[{i}]: grid: missing or not a mapping (run {rid})"
    missing = [k for k in keys if k not in run["grid"]]
    if missing:
        return f"runs[{i}]: grid: no value for the grid key {missing[0]} (run {rid})"
    if not _is_int(run.get("seed")):
        return f"runs[{i}]: seed: {run.get('seed')!r} is not an integer (run {rid})"
    return None


def index_problem(index: Any) -> str | None:
    """What makes ``index`` unusable as a sweep index, as ``KEY: problem`` (``None``: nothing).

    :param index: the parsed ``index.json``
    """
    if not isinstance(index, dict):
        return f"not a sweep index (a JSON object), got a JSON {type(index).__name__}"
    keys = index.get("grid_keys")
    checks = [
        ("name", isinstance(index.get("name"), str)),
        ("grid_keys", isinstance(keys, list) and all(isinstance(k, str) for k in keys)),
        ("grid", isinstance(index.get("grid"), dict) and all(isinstance(v, list) for v in index["grid"].values())),
        ("seeds", isinstance(index.get("seeds"), list) and all(_is_int(s) for s in index["seeds"])),
        ("runs", isinstance(index.get("runs"), list)),
        ("sessions", all(isinstance(s, dict) for s in index.get("sessions") or [])),
        ("sweeps", all(isinstance(s, dict) for s in index.get("sweeps") or [])),
    ]
    for key, ok in checks:
        if not ok:
            return f"{key}: missing or of the wrong type"
    assert isinstance(keys, list)
    seen: set[str] = set()
    for i, run in enumerate(index["runs"]):
        problem = _run_problem(i, run, keys)
        if problem:
            return problem
        if run["id"] in seen:
            return f"runs[{i}]: id: {run['id']} is listed twice"
        seen.add(run["id"])
    return None


def check_index(index: Any, path: Path) -> dict[str, Any]:
    """``index`` when it is a usable sweep index.

    :param index: the parsed ``index.json``
    :param path: its path (for the message)
    :raises ConfigError: one line naming the file and the key
    """
    problem = index_problem(index)
    if problem:
        raise ConfigError(f"{path}: {problem}; {_FIX}")
    assert isinstance(index, dict)
    return index


def read_index(sweep_dir: Path) -> dict[str, Any] | None:
    """The checked ``index.json`` of ``sweep_dir``; ``None`` when there is none.

    :param sweep_dir: a directory
    :raises ConfigError: when it exists but cannot be read or is not a sweep index
    """
    path = sweep_dir / INDEX_FILE
    try:
        data = read_json(path, lambda what: ConfigError(f"{path}: {what}; {_FIX}"))
    except FileNotFoundError:
        return None
    return check_index(data, path)


def run_dir_of(path: Path) -> Path | None:
    """The ``wnrl train`` run directory that ``path`` is or lies in (``None``: none).

    ``path`` itself counts when it holds any run file and no ``index.json``; a folder above it
    when it holds both ``config.yaml`` and ``system.json`` (what every run writes first).

    :param path: a directory (need not exist)
    """
    here = path.resolve()
    if here.is_dir() and not (here / INDEX_FILE).exists() and any((here / f).exists() for f in RUN_FILES):
        return here
    for parent in here.parents:
        if (parent / "config.yaml").is_file() and (parent / "system.json").is_file():
            return parent
    return None

"""Reading configs: safe YAML, ``--set key=value`` overrides, one-line errors.

Every problem becomes a :class:`ConfigError` whose message names the file, the key and the fix,
e.g. ``configs/x.yaml: agent.norm: 'weigth' is not valid; valid values: 'none', ...``. The CLI
prints it on one line and exits with code 2.
"""

from __future__ import annotations

import copy
import sys
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from wnrl.config.safe_yaml import SafeLoader, YAMLRefused, yaml_load
from wnrl.config.schema import RunConfig
from wnrl.config.suggest import suggest
from wnrl.registry import ZOO_KEYS, zoo_hint

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "ConfigError",
    "SafeLoader",
    "apply_overrides",
    "dump_config",
    "load_config",
    "parse_overrides",
    "read_yaml",
    "resolve_path",
    "shipped",
    "validate",
    "validate_model",
    "yaml_load",
]


class ConfigError(ValueError):
    """Bad user input; the message is one line naming file, key and fix."""


#: Where the shipped files of each kind are, inside the ``wnrl.configs`` package data.
SHIPPED = {"config file": "", "sweep file": "sweeps", "tune file": "tune"}


def shipped(kind: str = "config file") -> dict[str, Path]:
    """The YAML files wnrl ships of ``kind``, by name (``cartpole_ppo`` → its path)."""
    folder = Path(str(resources.files("wnrl.configs"))) / SHIPPED[kind]
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


#: The path ``-`` stands for: standard input (``wnrl train - < cfg.yaml``, ``cat cfg.yaml | wnrl train -``).
STDIN = "-"
#: The most bytes a YAML file wnrl reads may hold (a config is a few KB; ``/dev/zero`` never ends).
MAX_YAML_BYTES = 10 * 1024 * 1024


def resolve_path(path: str | Path, kind: str = "config file") -> Path:
    """``path`` itself when it exists, else the shipped file of that name (``cartpole_ppo`` or
    ``cartpole_ppo.yaml``: usable from an installed wnrl, without a checkout); ``-`` is
    ``/dev/stdin`` (where the system has it)."""
    if str(path) == STDIN and Path("/dev/stdin").exists():
        return Path("/dev/stdin")
    p = Path(path)
    if p.exists() or kind not in SHIPPED or p.parent != Path("."):
        return p
    return shipped(kind).get(p.name.removesuffix(".yaml"), p)


def _read_text(p: Path, kind: str, hint: str) -> str:
    """The UTF-8 text of ``p``: a regular file, a named pipe, ``/dev/stdin`` or ``-``.

    :param p: the resolved path
    :param kind: what the file is, for messages
    :param hint: appended to the missing-file message
    :raises ConfigError: a directory, a missing or unreadable file, more than
        :data:`MAX_YAML_BYTES` (``/dev/zero``), binary or non-UTF-8 bytes
    """
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory; give a YAML {kind} (e.g. one in it){hint}")
    if str(p) != STDIN and not p.exists():
        names = list(shipped(kind)) if kind in SHIPPED else []
        listed = f"; {suggest(p.stem, names, f'shipped {kind}s (by name)')}" if names else ""
        raise ConfigError(f"{p}: no such {kind}; check the path{hint}{listed}")
    try:
        if str(p) == STDIN:
            raw = sys.stdin.buffer.read(MAX_YAML_BYTES + 1)
        else:
            with open(p, "rb") as f:
                raw = f.read(MAX_YAML_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{p}: cannot be read ({e.strerror or e}); check that it is a readable {kind}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(
            f"{p}: more than {MAX_YAML_BYTES // 2**20} MB, too large for a YAML {kind}; give the {kind} itself"
        )
    if b"\0" in raw:
        raise ConfigError(f"{p}: not a text file (byte {raw.index(0)} is 0x00); give a YAML {kind}, saved as UTF-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{p}: not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x}); save it as UTF-8, "
            f"e.g. iconv -f latin1 -t utf-8 {p} > fixed.yaml"
        ) from None


def read_yaml(path: str | Path, kind: str = "config file", hint: str = "") -> dict[str, Any]:
    """Read a YAML mapping with :class:`SafeLoader`; any problem is a one-line ConfigError.

    Every YAML file wnrl reads (configs, sweep and tune files, their ``base`` files, a run's
    ``config.yaml``) goes through here: duplicate keys and alias bombs are refused
    (:mod:`wnrl.config.safe_yaml`), named pipes and ``-`` (standard input) are read.

    :param path: the file, or the name of a shipped one (see :func:`resolve_path`)
    :param kind: what the file is, for messages ("config file", "sweep file")
    :param hint: appended to the missing-file message
    """
    p = resolve_path(path, kind)
    text = _read_text(p, kind, hint)
    try:
        data = yaml_load(text)
    except YAMLRefused as e:
        raise ConfigError(f"{p}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{p}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{p}: nested too deeply to read; flatten the nested lists or mappings") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a {kind} must be a mapping of keys, got a {type(data).__name__}")
    return data


def parse_overrides(items: list[str] | None, source: str = "--set") -> list[tuple[str, Any]]:
    """``["agent.norm=batch", "train.seed=3"]`` → ``[("agent.norm", "batch"), ("train.seed", 3)]``.

    Values are parsed as YAML scalars/lists (``3`` → int, ``[64, 64]`` → list, ``true`` → bool);
    text that is not YAML is kept as a string, a duplicate key or an alias bomb is refused.
    """
    out = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{source} {item!r}: write KEY=VALUE, e.g. --set agent.norm=batch")
        try:
            value = yaml_load(raw) if raw.strip() else ""
        except YAMLRefused as e:
            raise ConfigError(f"{source} {item!r}: {e}") from None
        except (yaml.YAMLError, RecursionError):
            value = raw
        out.append((key.strip(), value))
    return out


def apply_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """A copy of ``data`` with dotted keys set (intermediate mappings are created)."""
    data = copy.deepcopy(data)
    for key, value in overrides:
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part!r} is not a section")
            node = child
        node[parts[-1]] = copy.deepcopy(value)  # a `per:` mapping set here must not be shared with its source
    return data


def _model_at(loc: tuple[Any, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    model: Any = root
    parts = iter(loc)
    for part in parts:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return None
        model = fields[part].annotation
        if getattr(model, "__origin__", None) is dict:  # a mapping section: the next part is a free key
            if next(parts, None) is None:
                return None
            model = model.__args__[1]
        elif hasattr(model, "__args__"):  # Optional[...] etc.
            model = next((a for a in model.__args__ if hasattr(a, "model_fields")), None)
    return model if hasattr(model, "model_fields") else None


def _leaf_paths(root: type[BaseModel]) -> dict[str, str]:
    """Each key of a section → its dotted path (``total_timesteps`` → ``train.total_timesteps``)."""
    paths: dict[str, str] = {}
    for section in root.model_fields:
        model = _model_at((section,), root)
        for leaf in model.model_fields if model else ():
            paths.setdefault(leaf, f"{section}.{leaf}")
    return paths


def _unknown_key_fix(loc: tuple[Any, ...], root: type[BaseModel]) -> str:
    """The fix for an unknown key: rl-baselines3-zoo's name for it, the section it belongs in,
    or the nearest valid spelling."""
    name = str(loc[-1])
    if name in ZOO_KEYS:
        return zoo_hint(name)
    elsewhere = _leaf_paths(root).get(name)
    if elsewhere and elsewhere != ".".join(map(str, loc)):
        return f"it belongs under {elsewhere.split('.')[0]}: write {elsewhere}"
    parent = _model_at(loc[:-1], root)
    return suggest(name, list(parent.model_fields) if parent else [], "valid keys")


def _describe(err: Any, root: type[BaseModel]) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    key = ".".join(str(p) for p in loc)
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return f"unknown key {key!r}; {_unknown_key_fix(loc, root)}"
    if kind == "missing":
        return f"{key}: required key is missing; add it"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        if msg.startswith("unknown key '"):  # raised by a section's validator: relative path
            return f"unknown key '{key}.{msg[len('unknown key ' + chr(39)) :]}" if key else msg
        if msg.startswith(("hyperparams.", "policy_kwargs.")):
            return f"{key}.{msg}"
        return f"{key}: {msg}" if key else msg
    value = err.get("input")
    shown = f" (got {value!r})" if not isinstance(value, (dict, list)) else ""
    return f"{key}: {msg[0].lower() + msg[1:]}{shown}"


def validate_model(model: type[M], data: Any, source: str) -> M:
    """Validate ``data`` as the pydantic ``model`` (the run config, a sweep file, ...); the first
    problem raises one :class:`ConfigError` line: ``SOURCE: KEY: problem; fix``.

    :param model: the schema
    :param data: the mapping read from ``source``
    :param source: the file, for the message
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{source}: {_describe(e.errors()[0], model)}") from None


def validate(data: dict[str, Any], source: str = "<config>") -> RunConfig:
    """Validate a run config mapping; the first problem raises :class:`ConfigError`."""
    return validate_model(RunConfig, data, source)


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a run config.

    :param path: YAML file
    :param overrides: ``KEY=VALUE`` strings (``--set``)
    """
    data = apply_overrides(read_yaml(path), parse_overrides(overrides))
    return validate(data, str(resolve_path(path)))


def dump_config(config: RunConfig) -> str:
    """The resolved config as YAML (what a run directory stores)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)

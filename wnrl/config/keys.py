"""The dotted keys of the run config (``agent.norm``, ``env.noise.obs_std``) that sweep and tune
files vary, checked against the schema with a suggestion for a misspelt one.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from wnrl.config.schema import RunConfig
from wnrl.config.suggest import suggest

__all__ = ["FREE_SECTIONS", "check_key", "config_paths"]

#: Sections whose keys are free (checked when each run is validated, not against the schema).
FREE_SECTIONS = ("env.kwargs", "agent.hyperparams", "agent.policy_kwargs")


def config_paths(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[str]:
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


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        if hasattr(arg, "model_fields"):
            return arg
    return None


def check_key(key: Any, where: str, example: str = "train.total_timesteps") -> str:
    """Check that ``key`` is a dotted config path (seeds are not: they have their own entry).

    :param key: the key as written
    :param where: the file entry it is in (for the error)
    :param example: a third example key for the error's hint
    :returns: ``key``
    :raises ValueError: one line naming the entry, the key and a fix
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"{where}: keys are dotted config keys such as agent.norm, got {key!r}")
    if key == "train.seed":
        raise ValueError(f"{where}: train.seed: the seeds come from `seeds`; remove it here")
    if any(key.startswith(f"{s}.") and len(key) > len(s) + 1 for s in FREE_SECTIONS):
        return key  # free mappings: checked when each run is validated
    valid = config_paths()
    if key not in valid:
        hint = suggest(key, valid)
        if not hint.startswith("did you mean"):  # not the list of every config key
            hint = f"valid keys look like agent.norm, env.noise.obs_std, {example}"
        raise ValueError(f"{where}: unknown key {key!r}; {hint}")
    return key

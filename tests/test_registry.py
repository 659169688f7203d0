"""The registry's helpers in their homes: the did-you-mean (:mod:`wnrl.config.suggest`) and the lazy
exports (:mod:`wnrl._lazy`), and the registry itself a leaf that loads nothing of wnrl."""

from __future__ import annotations

import subprocess
import sys

import pytest

import wnrl.train
from wnrl._lazy import lazy_exports
from wnrl.config.suggest import suggest


def test_suggest_names_the_close_match_or_lists_the_valid_names() -> None:
    assert suggest("nrom", ["norm", "algo"]) == "did you mean 'norm'?"
    assert suggest("xyz", ["norm", "algo"], "valid keys") == "valid keys: norm, algo"
    both = "did you mean 'weight'? valid values: 'weight', 'none'"
    assert suggest("weigth", ["weight", "none"], show_all=True) == both


def test_lazy_exports_import_a_name_on_first_use_and_refuse_an_unknown_one() -> None:
    names, getattr_, dir_ = lazy_exports("wnrl.train", {"wnrl.train.rundir": ("atomic_write_text",)})
    assert names == ["atomic_write_text"]
    assert getattr_("atomic_write_text").__module__ == "wnrl.train.rundir"
    assert "atomic_write_text" in dir_()
    with pytest.raises(AttributeError, match="module 'wnrl.train' has no attribute 'nope'"):
        getattr_("nope")
    with pytest.raises(AttributeError):
        wnrl.train.nope  # noqa: B018


def test_the_registry_and_the_lazy_exports_load_nothing_of_wnrl() -> None:
    """Leaves: importing them loads no other wnrl module (nor pydantic, yaml or torch)."""
    code = (
        "import sys, wnrl.registry, wnrl._lazy\n"
        "extra = sorted(m for m in sys.modules if m.startswith('wnrl.') and m not in ('wnrl.registry', 'wnrl._lazy'))\n"
        "heavy = [m for m in ('torch', 'pydantic', 'yaml') if m in sys.modules]\n"
        "print(extra, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "[]"], out

"""Optuna storage and studies of a tune: SQLite in the tune directory by default, any database URL
Optuna accepts (``postgresql://...``), or ``journal:PATH`` (Optuna's journal file storage).

Each study records the digest of the tune file that created it; a study created by another tune
file is refused (one line, nothing written).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from wnrl.config import ConfigError
from wnrl.harness.tune.spec import Study, Tune

__all__ = ["DB_FILE", "check_studies", "make_pruner", "make_sampler", "open_storage", "open_studies", "storage_url"]

DB_FILE = "optuna.db"


def storage_url(storage: str | None, tune_dir: Path) -> str:
    """The storage URL: ``storage`` or the SQLite file of the tune directory (its path
    percent-quoted: a ``?``, ``#`` or ``%`` in a folder name stays part of the path).

    :param storage: a URL, ``journal:PATH`` or ``None``
    :param tune_dir: the tune directory
    """
    return storage or f"sqlite:///{quote(str((tune_dir / DB_FILE).resolve()), safe='/')}"


def shown(url: str) -> str:
    """``url`` without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:200] or type(e).__name__


def open_storage(url: str, source: str) -> Any:
    """Connect to an Optuna storage.

    :param url: the storage URL (see :func:`storage_url`)
    :param source: the tune file, for messages
    :raises ConfigError: when it cannot be reached
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

            path = Path(url.removeprefix("journal:")).expanduser()
            if not path.parent.is_dir():
                raise FileNotFoundError(f"no folder {path.parent}")
            return optuna.storages.JournalStorage(
                JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
            )
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 120}
        elif url.startswith("postgresql"):
            kwargs["connect_args"] = {"connect_timeout": 10}
        return _rdb(url, kwargs)
    except Exception as e:  # sqlalchemy / driver / OS errors
        raise ConfigError(
            f"{source}: storage: cannot reach {shown(url)} ({_one_line(e)}); check the URL and that the "
            "database server runs (or leave storage out for SQLite in the tune directory)"
        ) from None


def _rdb(url: str, kwargs: dict[str, Any]) -> Any:
    """An RDB storage; SQLite is retried while another process creates the same file's tables."""
    import optuna

    tries = 20 if url.startswith("sqlite") else 1
    for i in range(tries):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except Exception:
            if i == tries - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def check_studies(tune: Tune, storage: Any, url: str) -> None:
    """Refuse studies of the storage that another tune file created.

    :param tune: the tune
    :param storage: the Optuna storage
    :param url: its URL (for the message)
    :raises ConfigError: naming the study, its tune file and the fix
    """
    for cell in tune.cells:
        try:
            study_id = storage.get_study_id_from_name(cell.study_name)
        except KeyError:
            continue
        attrs = storage.get_study_user_attrs(study_id)
        digest = attrs.get("wnrl_digest")
        if digest is not None and digest != tune.digest:
            raise ConfigError(
                f"{tune.source}: storage: the study {cell.study_name!r} in {shown(url)} was created by "
                f"another tune file ({attrs.get('wnrl_source', '?')}, digest {digest}, this one {tune.digest}); "
                "give this tune another name, or another storage / --out"
            )


def _seed(tune: Tune, index: int) -> int:
    import numpy as np

    # cooperating processes on one storage must not draw the same points: mix in the pid
    return int(np.random.SeedSequence([tune.spec.sampler.seed, index, os.getpid()]).generate_state(1)[0])


def make_sampler(tune: Tune, index: int) -> Any:
    """The sampler of study ``index``.

    :param tune: the tune
    :param index: the study's position in ``tune.cells``
    """
    import optuna

    s = tune.spec.sampler
    if s.type == "grid":

        class Grid(optuna.samplers.GridSampler):
            """A grid sampler whose study ends with its budget, not with the grid (no ``study.stop``:
            trials are asked and told outside ``optimize``)."""

            def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
                return None

        space = {k: p.grid_values() or [] for k, p in tune.spec.space.items()}
        return Grid(space, seed=_seed(tune, index))
    if s.type == "random":
        return optuna.samplers.RandomSampler(seed=_seed(tune, index))
    return optuna.samplers.TPESampler(
        seed=_seed(tune, index), n_startup_trials=s.n_startup_trials, constant_liar=True, multivariate=True
    )


def make_pruner(tune: Tune) -> Any:
    """The pruner (steps are evaluations: 1, 2, ...).

    :param tune: the tune
    """
    import optuna

    p = tune.spec.pruner
    if p.type == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=p.n_startup_trials, n_warmup_steps=p.n_warmup_steps)
    if p.type == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=p.min_resource, reduction_factor=p.reduction_factor)
    return optuna.pruners.NopPruner()


def open_studies(tune: Tune, storage: Any) -> dict[str, Any]:
    """Create or load one study per cell (maximised), recording the tune file's digest.

    :param tune: the tune
    :param storage: the Optuna storage
    :returns: study name -> study
    """
    import optuna

    out = {}
    for i, cell in enumerate(tune.cells):
        study = optuna.create_study(
            study_name=cell.study_name,
            storage=storage,
            sampler=make_sampler(tune, i),
            pruner=make_pruner(tune),
            direction="maximize",
            load_if_exists=True,
        )
        if "wnrl_digest" not in study.user_attrs:
            for key, value in _attrs(tune, cell).items():
                study.set_user_attr(key, value)
        out[cell.study_name] = study
    return out


def _attrs(tune: Tune, cell: Study) -> dict[str, Any]:
    return {
        "wnrl_digest": tune.digest,
        "wnrl_source": tune.source,
        "wnrl_variant": cell.variant,
        "wnrl_group": cell.group,
        "wnrl_budget": tune.budget,
        "wnrl_seeds": tune.spec.seeds,
    }

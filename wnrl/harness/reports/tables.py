"""The tables of a sweep's report: each is one list of :class:`Column` s.

A column's header and its cells come from the same :class:`Column` entry, so the header of a table
can never disagree with its values (an earlier report swapped two columns whose headers and
values were kept in two lists). :func:`markdown_table` writes the tables of ``report.md``,
:func:`write_results_csv` the columns of :func:`csv_columns`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from wnrl.harness.reports.rows import Row
from wnrl.harness.reports.summary import GroupSummary
from wnrl.harness.stats.aggregate import Interval
from wnrl.train.rundir import atomic_write_text

__all__ = [
    "AGGREGATE_COLUMNS",
    "PROBLEM_COLUMNS",
    "Column",
    "aggregate_columns",
    "csv_columns",
    "fmt",
    "fmt_ci",
    "group_columns",
    "markdown_table",
    "poi_columns",
    "short_key",
    "write_results_csv",
]

T = TypeVar("T")
#: The columns of the aggregate table, in order: ``(metric of stats.aggregate, header)``.
AGGREGATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("iqm", "IQM"),
    ("median", "median"),
    ("mean", "mean"),
    ("optimality_gap", "optimality gap"),
)


@dataclass(frozen=True)
class Column(Generic[T]):
    """One column of a table: its header and how an item becomes its cell.

    :param header: the header
    :param cell: item -> the cell's value (``None``: empty)
    """

    header: str
    cell: Callable[[T], Any]


def markdown_table(columns: Sequence[Column[T]], items: Iterable[T]) -> list[str]:
    """The lines of a Markdown table: the headers, then one line per item (``|`` in a cell is
    written ``/``).

    :param columns: the columns, in order
    :param items: the rows' items
    """

    def line(cells: Iterable[Any]) -> str:
        return "| " + " | ".join(("" if c is None else str(c)).replace("|", "/") for c in cells) + " |"

    return [
        line(c.header for c in columns),
        "|" + "---|" * len(columns),
        *(line(c.cell(it) for c in columns) for it in items),
    ]


def fmt(x: float | None, d: int = 1) -> str:
    """``x`` with ``d`` decimals; ``—`` for ``None``, NaN and inf.

    :param x: the number
    :param d: decimals
    """
    return "—" if x is None or not math.isfinite(x) else f"{x:.{d}f}"


def fmt_ci(v: Interval | None, d: int = 1) -> str:
    """``point [lo, hi]`` with ``d`` decimals; ``—`` for ``None``.

    :param v: ``(point, lo, hi)``
    :param d: decimals
    """
    return "—" if v is None else f"{fmt(v[0], d)} [{fmt(v[1], d)}, {fmt(v[2], d)}]"


def short_key(key: str, keys: list[str]) -> str:
    """A grid key as a column header: ``env`` and ``algo`` for ``env.id`` and ``agent.algo``,
    else its last part when no other key ends the same way.

    :param key: the key
    :param keys: all keys of the table
    """
    if key in ("env.id", "agent.algo"):
        return "env" if key == "env.id" else "algo"
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key


def _grid_cell(key: str) -> Callable[[Row], str]:
    """A row's grid value of ``key``.

    :param key: a grid key
    """
    return lambda r: r.value(key)


def _final(r: Row, what: str) -> float | None:
    """``mean`` or ``std`` of a row's final evaluation (``None`` without one).

    :param r: the row
    :param what: ``"mean"`` or ``"std"``
    """
    final = r.record.final if r.record is not None else None
    return getattr(final, what) if final is not None else None


def csv_columns(keys: list[str]) -> list[Column[Row]]:
    """The columns of ``results.csv``: id, every grid key, seed, status, final_mean, final_std,
    auc, seconds, error.

    :param keys: the grid keys
    """
    return [
        Column("id", lambda r: r.id),
        *(Column(k, _grid_cell(k)) for k in keys),
        Column("seed", lambda r: r.seed),
        Column("status", lambda r: r.status),
        Column("final_mean", lambda r: _final(r, "mean")),
        Column("final_std", lambda r: _final(r, "std")),
        Column("auc", lambda r: r.record.auc if r.record else None),
        Column("seconds", lambda r: r.record.seconds if r.record else None),
        Column("error", lambda r: r.error),
    ]


def write_results_csv(path: Path, grid_keys: list[str], rows: list[Row]) -> Path:
    """One line per run, the columns of :func:`csv_columns`.

    :param path: output file
    :param grid_keys: the grid keys
    :param rows: rows from :func:`load_rows`
    """
    columns = csv_columns(grid_keys)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([c.header for c in columns])
    for r in rows:
        w.writerow(["" if (v := c.cell(r)) is None else v for c in columns])
    atomic_write_text(path, buf.getvalue())
    return path


def _group_n(g: GroupSummary) -> str:
    """``finished/runs``, with the failed, corrupt and invalid runs in brackets.

    :param g: the group
    """
    other = [f"{g.counts[s]} {s}" for s in ("failed", "corrupt", "invalid") if g.counts[s]]
    return f"{g.n}/{g.runs}" + (f" ({', '.join(other)})" if other else "")


def _group_value(key: str) -> Callable[[GroupSummary], str]:
    """A group's grid value of ``key``.

    :param key: a grid key
    """
    return lambda g: g.grid[key]


def group_columns(keys: list[str], baseline: str | None = None) -> list[Column[GroupSummary]]:
    """The columns of the per-setting table.

    :param keys: the grid keys
    :param baseline: the method the groups' probability of improvement is over (``None``: no
        such column)
    """
    poi: list[Column[GroupSummary]] = (
        [Column(f"P(X > {baseline}) [95% CI]", lambda g: fmt_ci(g.poi, 3))] if baseline else []
    )
    return [
        *(Column(short_key(k, keys), _group_value(k)) for k in keys),
        Column("n", _group_n),
        Column("mean", lambda g: fmt(g.mean)),
        Column("median over seeds", lambda g: fmt(g.median)),
        Column("IQM [95% CI]", lambda g: fmt_ci(g.iqm)),
        Column("AUC mean [95% CI]", lambda g: fmt_ci(g.auc)),
        *poi,
    ]


def _metric_cell(aggregate: dict[str, dict[str, Interval]], metric: str) -> Callable[[str], str]:
    """A method's interval of ``metric``, 3 decimals.

    :param aggregate: metric -> method -> (point, lo, hi)
    :param metric: the metric
    """
    return lambda m: fmt_ci(aggregate[metric].get(m), 3)


def aggregate_columns(aggregate: dict[str, dict[str, Interval]]) -> list[Column[str]]:
    """The columns of the aggregate table (items: methods), in the order of :data:`AGGREGATE_COLUMNS`.

    :param aggregate: metric -> method -> (point, lo, hi)
    """
    return [
        Column("method", str),
        *(Column(f"{header} [95% CI]", _metric_cell(aggregate, k)) for k, header in AGGREGATE_COLUMNS),
    ]


def poi_columns(baseline: str) -> list[Column[tuple[str, Interval]]]:
    """The columns of the probability-of-improvement table (items: ``("X vs base", interval)``).

    :param baseline: the method compared against
    """
    return [
        Column("X", lambda kv: kv[0].split(" vs ")[0]),
        Column(f"P(X > {baseline}) [95% CI]", lambda kv: fmt_ci(kv[1], 3)),
    ]


PROBLEM_COLUMNS: list[Column[Row]] = [Column("run", lambda r: r.id), Column("error", lambda r: (r.error or "")[:200])]

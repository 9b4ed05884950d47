"""Which silver columns reach a gold table (DESIGN 13: nothing is silently reshaped).

A silver column is carried when its values end up in a column of some gold output: selected
as is or renamed, read by a derived column or a `self` lookup that is selected, or unpivoted
into a selected value column. A column only read by a `where` filter or a lookup key is not
carried. A column no gold table carries must be declared in `drop_columns`, or the gold log
and the run summary list it as not carried.
"""

from __future__ import annotations

import re
from functools import reduce

import polars as pl

from jobforge_core.sources.spec import GoldOutput, SourceSpec


def _roots(expr: str) -> list[str]:
    return pl.sql_expr(expr).meta.root_names()


def _from(origin: dict[str, set[str]], names: list[str]) -> set[str]:
    return reduce(set.union, (origin.get(n, set()) for n in names), set())


def _unpivoted(out: GoldOutput, names: list[str]) -> list[str]:
    u = out.unpivot
    assert u is not None
    if u.columns is None:
        return [c for c in names if c not in u.index]
    if isinstance(u.columns, str):
        return [c for c in names if re.search(u.columns, c)]
    return list(u.columns)


def output_sources(out: GoldOutput, silver_columns: list[str]) -> set[str]:
    """Silver columns whose values reach this output, following the steps of the gold model."""
    origin: dict[str, set[str]] = {c: {c} for c in silver_columns}
    for name, expr in out.derive.items():
        origin[name] = _from(origin, _roots(expr))
    for lk in out.lookups:
        for new, src in lk.columns.items():
            origin[new] = {src} if lk.table == "self" else set()
    if out.unpivot is not None:
        u = out.unpivot
        on = _unpivoted(out, list(origin))
        values = _from(origin, on)
        for column in on:
            origin.pop(column, None)
        origin[u.variable] = set()  # column names, not values
        origin[u.value] = values
    for name, expr in out.derive_after.items():
        origin[name] = _from(origin, _roots(expr))
    for lk in out.lookups_after:
        for new, src in lk.columns.items():
            origin[new] = {src} if lk.table == "self" else set()
    if out.sequence is not None:
        origin[out.sequence.name] = set()
    mapping = out.column_map()
    selected = list(origin) if mapping is None else list(mapping.values())
    return _from(origin, selected)


def columns_not_carried(spec: SourceSpec, silver_columns: list[str]) -> list[str]:
    """Silver columns that no gold output carries and the spec does not declare dropped."""
    carried = reduce(set.union, (output_sources(out, silver_columns) for out in spec.gold), set())
    dropped = set(spec.drop_columns)
    return [c for c in silver_columns if c not in carried and c not in dropped]

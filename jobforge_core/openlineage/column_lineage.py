"""Column lineage of a gold output, read from its declared model (no data is read).

Follows the steps of the gold model in the order gold runs them (derive, lookups, unpivot,
derive_after, sequence, column selection), as `column_use` does for "is this column carried",
but keeps for every output column which input columns it comes from and how:

- selected as is or renamed: DIRECT / IDENTITY;
- a derived column: DIRECT / TRANSFORMATION, described by its SQL expression;
- a lookup column: DIRECT / IDENTITY from the referenced table (`self` = silver), the join
  keys as INDIRECT / JOIN for the whole table;
- unpivot: the value column is DIRECT / IDENTITY from every unpivoted column, the variable
  column DIRECT / TRANSFORMATION (the column's name or source header, not its values);
- a sequence number: INDIRECT / WINDOW from its partition and order columns;
- `where` filters and foreign keys: INDIRECT / FILTER for the whole table.

Plain data, so the core stays free of the OpenLineage client; `events.py` turns it into the
standard facet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from jobforge_core.common.provenance import LAYER, PROVENANCE, data_columns
from jobforge_core.sources.spec import GoldOutput, Lookup

SILVER = "silver"  # the input table key for this source's silver table


@dataclass(frozen=True)
class FieldSource:
    """One input column of an output column: `table` is SILVER or a gold table name."""

    table: str
    column: str
    type: str  # DIRECT | INDIRECT
    subtype: str  # IDENTITY | TRANSFORMATION | JOIN | FILTER | WINDOW
    description: str = ""


@dataclass(frozen=True)
class ColumnLineage:
    fields: dict[str, list[FieldSource]]
    dataset: list[FieldSource]


def _roots(expr: str) -> list[str]:
    try:
        return pl.sql_expr(expr).meta.root_names()
    except Exception:  # an expression polars cannot parse alone: no column-level claim
        return []


def _compose(sources: list[FieldSource], subtype: str, description: str) -> list[FieldSource]:
    """Sources seen through one more step: a transformation of a transformation stays one."""
    out = []
    for s in sources:
        if s.type == "INDIRECT":
            out.append(s)
            continue
        sub = "TRANSFORMATION" if "TRANSFORMATION" in (s.subtype, subtype) else "IDENTITY"
        text = "; ".join(d for d in (s.description, description) if d)
        out.append(FieldSource(s.table, s.column, "DIRECT", sub, text))
    return list(dict.fromkeys(out))


def _unpivoted(out: GoldOutput, names: list[str]) -> list[str]:
    u = out.unpivot
    assert u is not None
    if u.columns is None:  # as gold does: provenance is never unpivoted
        return [c for c in data_columns(names) if c not in u.index]
    if isinstance(u.columns, str):
        return [c for c in data_columns(names) if re.search(u.columns, c)]
    return [c for c in u.columns if c in names]


def gold_column_lineage(
    out: GoldOutput, silver_columns: list[str], output_columns: list[str]
) -> ColumnLineage:
    """Input columns of each column of `output_columns` (the gold table's real schema)."""
    origin: dict[str, list[FieldSource]] = {
        c: [FieldSource(SILVER, c, "DIRECT", "IDENTITY")] for c in silver_columns
    }
    dataset: list[FieldSource] = []

    def derive(steps: dict[str, str]) -> None:
        for name, expr in steps.items():
            found = [s for r in _roots(expr) for s in origin.get(r, [])]
            origin[name] = _compose(found, "TRANSFORMATION", f"{name} = {expr}")

    if out.where:
        dataset += [
            FieldSource(s.table, s.column, "INDIRECT", "FILTER", f"where {out.where}")
            for r in _roots(out.where)
            for s in origin.get(r, [])
        ]

    def lookup(lookups: list[Lookup]) -> None:
        for lk in lookups:
            table = SILVER if lk.table == "self" else lk.table
            how = f"lookup in {lk.table} on {lk.key} = {lk.ref_key}"
            for new, src in lk.columns.items():
                origin[new] = [FieldSource(table, src, "DIRECT", "IDENTITY", how)]
            dataset.extend(
                FieldSource(s.table, s.column, "INDIRECT", "JOIN", how)
                for r in _roots(lk.key)
                for s in origin.get(r, [])
            )
            dataset.extend(
                FieldSource(table, r, "INDIRECT", "JOIN", how) for r in _roots(lk.ref_key)
            )

    derive(out.derive)
    lookup(out.lookups)
    if out.unpivot is not None:
        u = out.unpivot
        on = _unpivoted(out, list(origin))
        values = [s for c in on for s in origin.get(c, [])]
        label = "source header" if u.variable_from == "label" else "column name"
        origin[u.value] = _compose(
            values, "IDENTITY", f"unpivot: one long row per unpivoted column ({len(on)})"
        )
        variable = f"unpivot: the {label} of the unpivoted column"
        if u.variable_pattern:
            variable += f", matched by {u.variable_pattern!r}"
        origin[u.variable] = _compose(
            [FieldSource(SILVER, c, "DIRECT", "IDENTITY") for c in on],
            "TRANSFORMATION",
            variable,
        )
        for column in on:
            origin.pop(column, None)
    derive(out.derive_after)
    for column, mapping in out.recode.items():
        origin[column] = _compose(
            origin.get(column, []), "TRANSFORMATION", f"recode of {len(mapping)} value(s)"
        )
    lookup(out.lookups_after)
    if out.sequence is not None:
        seq = out.sequence
        how = f"sequence over {seq.partition_by} ordered by {seq.order_by}"
        origin[seq.name] = [
            FieldSource(s.table, s.column, "INDIRECT", "WINDOW", how)
            for c in [*seq.partition_by, seq.order_by]
            for s in origin.get(c, [])
        ]
    mapping = out.column_map() or {c: c for c in origin}
    for fk in out.foreign_keys:
        how = f"foreign key {fk.column} -> {fk.references}.{fk.target_column}"
        source = mapping.get(fk.column, fk.column)
        dataset += [
            FieldSource(s.table, s.column, "INDIRECT", "FILTER", how)
            for s in origin.get(source, [])
        ]
        dataset.append(FieldSource(fk.references, fk.target_column, "INDIRECT", "FILTER", how))
    fields: dict[str, list[FieldSource]] = {}
    for column in output_columns:
        if column == LAYER:
            continue  # a constant per layer: no input
        if column in PROVENANCE:
            fields[column] = [FieldSource(SILVER, column, "DIRECT", "IDENTITY")]
            continue
        source = mapping.get(column)
        if source is None:
            continue
        described = f"renamed from {source}" if source != column else ""
        found = _compose(origin.get(source, []), "IDENTITY", described)
        if found:
            fields[column] = found
    return ColumnLineage(fields, list(dict.fromkeys(dataset)))

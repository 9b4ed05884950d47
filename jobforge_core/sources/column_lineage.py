"""Column lineage: the one model of where each column of each layer comes from (DESIGN 20).

The catalog JSON, `catalog.columns`, the site and the OpenLineage `columnLineage` facet all
take it from here; before, the catalog had a second, simpler model that mapped every gold
column to a silver column of the same name (wrong for every unpivot, lookup and derivation).
It lives in `sources` because it reads only a spec and column names: both the catalog and the
event builder sit above it.

Staged, bronze and silver map one to one: a staged column is its file's header, a bronze
column the staged header it was named from, a silver column the bronze column of that name.
A gold output is read from its declared model (no data is read).

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

Plain data (`ColumnSource`, a catalog model), so the core stays free of the OpenLineage
client; `openlineage/events.py` turns it into the standard facet. Tables are named as the
catalog names them: `silver.<source>` for this source's silver table, the gold table's name
for a lookup, `file:<name>` for the source file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from jobforge_core.common.config import Layer
from jobforge_core.common.models import ColumnSource
from jobforge_core.common.provenance import LAYER, PROVENANCE, data_columns
from jobforge_core.common.table_names import catalog_name
from jobforge_core.sources.naming import column_mapping
from jobforge_core.sources.spec import GoldOutput, Lookup, SourceSpec

FILE_PREFIX = "file:"
_LAYER_NAMES = {layer.value for layer in Layer if layer is not Layer.GOLD}


def _src(
    table: str, column: str, type: str = "DIRECT", subtype: str = "IDENTITY", description: str = ""
) -> ColumnSource:
    return ColumnSource(
        table=table, column=column, type=type, subtype=subtype, description=description
    )


def column_ref(source: ColumnSource) -> str:
    """`silver.cops_employment.2023`, `dim_noc.noc_title`; `<file>:<header>` for a file."""
    if source.table.startswith(FILE_PREFIX):
        return f"{source.table[len(FILE_PREFIX) :]}:{source.column}"
    return f"{source.table}.{source.column}"


def split_column_ref(ref: str) -> tuple[str, str]:
    """(catalog table, column) of a `column_ref`; a column name may itself hold dots."""
    first, _, rest = ref.partition(".")
    if first in _LAYER_NAMES:
        source, _, column = rest.partition(".")
        return f"{first}.{source}", column
    return first, rest


@dataclass(frozen=True)
class ColumnLineage:
    fields: dict[str, list[ColumnSource]]
    dataset: list[ColumnSource]


def _roots(expr: str) -> list[str]:
    try:
        return pl.sql_expr(expr).meta.root_names()
    except Exception:  # an expression polars cannot parse alone: no column-level claim
        return []


def _compose(sources: list[ColumnSource], subtype: str, description: str) -> list[ColumnSource]:
    """Sources seen through one more step: a transformation of a transformation stays one."""
    out = []
    for s in sources:
        if s.type == "INDIRECT":
            out.append(s)
            continue
        sub = "TRANSFORMATION" if "TRANSFORMATION" in (s.subtype, subtype) else "IDENTITY"
        text = "; ".join(d for d in (s.description, description) if d)
        out.append(_src(s.table, s.column, "DIRECT", sub, text))
    return list(dict.fromkeys(out))


def _unpivoted(out: GoldOutput, names: list[str]) -> list[str]:
    u = out.unpivot
    assert u is not None
    if u.columns is None:  # as gold does: provenance is never unpivoted
        return [c for c in data_columns(names) if c not in u.index]
    if isinstance(u.columns, str):
        return [c for c in data_columns(names) if re.search(u.columns, c)]
    return [c for c in u.columns if c in names]


def layer_column_lineage(
    spec: SourceSpec, layer: Layer, headers: list[str], file_name: str | None = None
) -> ColumnLineage:
    """Staged, bronze or silver: each column from the one column of the layer before it
    (`headers` = the staged table's data columns, the file's headers as read; `file_name`
    the file the batch was read from, else the spec's file or pattern)."""
    if layer is Layer.STAGED:
        source = f"{FILE_PREFIX}{file_name or spec.file}"
        return ColumnLineage({h: [_src(source, h)] for h in headers}, [])
    names = column_mapping(spec, headers, spec.file)
    previous = Layer.STAGED if layer is Layer.BRONZE else Layer.BRONZE
    table = catalog_name(previous, spec.name)
    how = "named from the header" if layer is Layer.BRONZE else ""
    return ColumnLineage(
        {
            name: [_src(table, header if layer is Layer.BRONZE else name, description=how)]
            for header, name in names.items()
        },
        [],
    )


def gold_column_lineage(
    out: GoldOutput, silver_columns: list[str], output_columns: list[str], source: str
) -> ColumnLineage:
    """Input columns of each column of `output_columns` (the gold table's real schema), from
    the silver columns of the same batch of `source`."""
    SILVER = catalog_name(Layer.SILVER, source)  # noqa: N806 (the input table's name)
    origin: dict[str, list[ColumnSource]] = {
        c: [_src(SILVER, c, "DIRECT", "IDENTITY")] for c in silver_columns
    }
    dataset: list[ColumnSource] = []

    def derive(steps: dict[str, str]) -> None:
        for name, expr in steps.items():
            found = [s for r in _roots(expr) for s in origin.get(r, [])]
            origin[name] = _compose(found, "TRANSFORMATION", f"{name} = {expr}")

    if out.where:
        dataset += [
            _src(s.table, s.column, "INDIRECT", "FILTER", f"where {out.where}")
            for r in _roots(out.where)
            for s in origin.get(r, [])
        ]

    def lookup(lookups: list[Lookup]) -> None:
        for lk in lookups:
            table = SILVER if lk.table == "self" else catalog_name(Layer.GOLD, lk.table)
            how = f"lookup in {lk.table} on {lk.key} = {lk.ref_key}"
            for new, src in lk.columns.items():
                origin[new] = [_src(table, src, "DIRECT", "IDENTITY", how)]
            dataset.extend(
                _src(s.table, s.column, "INDIRECT", "JOIN", how)
                for r in _roots(lk.key)
                for s in origin.get(r, [])
            )
            dataset.extend(_src(table, r, "INDIRECT", "JOIN", how) for r in _roots(lk.ref_key))

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
            [_src(SILVER, c, "DIRECT", "IDENTITY") for c in on],
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
            _src(s.table, s.column, "INDIRECT", "WINDOW", how)
            for c in [*seq.partition_by, seq.order_by]
            for s in origin.get(c, [])
        ]
    mapping = out.column_map() or {c: c for c in origin}
    for fk in out.foreign_keys:
        how = f"foreign key {fk.column} -> {fk.references}.{fk.target_column}"
        source = mapping.get(fk.column, fk.column)
        dataset += [
            _src(s.table, s.column, "INDIRECT", "FILTER", how) for s in origin.get(source, [])
        ]
        target = catalog_name(Layer.GOLD, fk.references)
        dataset.append(_src(target, fk.target_column, "INDIRECT", "FILTER", how))
    fields: dict[str, list[ColumnSource]] = {}
    for column in output_columns:
        if column == LAYER:
            continue  # a constant per layer: no input
        if column in PROVENANCE:
            fields[column] = [_src(SILVER, column, "DIRECT", "IDENTITY")]
            continue
        source = mapping.get(column)
        if source is None:
            continue
        described = f"renamed from {source}" if source != column else ""
        found = _compose(origin.get(source, []), "IDENTITY", described)
        if found:
            fields[column] = found
    return ColumnLineage(fields, list(dict.fromkeys(dataset)))

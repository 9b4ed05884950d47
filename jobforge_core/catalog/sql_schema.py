"""DuckDB column types derived from the pydantic models, never from the data (invariant 16).

A table built from inferred types changes with its content: with no log holding an error,
`errors` was typed `"NULL"`; with no quarantine, `quarantine_file` too; timestamps were text and
maps JSON strings. Here each catalog table is created from its model's field annotations, then
filled, so `DESCRIBE` is the same on an empty and on a full data root.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import duckdb
import polars as pl
from pydantic import BaseModel

from jobforge_core.common.table_names import is_identifier

# Checked in order: bool is an int subclass, so it comes first.
_SCALARS: tuple[tuple[type, str, pl.DataType], ...] = (
    (bool, "BOOLEAN", pl.Boolean()),
    (int, "BIGINT", pl.Int64()),
    (float, "DOUBLE", pl.Float64()),
    (datetime, "TIMESTAMPTZ", pl.Datetime("us", "UTC")),
    (date, "DATE", pl.Date()),
    (str, "VARCHAR", pl.String()),
    (Path, "VARCHAR", pl.String()),
)


@dataclass(frozen=True)
class SqlColumn:
    """One catalog column: its SQL type, the polars type that carries it in, and whether it is
    a MAP (carried as a list of key/value structs, turned into a MAP by `map_from_entries`)."""

    name: str
    sql: str
    dtype: pl.DataType
    is_map: bool = False


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"no single SQL type for the union {annotation}")
        return args[0]
    return annotation


def column_type(annotation: Any) -> tuple[str, pl.DataType, bool]:
    """(SQL type, polars type, is map) for a field annotation."""
    annotation = _strip_optional(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        values = get_args(annotation)
        if all(isinstance(v, str) for v in values):
            return "VARCHAR", pl.String(), False
        raise TypeError(f"no SQL type for {annotation}")
    if origin in (list, tuple, set, frozenset):
        (item,) = {a for a in get_args(annotation) if a is not Ellipsis}
        sql, dtype, is_map = column_type(item)
        if is_map:
            raise TypeError(f"lists of maps are not supported: {annotation}")
        return f"{sql}[]", pl.List(dtype), False
    if origin is dict:
        key, value = get_args(annotation)
        k_sql, k_type, _ = column_type(key)
        v_sql, v_type, _ = column_type(value)
        entry = pl.Struct({"key": k_type, "value": v_type})
        return f"MAP({k_sql}, {v_sql})", pl.List(entry), True
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return "VARCHAR", pl.String(), False
        if issubclass(annotation, BaseModel):
            fields = model_columns(annotation)
            if any(f.is_map for f in fields):
                raise TypeError(f"maps inside a struct are not supported: {annotation}")
            sql = ", ".join(f'"{f.name}" {f.sql}' for f in fields)
            return f"STRUCT({sql})", pl.Struct({f.name: f.dtype for f in fields}), False
        for python, sql, dtype in _SCALARS:
            if issubclass(annotation, python):
                return sql, dtype, False
    raise TypeError(f"no SQL type for {annotation!r}")


def model_columns(
    model: type[BaseModel],
    *,
    exclude: set[str] | frozenset[str] = frozenset(),
    leading: dict[str, Any] | None = None,
) -> list[SqlColumn]:
    """The columns of a catalog table: `leading` (name -> annotation) then the model's fields."""
    annotations = dict(leading or {})
    annotations.update({n: f.annotation for n, f in model.model_fields.items() if n not in exclude})
    return [SqlColumn(name, *column_type(ann)) for name, ann in annotations.items()]


def _cell(column: SqlColumn, value: Any) -> Any:
    if value is None:
        return None
    if column.is_map:
        return [{"key": k, "value": v} for k, v in value.items()]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list) and value and isinstance(value[0], Enum):
        return [v.value for v in value]
    return value


def typed_frame(columns: list[SqlColumn], rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows in the columns' polars types; a missing key is null, an extra key is an error."""
    names = {c.name for c in columns}
    for row in rows[:1]:
        extra = set(row) - names
        if extra:
            raise ValueError(f"values for undeclared catalog columns {sorted(extra)}")
    data = {c.name: [_cell(c, row.get(c.name)) for row in rows] for c in columns}
    return pl.DataFrame(data, schema={c.name: c.dtype for c in columns})


def create_and_fill(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    columns: list[SqlColumn],
    rows: list[dict[str, Any]],
) -> None:
    """CREATE TABLE with the declared types, then INSERT the rows (maps built in SQL)."""
    for name in (schema, table, *(c.name for c in columns)):
        if not is_identifier(name.lstrip("_")):
            raise ValueError(f"not a valid catalog identifier: {name!r}")
    qualified = f'"{schema}"."{table}"'
    ddl = ", ".join(f'"{c.name}" {c.sql}' for c in columns)
    con.execute(f"CREATE TABLE {qualified} ({ddl})")
    if not rows:
        return
    select = ", ".join(
        f'map_from_entries("{c.name}")' if c.is_map else f'"{c.name}"' for c in columns
    )
    con.register("incoming", typed_frame(columns, rows).to_arrow())
    try:
        con.execute(f"INSERT INTO {qualified} SELECT {select} FROM incoming")
    finally:
        con.unregister("incoming")

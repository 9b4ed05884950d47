"""Schema drift between the batch a table held and the batch that replaces it.

Columns added, removed or retyped are recorded in the transition log (`schema_changes`) and
the run summary; a spec's `on_schema_change: fail` (default `warn`) rejects the batch and puts
the previous version back.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobforge_core.common.models import SchemaChange


def type_name(dtype: pl.DataType) -> str:
    """Per-batch constants are one-value Enums whose category is the batch: text, logically."""
    return "String" if isinstance(dtype, pl.Enum | pl.Categorical) else str(dtype)


def _schema(path: Path) -> dict[str, str]:
    return {name: type_name(dtype) for name, dtype in pl.read_parquet_schema(path).items()}


def schema_changes(table: str, before: Path, after: Path) -> list[SchemaChange]:
    """What changed from `before` to `after`, in the order of the columns."""
    old, new = _schema(before), _schema(after)
    changes = [
        SchemaChange(table_name=table, column=c, change="added", new_type=t)
        for c, t in new.items()
        if c not in old
    ]
    changes += [
        SchemaChange(table_name=table, column=c, change="removed", old_type=t)
        for c, t in old.items()
        if c not in new
    ]
    changes += [
        SchemaChange(table_name=table, column=c, change="type_changed", old_type=old[c], new_type=t)
        for c, t in new.items()
        if c in old and old[c] != t
    ]
    return changes

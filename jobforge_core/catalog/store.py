"""The DuckDB store: gold (and layer) views over parquet plus the catalog as tables.

Views use paths relative to the data root, so the store keeps working when the data root is
moved: JobForge's own connections re-point them (see `query.connect`); another client runs from
the data root or sets `file_search_path` to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from jobforge_core.atomic import atomic_target
from jobforge_core.catalog.names import is_identifier
from jobforge_core.config import Layer, PipelineConfig
from jobforge_core.models import ColumnMetadata, LayerTransitionLog, TableMetadata

CATALOG_SCHEMA = "catalog"
LAYER_SCHEMAS = (Layer.STAGED, Layer.BRONZE, Layer.SILVER)


def frame(rows: list[dict[str, Any]], fields: list[str]) -> pl.DataFrame:
    """Rows as a frame; with no rows, the named columns as text, so the table still exists."""
    if rows:
        return pl.DataFrame(rows, infer_schema_length=None)
    return pl.DataFrame(schema=dict.fromkeys(fields, pl.String))


def _tables_frame(metas: list[TableMetadata]) -> pl.DataFrame:
    rows = [m.model_dump(mode="json", exclude={"columns"}) for m in metas]
    return frame(rows, [f for f in TableMetadata.model_fields if f != "columns"])


def _columns_frame(metas: list[TableMetadata]) -> pl.DataFrame:
    rows = [
        {
            "table_name": m.table_name,
            "layer": m.layer.value,
            "position": i + 1,
            **c.model_dump(mode="json"),
        }
        for m in metas
        for i, c in enumerate(m.columns)
    ]
    return frame(rows, ["table_name", "layer", "position", *ColumnMetadata.model_fields])


def _transitions_frame(logs: list[LayerTransitionLog]) -> pl.DataFrame:
    rows = []
    for log in logs:
        row = log.model_dump(mode="json")
        row["rows_by_rule"] = json.dumps(row["rows_by_rule"])
        row["rows_by_table"] = json.dumps(row["rows_by_table"])
        rows.append(row)
    return frame(rows, list(LayerTransitionLog.model_fields))


def view_sql(schema: str | None, name: str, path: str) -> str:
    """CREATE VIEW over one parquet file; identifiers are checked, never user text."""
    if not is_identifier(name) or (schema and not is_identifier(schema)):
        raise ValueError(f"not a valid identifier: {schema}.{name}")
    qualified = f'"{schema}"."{name}"' if schema else f'"{name}"'
    literal = path.replace("'", "''")
    return f"CREATE OR REPLACE VIEW {qualified} AS SELECT * FROM read_parquet('{literal}')"


def build_store(
    cfg: PipelineConfig,
    metas: list[TableMetadata],
    frames: dict[str, pl.DataFrame],
    logs: list[LayerTransitionLog],
) -> Path:
    """Write the whole store to a temp file, then move it into place (atomic rebuild)."""
    target = cfg.store_path()
    tables: dict[str, pl.DataFrame] = {
        "tables": _tables_frame(metas),
        "columns": _columns_frame(metas),
        "transitions": _transitions_frame(logs),
        **frames,
    }
    with atomic_target(target) as tmp:
        # Views bind at creation: relative paths resolve against the data root here.
        con = duckdb.connect(str(tmp), config={"file_search_path": str(cfg.data_root.resolve())})
        try:
            con.execute(f"CREATE SCHEMA {CATALOG_SCHEMA}")
            for layer in LAYER_SCHEMAS:
                con.execute(f"CREATE SCHEMA {layer.value}")
            for name, frame in tables.items():
                con.register("incoming", frame.to_arrow())
                con.execute(f"CREATE TABLE {CATALOG_SCHEMA}.{name} AS SELECT * FROM incoming")
                con.unregister("incoming")
            for meta in metas:
                schema = None if meta.layer is Layer.GOLD else meta.layer.value
                table = meta.table_name.split(".")[-1]
                con.execute(view_sql(schema, table, meta.file_path))
            con.execute("CHECKPOINT")
        finally:
            con.close()
    return target


def store_views(cfg: PipelineConfig) -> list[dict[str, Any]]:
    """(schema, name, relative path) of every parquet view, from the store's own catalog."""
    con = duckdb.connect(str(cfg.store_path()), read_only=True)
    try:
        rows = con.execute(
            f"SELECT table_name, layer, file_path FROM {CATALOG_SCHEMA}.tables"
        ).fetchall()
    finally:
        con.close()
    return [{"name": n, "layer": layer, "file_path": p} for n, layer, p in rows]

"""The DuckDB store: gold (and layer) views over parquet plus the catalog as tables.

Views use paths relative to the data root, so the store keeps working when the data root is
moved: JobForge's own connections re-point them (see `query.connect`); another client runs from
the data root or sets `file_search_path` to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from jobforge_core.catalog.history_index import HISTORY_SCHEMA, BatchVersion, history_view_name
from jobforge_core.catalog.quality import QualityRecord, quality_records
from jobforge_core.catalog.quarantine_index import QuarantineCount
from jobforge_core.catalog.sql_schema import SqlColumn, create_and_fill, model_columns
from jobforge_core.common.atomic import atomic_target
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import ColumnMetadata, LayerTransitionLog, TableMetadata
from jobforge_core.common.table_names import QUARANTINE_SCHEMA, is_identifier, split_name
from jobforge_core.sources.glossary import GlossaryTerm
from jobforge_core.sources.model_schema import Relationship

CATALOG_SCHEMA = "catalog"
LAYER_SCHEMAS = (Layer.STAGED, Layer.BRONZE, Layer.SILVER)

# Every catalog table and the model its columns come from (invariant 16).
CATALOG_COLUMNS: dict[str, list[SqlColumn]] = {
    "tables": model_columns(TableMetadata, exclude={"columns"}),
    "columns": model_columns(
        ColumnMetadata, leading={"table_name": str, "layer": str, "position": int}
    ),
    "transitions": model_columns(LayerTransitionLog),
    "quality": model_columns(QualityRecord),
    "history": model_columns(BatchVersion),
    "quarantine": model_columns(QuarantineCount),
    "glossary": model_columns(GlossaryTerm),
    "relationships": model_columns(Relationship),
}


@dataclass
class CatalogRows:
    """What the store's catalog tables hold; each list may be empty, the tables still exist."""

    tables: list[TableMetadata] = field(default_factory=list)
    logs: list[LayerTransitionLog] = field(default_factory=list)
    quarantine: list[QuarantineCount] = field(default_factory=list)
    glossary: list[GlossaryTerm] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)
    history: list[BatchVersion] = field(default_factory=list)

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        columns = [
            {
                "table_name": m.table_name,
                "layer": m.layer.value,
                "position": i + 1,
                **c.model_dump(),
            }
            for m in self.tables
            for i, c in enumerate(m.columns)
        ]
        return {
            "tables": [m.model_dump(exclude={"columns"}) for m in self.tables],
            "columns": columns,
            "transitions": [log.model_dump() for log in self.logs],
            "quality": [q.model_dump() for q in quality_records(self.logs)],
            "quarantine": [q.model_dump() for q in self.quarantine],
            "glossary": [t.model_dump() for t in self.glossary],
            "relationships": [r.model_dump() for r in self.relationships],
            "history": [v.model_dump() for v in self.history],
        }


def view_sql(schema: str | None, name: str, path: str) -> str:
    """CREATE VIEW over one parquet file; identifiers are checked, never user text."""
    if not is_identifier(name) or (schema and not is_identifier(schema)):
        raise ValueError(f"not a valid identifier: {schema}.{name}")
    qualified = f'"{schema}"."{name}"' if schema else f'"{name}"'
    literal = path.replace("'", "''")
    return f"CREATE OR REPLACE VIEW {qualified} AS SELECT * FROM read_parquet('{literal}')"


def history_view_sql(name: str, paths: list[str], schema: str = HISTORY_SCHEMA) -> str:
    """All batches of one table in one view; columns matched by name across batches."""
    if not is_identifier(name):
        raise ValueError(f"not a valid identifier: {name}")
    files = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return (
        f'CREATE OR REPLACE VIEW "{schema}"."{name}" AS '
        f"SELECT * FROM read_parquet([{files}], union_by_name = true)"
    )


def build_store(cfg: PipelineConfig, catalog: CatalogRows) -> Path:
    """Write the whole store to a temp file, then move it into place (atomic rebuild)."""
    target = cfg.store_path()
    metas = catalog.tables
    with atomic_target(target) as tmp:
        # Views bind at creation: relative paths resolve against the data root here.
        con = duckdb.connect(str(tmp), config={"file_search_path": str(cfg.data_root.resolve())})
        try:
            con.execute(f"CREATE SCHEMA {CATALOG_SCHEMA}")
            con.execute(f"CREATE SCHEMA {HISTORY_SCHEMA}")
            for layer in LAYER_SCHEMAS:
                con.execute(f"CREATE SCHEMA {layer.value}")
            for name, rows in catalog.rows().items():
                create_and_fill(con, CATALOG_SCHEMA, name, CATALOG_COLUMNS[name], rows)
            for meta in metas:
                schema = None if meta.layer is Layer.GOLD else meta.layer.value
                table = meta.table_name.split(".")[-1]
                con.execute(view_sql(schema, table, meta.file_path))
            for name, paths in _history_views(catalog.history).items():
                con.execute(history_view_sql(name, paths))
            con.execute(f"CREATE SCHEMA {QUARANTINE_SCHEMA}")
            for name, paths in quarantine_views(catalog.quarantine).items():
                con.execute(history_view_sql(name, paths, QUARANTINE_SCHEMA))
            con.execute("CHECKPOINT")
        finally:
            con.close()
    return target


def _history_views(history: list[BatchVersion]) -> dict[str, list[str]]:
    views: dict[str, list[str]] = {}
    for v in history:
        layer, table = split_name(v.table_name)
        views.setdefault(history_view_name(layer, table), []).append(v.file_path)
    return views


def quarantine_views(counts: list[QuarantineCount]) -> dict[str, list[str]]:
    """The row quarantine files of each table, every batch: the rows a rule set aside, with
    their reason, in SQL (`SELECT * FROM quarantine.fact_cops_employment`)."""
    views: dict[str, list[str]] = {}
    for q in counts:
        paths = views.setdefault(history_view_name(Layer(q.layer), q.table_name), [])
        if q.file_path not in paths:
            paths.append(q.file_path)
    return views


def store_views(cfg: PipelineConfig) -> list[dict[str, Any]]:
    """(name, layer, relative path) of every parquet file behind a view (current tables and
    kept batches), from the store's own catalog."""
    con = duckdb.connect(str(cfg.store_path()), read_only=True)
    try:
        rows = con.execute(
            f"SELECT table_name, layer, file_path FROM {CATALOG_SCHEMA}.tables UNION ALL "
            f"SELECT table_name, layer, file_path FROM {CATALOG_SCHEMA}.history WHERE NOT current"
        ).fetchall()
    finally:
        con.close()
    return [{"name": n, "layer": layer, "file_path": p} for n, layer, p in rows]

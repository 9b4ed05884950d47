"""Read-only access for people and BI tools: SQL, table lookup, lineage, quarantine.

Nothing a user types is pasted into SQL: table names are matched against the catalog, SQL is
accepted only as a single SELECT/EXPLAIN on a read-only connection, and `--where` filters are
parsed by polars into expressions (no SQL engine sees them).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import polars as pl

from jobforge_core.catalog.names import is_identifier, split_name
from jobforge_core.catalog.quarantine_index import quarantine_files
from jobforge_core.catalog.store import store_views
from jobforge_core.config import Layer, PipelineConfig
from jobforge_core.errors import JobForgeError
from jobforge_core.lineage import read_logs
from jobforge_core.models import LayerTransitionLog, TableMetadata, TransitionStatus
from jobforge_core.provenance import BATCH_ID, SOURCE_ROW

ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}


class QueryRefused(JobForgeError):
    """A statement or identifier that JobForge will not run."""


def check_read_only(sql: str) -> None:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"not valid SQL: {exc}") from exc
    if len(statements) != 1:
        raise QueryRefused(f"one statement per query, got {len(statements)}")
    kind = str(statements[0].type).rsplit(".", 1)[-1]
    if kind not in ALLOWED_STATEMENTS:
        raise QueryRefused(
            f"refused: {kind} statements are not allowed; the store is read-only "
            "(SELECT and EXPLAIN only)"
        )


def connect(cfg: PipelineConfig) -> duckdb.DuckDBPyConnection:
    """Read-only store; its relative view paths resolve against this data root, and file access
    is fenced to the data root and the views' own files."""
    store = cfg.store_path()
    if not store.is_file():
        raise JobForgeError(f"no store at {store}: run `jobforge run` (or the catalog flow) first")
    root = cfg.data_root.resolve()
    con = duckdb.connect(str(store), read_only=True)
    con.execute("SET file_search_path = ?", [str(root)])
    con.execute("SET allowed_directories = ?", [[str(root) + "/"]])
    con.execute("SET allowed_paths = ?", [[v["file_path"] for v in store_views(cfg)]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def run_query(cfg: PipelineConfig, sql: str) -> pl.DataFrame:
    check_read_only(sql)
    con = connect(cfg)
    try:
        return con.sql(sql).pl()
    except duckdb.Error as exc:
        raise QueryRefused(str(exc).splitlines()[0]) from exc
    finally:
        con.close()


def catalog_tables(cfg: PipelineConfig) -> dict[str, TableMetadata]:
    tables = {}
    for path in sorted(cfg.catalog_tables_path().glob("*.json")):
        meta = TableMetadata.model_validate_json(path.read_text(encoding="utf-8"))
        tables[meta.table_name] = meta
    return tables


def resolve_table(cfg: PipelineConfig, name: str) -> TableMetadata:
    """The catalog entry for a user-typed table name, or a clear refusal."""
    tables = catalog_tables(cfg)
    if not is_identifier(name) or name not in tables:
        gold = sorted(n for n, m in tables.items() if m.layer is Layer.GOLD)
        raise QueryRefused(f"unknown table {name!r}; gold tables: {', '.join(gold) or '(none)'}")
    return tables[name]


def _source_of(cfg: PipelineConfig, meta: TableMetadata) -> str:
    if meta.layer is not Layer.GOLD:
        return split_name(meta.table_name)[1]
    schema = json.loads((cfg.catalog_schemas_path() / "model.json").read_text(encoding="utf-8"))
    return schema["tables"][meta.table_name]["source"]


def _batch_of(cfg: PipelineConfig, meta: TableMetadata) -> str | None:
    path = cfg.data_root / meta.file_path
    first = pl.scan_parquet(path).select(BATCH_ID).head(1).collect()
    return first[BATCH_ID][0] if len(first) else None


def lineage_chain(cfg: PipelineConfig, name: str) -> list[LayerTransitionLog]:
    """source file -> ... -> this table: the latest successful transition of each layer for the
    batch the table holds now."""
    meta = resolve_table(cfg, name)
    source, batch = _source_of(cfg, meta), _batch_of(cfg, meta)
    order = list(Layer)[: list(Layer).index(meta.layer) + 1]
    latest: dict[Layer, LayerTransitionLog] = {}
    for log in read_logs(cfg):
        if log.source_name != source or log.batch_id != batch:
            continue
        if log.status is TransitionStatus.FAILED or log.target_layer not in order:
            continue
        held = latest.get(log.target_layer)
        if held is None or (log.completed_at and held.completed_at < log.completed_at):
            latest[log.target_layer] = log
    return [latest[layer] for layer in order if layer in latest]


def row_lineage(
    cfg: PipelineConfig, name: str, where: str, limit: int = 20
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Matching rows of the table, and the staged (original) records they came from."""
    meta = resolve_table(cfg, name)
    try:
        predicate = pl.sql_expr(where)
    except Exception as exc:  # polars raises several types for bad SQL
        raise QueryRefused(f"invalid --where expression {where!r}: {exc}") from exc
    table = pl.scan_parquet(cfg.data_root / meta.file_path)
    try:
        rows = table.filter(predicate).head(limit).collect()
    except (pl.exceptions.ColumnNotFoundError, pl.exceptions.PolarsError) as exc:
        columns = [c.name for c in meta.columns]
        raise QueryRefused(
            f"--where {where!r} does not apply to {name}: {str(exc).splitlines()[0]}; "
            f"columns: {', '.join(columns)}"
        ) from exc
    source = _source_of(cfg, meta)
    staged_path = cfg.table_path(Layer.STAGED, source)
    # Batch ids are stored as one-value Enums (provenance.constant): joined as text.
    keys = rows.select(SOURCE_ROW, pl.col(BATCH_ID).cast(pl.String)).unique()
    staged = (
        pl.scan_parquet(staged_path)
        .with_columns(pl.col(BATCH_ID).cast(pl.String))
        .join(keys.lazy(), on=[SOURCE_ROW, BATCH_ID], how="semi")
        .sort(SOURCE_ROW)
        .collect()
        if len(keys) and staged_path.is_file()
        else pl.DataFrame()
    )
    return rows, staged


def quarantine_report(
    cfg: PipelineConfig, name: str | None = None, sample: int = 5
) -> list[dict[str, Any]]:
    """Per quarantined table and reason: the row count and a few rows."""
    wanted: tuple[Layer, str] | None = None
    if name is not None:
        sources = {split_name(n)[1] for n in catalog_tables(cfg)}
        if not is_identifier(name):
            raise QueryRefused(f"not a table name: {name!r}")
        if "." in name or name in sources:
            wanted = split_name(name) if "." in name else None
        else:
            resolve_table(cfg, name)
            wanted = (Layer.GOLD, name)
    report = []
    for layer, table, batch, rel in quarantine_files(cfg):
        if wanted and (layer, table) != wanted:
            continue
        if name and not wanted and table != name:
            continue
        frame = pl.read_parquet(cfg.data_root / rel)
        for (reason,), rows in frame.group_by("_quarantine_reason", maintain_order=True):
            report.append(
                {
                    "table": table if layer is Layer.GOLD else f"{layer.value}.{table}",
                    "batch_id": batch,
                    "reason": reason,
                    "rows": len(rows),
                    "file": rel,
                    "sample": rows.head(sample),
                }
            )
    return report


def file_quarantine(cfg: PipelineConfig) -> list[dict[str, Any]]:
    base = cfg.quarantine_path() / "files"
    return [
        json.loads(p.read_text(encoding="utf-8")) | {"dir": str(p.parent)}
        for p in sorted(base.glob("*/error.json"))
    ]

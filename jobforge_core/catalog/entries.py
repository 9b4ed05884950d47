"""The catalog's table entries as the last rebuild wrote them (catalog/tables/*.json).

Its own small module because the read commands (`catalog`, `lineage`, `query`) and the query
fence all start from it, and must not pay for the rebuild's polars import to read a few JSON
files.
"""

from __future__ import annotations

from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.models import TableMetadata


def catalog_tables(cfg: PipelineConfig) -> dict[str, TableMetadata]:
    """Every table entry by catalog name (`dim_noc`, `silver.noc_structure`, ...)."""
    tables = {}
    for path in sorted(cfg.catalog_tables_path().glob("*.json")):
        meta = TableMetadata.model_validate_json(path.read_text(encoding="utf-8"))
        tables[meta.table_name] = meta
    return tables

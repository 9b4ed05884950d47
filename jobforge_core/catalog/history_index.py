"""The kept batches of every layer table, for `catalog.history` and the `history.*` views."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.table_names import HISTORY_SCHEMA, catalog_name, history_view_name

__all__ = ["HISTORY_SCHEMA", "BatchVersion", "batch_versions", "history_view_name"]


class BatchVersion(BaseModel):
    """One batch of one table, current or kept: one row of `catalog.history`."""

    table_name: str  # catalog name: `dim_noc`, `silver.noc_structure`
    layer: str
    batch_id: str
    current: bool
    rows: int
    ingested_at: datetime | None
    written_at: datetime
    file_path: str  # relative to the data root


def batch_versions(cfg: PipelineConfig, layer: Layer, table: str) -> list[BatchVersion]:
    from jobforge_core.history.batches import versions  # polars: not for the read commands' start

    return [
        BatchVersion(
            table_name=catalog_name(layer, table),
            layer=layer.value,
            batch_id=v.batch_id,
            current=v.current,
            rows=v.rows(),
            ingested_at=v.ingested_at(),
            written_at=datetime.fromtimestamp(v.written_at(), UTC),
            file_path=str(v.file.relative_to(cfg.data_root)),
        )
        for v in versions(cfg, layer, table)
    ]

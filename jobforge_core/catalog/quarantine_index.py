"""Index of row quarantine files: counts per layer, table, batch and reason."""

from __future__ import annotations

from pydantic import BaseModel

from jobforge_core.common.config import Layer, PipelineConfig


class QuarantineCount(BaseModel):
    """Rows of one row-quarantine file with one reason: one row of `catalog.quarantine`."""

    layer: str
    table_name: str
    batch_id: str
    reason: str
    rows: int
    file_path: str


def quarantine_files(cfg: PipelineConfig) -> list[tuple[Layer, str, str, str]]:
    """(layer, table, batch, relative path) of every row quarantine file."""
    found = []
    for layer in Layer:
        base = cfg.quarantine_path() / layer.value
        for path in sorted(base.glob("*/*.parquet")):
            rel = str(path.relative_to(cfg.data_root))
            found.append((layer, path.parent.name, path.stem, rel))
    return found


def quarantine_counts(cfg: PipelineConfig) -> list[QuarantineCount]:
    from jobforge_core.checks.quarantine import reason_counts  # polars: not for the read commands

    return [
        QuarantineCount(
            layer=layer.value,
            table_name=table,
            batch_id=batch,
            reason=reason,
            rows=n,
            file_path=rel,
        )
        for layer, table, batch, rel in quarantine_files(cfg)
        for reason, n in reason_counts(cfg.data_root / rel).items()
    ]

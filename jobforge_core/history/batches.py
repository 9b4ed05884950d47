"""Batch history: the versions of every layer table that a newer batch replaced.

When a batch is about to replace a table, the current file is hard-linked to
`<root>/history/<layer>/<table>/<batch_id>.parquet` before the transition writes; the
transition's own `os.replace` then swaps the current path to the new batch. Nothing is copied
(the old version's bytes stay where they are, now reachable only from history) and at no
moment is the current table missing or half-written. If the transition fails, the link is
removed again: the current table is still that batch. A spec's `history_retention` (default
10, 0 keeps none) bounds how many replaced versions a table keeps.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from jobforge_core.common.atomic import parquet_rows, temp_path_for
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.provenance import BATCH_ID, INGESTED_AT

HISTORY = "history"


def history_root(cfg: PipelineConfig) -> Path:
    return cfg.data_root / HISTORY


def history_dir(cfg: PipelineConfig, layer: Layer | str, table: str) -> Path:
    return history_root(cfg) / Layer(layer).value / table


def history_file(cfg: PipelineConfig, layer: Layer | str, table: str, batch_id: str) -> Path:
    return history_dir(cfg, layer, table) / f"{batch_id}.parquet"


def batch_of(path: Path) -> str | None:
    """The batch a layer table holds: the one category of its `_batch_id` Enum (the footer
    only), else its first row; None for a file without provenance."""
    schema = pl.read_parquet_schema(path)
    dtype = schema.get(BATCH_ID)
    if dtype is None:
        return None
    if isinstance(dtype, pl.Enum) and len(dtype.categories) == 1:
        return str(dtype.categories[0])
    first = pl.scan_parquet(path).select(BATCH_ID).head(1).collect()
    return str(first[BATCH_ID][0]) if len(first) else None


def _link(source: Path, target: Path) -> None:
    """Hard link (no bytes copied); on a file system without links, a copy moved into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class Kept:
    """The version of a table that a running batch is about to replace, kept in history."""

    layer: Layer
    table: str
    batch_id: str
    file: Path
    created: bool  # linked by this run (False: that batch was already kept)


def keep_previous(cfg: PipelineConfig, layer: Layer, table: str, new_batch: str) -> Kept | None:
    """Before `new_batch` replaces `table`, link the current version into history.

    Always linked, whatever the retention: the link is what a rejected batch is rolled back
    to; `prune` applies the retention once the batch is accepted. None: no current table, or
    the same batch again (a forced re-run).
    """
    current = cfg.table_path(layer, table)
    if not current.is_file():
        return None
    batch = batch_of(current)
    if batch is None or batch == new_batch:
        return None
    target = history_file(cfg, layer, table, batch)
    created = not target.exists()
    if created:
        _link(current, target)
    return Kept(layer, table, batch, target, created)


def undo_keep(cfg: PipelineConfig, kept: Kept) -> None:
    """The batch failed before replacing the table: drop the link made for it (unless the
    table was replaced after all: then the link is the previous version's only copy)."""
    current = cfg.table_path(kept.layer, kept.table)
    if kept.created and current.is_file() and batch_of(current) == kept.batch_id:
        kept.file.unlink(missing_ok=True)


def roll_back(cfg: PipelineConfig, kept: Kept) -> None:
    """Put the kept version back as the current table, atomically (the rejected batch's file
    is replaced, never kept)."""
    current = cfg.table_path(kept.layer, kept.table)
    if kept.file.is_file() and batch_of(current) != kept.batch_id:
        os.replace(kept.file, current)


def prune(cfg: PipelineConfig, layer: Layer, table: str, retention: int) -> list[Path]:
    """Delete the oldest kept versions beyond `retention` (by when each batch was written)."""
    kept = sorted(
        history_dir(cfg, layer, table).glob("*.parquet"),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    removed = kept[max(retention, 0) :]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


@dataclass(frozen=True)
class TableVersion:
    """One batch of one table: the current file or a kept one."""

    layer: Layer
    table: str
    batch_id: str
    file: Path
    current: bool

    def rows(self) -> int:
        return parquet_rows(self.file)

    def ingested_at(self) -> datetime | None:
        first = pl.scan_parquet(self.file).select(INGESTED_AT).head(1).collect()
        return first[INGESTED_AT][0] if len(first) else None

    def written_at(self) -> float:
        return self.file.stat().st_mtime


def versions(cfg: PipelineConfig, layer: Layer, table: str) -> list[TableVersion]:
    """Every version of a table, newest first: the current one, then the kept ones."""
    found = []
    current = cfg.table_path(layer, table)
    current_batch = batch_of(current) if current.is_file() else None
    if current_batch is not None:
        found.append(TableVersion(layer, table, current_batch, current, True))
    kept = sorted(
        history_dir(cfg, layer, table).glob("*.parquet"),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    found += [TableVersion(layer, table, p.stem, p, False) for p in kept if p.stem != current_batch]
    return found

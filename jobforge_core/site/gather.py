"""What the catalog site shows, read from a data root's catalog on disk (no specs needed).

Everything comes from files a rebuild wrote: the table JSONs, the glossary, the model schema,
the transition logs, the row-quarantine files and the failed files' `error.json`. So
`jobforge docs` draws exactly what `jobforge catalog`, `lineage` and `quarantine` answer.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from jobforge_core.catalog.quality import QualityRecord, quality_records
from jobforge_core.catalog.quarantine_index import QuarantineCount, quarantine_counts
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import LayerTransitionLog, TableMetadata, TransitionStatus
from jobforge_core.common.table_names import split_name
from jobforge_core.history.batches import batch_of
from jobforge_core.history.transition_logs import read_logs
from jobforge_core.site.changes import table_changes
from jobforge_core.sources.glossary import GlossaryTerm

QUARANTINE_SAMPLE = 5


@dataclass
class BatchPoint:
    """One batch of one table: rows it wrote and rows it quarantined (the trend)."""

    batch_id: str
    at: datetime
    rows: int
    quarantined: int
    status: str
    current: bool = False
    kept: bool = False


@dataclass
class QuarantineGroup:
    """Rows of one table quarantined for one reason in one batch, with a few of them."""

    batch_id: str
    reason: str
    rows: int
    file_path: str
    sample: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


@dataclass
class FailedFile:
    """A file quarantine: its folder (relative to the data root) and its `error.json`."""

    batch_id: str
    folder: str
    error: dict[str, Any]
    text: str
    files: list[str] = field(default_factory=list)


@dataclass
class SiteData:
    data_root: Path
    tables: dict[str, TableMetadata]
    glossary: list[GlossaryTerm]
    model: dict[str, Any]
    logs: list[LayerTransitionLog]
    quarantine: list[QuarantineCount]
    quality: list[QualityRecord]
    failed_files: list[FailedFile]
    sources: dict[str, str] = field(default_factory=dict)  # catalog name -> source name
    current_batch: dict[str, str | None] = field(default_factory=dict)
    # gold table -> its last release's changes (site/changes.py), for tables with two batches
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def relationships(self) -> list[dict[str, str]]:
        return list(self.model.get("relationships", []))

    @cached_property
    def edges(self) -> list[tuple[str, str]]:
        """upstream -> downstream between catalog names and source files (`file:<name>`)."""
        edges = []
        for m in self.tables.values():
            edges += [(up, m.table_name) for up in m.upstream_tables]
            edges += [(m.table_name, down) for down in m.downstream_tables]
        return list(dict.fromkeys(edges))

    @cached_property
    def upstream(self) -> dict[str, list[str]]:
        up: dict[str, list[str]] = defaultdict(list)
        for a, b in self.edges:
            up[b].append(a)
        return up

    @cached_property
    def downstream(self) -> dict[str, list[str]]:
        down: dict[str, list[str]] = defaultdict(list)
        for a, b in self.edges:
            down[a].append(b)
        return down

    @cached_property
    def foreign_key_pairs(self) -> set[tuple[str, str]]:
        """(referenced table, table) of every relationship."""
        return {(r["referenced_table"], r["table"]) for r in self.relationships}

    def layer_of(self, name: str) -> Layer | None:
        """The table's layer; None for a source file node (`file:<name>`)."""
        meta = self.tables.get(name)
        if meta:
            return meta.layer
        try:
            return split_name(name)[0]
        except ValueError:
            return None

    def transitions(self, name: str) -> list[LayerTransitionLog]:
        """Every logged transition that wrote this table, oldest first."""
        layer, table = split_name(name)
        source = self.sources.get(name)
        found = []
        for log in self.logs:
            if log.target_layer is not layer or log.source_name != source:
                continue
            if layer is Layer.GOLD and log.rows_by_table and table not in log.rows_by_table:
                continue
            found.append(log)
        return found

    def latest_transitions(self, name: str) -> list[LayerTransitionLog]:
        """source file -> ... -> this table, for the batch the table holds now: the latest
        transition of each layer of that batch (what `jobforge lineage` shows)."""
        layer = self.layer_of(name)
        source, batch = self.sources.get(name), self.current_batch.get(name)
        order = list(Layer)[: list(Layer).index(layer) + 1]
        latest: dict[Layer, LayerTransitionLog] = {}
        for log in self.logs:
            if log.source_name != source or log.batch_id != batch:
                continue
            if log.status is TransitionStatus.FAILED or log.target_layer not in order:
                continue
            latest[log.target_layer] = log  # logs are oldest first
        return [latest[lyr] for lyr in order if lyr in latest]

    def batch_quarantine(self, name: str, batch: str | None = None) -> list[QuarantineCount]:
        """Rows of one batch (default: the one the table holds) quarantined in this table's
        layer or any layer before it: what the batch lost on its way here. A gold table's
        own quarantine is its own; the layers before it quarantine per source."""
        layer, table = split_name(name)
        order = [lyr.value for lyr in list(Layer)[: list(Layer).index(layer) + 1]]
        source = self.sources.get(name)
        batch = batch or self.current_batch.get(name)
        found = []
        for q in self.quarantine:
            if q.batch_id != batch or q.layer not in order:
                continue
            own = q.layer == layer.value
            if (q.table_name == table) if own and layer is Layer.GOLD else q.table_name == source:
                found.append(q)
        return sorted(found, key=lambda q: (order.index(q.layer), q.reason))

    def trend(self, name: str) -> list[BatchPoint]:
        """Per batch that wrote the table (latest transition of each), oldest first."""
        layer, table = split_name(name)
        qtable = table if layer is Layer.GOLD else self.sources.get(name, table)
        kept = _kept_batches(self.data_root, layer, qtable)
        points: dict[str, BatchPoint] = {}
        for log in self.transitions(name):
            rows = log.rows_by_table.get(table, log.row_count_out) if log.rows_by_table else None
            points.pop(log.batch_id, None)  # the latest run of a batch speaks for it
            counts = self.batch_quarantine(name, log.batch_id)
            own = [q for q in counts if q.layer == layer.value]
            # a quarantine file no longer kept: the log's own count still says it
            lost = sum(q.rows for q in counts) + (0 if own else log.row_count_quarantined)
            status = log.status.value
            if lost and log.status is TransitionStatus.SUCCESS:
                status = "partial"  # published, but rows of the batch were set aside
            points[log.batch_id] = BatchPoint(
                batch_id=log.batch_id,
                at=log.completed_at or log.started_at,
                rows=log.row_count_out if rows is None else rows,
                quarantined=lost,
                status=status,
                current=log.batch_id == self.current_batch.get(name),
                kept=log.batch_id in kept,
            )
        return sorted(points.values(), key=lambda p: p.at)

    def quarantine_groups(self, name: str) -> list[QuarantineGroup]:
        layer, table = split_name(name)
        qtable = table if layer is Layer.GOLD else self.sources.get(name, table)
        groups = []
        for q in self.quarantine:
            if q.layer != layer.value or q.table_name != qtable:
                continue
            groups.append(
                QuarantineGroup(
                    batch_id=q.batch_id, reason=q.reason, rows=q.rows, file_path=q.file_path
                )
            )
        for group in groups:
            path = self.data_root / group.file_path
            if not path.resolve().is_relative_to(self.data_root.resolve()):
                continue
            frame = (
                pl.scan_parquet(path)
                .filter(pl.col("_quarantine_reason") == group.reason)
                .head(QUARANTINE_SAMPLE)
                .collect()
            )
            group.columns = list(frame.columns)
            group.sample = [{k: _cell(v) for k, v in row.items()} for row in frame.to_dicts()]
        return sorted(
            groups, key=lambda g: (g.batch_id != self.current_batch.get(name), g.batch_id, g.reason)
        )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def _kept_batches(root: Path, layer: Layer, table: str) -> set[str]:
    folder = root / "history" / layer.value / table
    return {p.stem for p in folder.glob("*.parquet")} if folder.is_dir() else set()


def _read_json(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def failed_files(cfg: PipelineConfig) -> list[FailedFile]:
    base = cfg.quarantine_path() / "files"
    found = []
    for path in sorted(base.glob("*/error.json")):
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            error = json.loads(text)
        except ValueError:
            error = {"message": "error.json is not valid JSON"}
        found.append(
            FailedFile(
                batch_id=path.parent.name,
                folder=str(path.parent.relative_to(cfg.data_root)),
                error=error if isinstance(error, dict) else {"error": error},
                text=text,
                files=sorted(p.name for p in path.parent.iterdir() if p.name != "error.json"),
            )
        )
    return found


def gather(cfg: PipelineConfig) -> SiteData:
    """Read the whole catalog of a data root."""
    tables: dict[str, TableMetadata] = {}
    for path in sorted(cfg.catalog_tables_path().glob("*.json")):
        meta = TableMetadata.model_validate_json(path.read_text(encoding="utf-8"))
        tables[meta.table_name] = meta
    glossary = [
        GlossaryTerm.model_validate(t)
        for t in _read_json(cfg.catalog_glossary_path() / "glossary.json", [])
    ]
    model = _read_json(
        cfg.catalog_schemas_path() / "model.json", {"tables": {}, "relationships": []}
    )
    logs = sorted(read_logs(cfg), key=lambda log: log.completed_at or log.started_at)
    sources = {}
    current = {}
    for name, meta in tables.items():
        layer, table = split_name(name)
        if layer is Layer.GOLD:
            sources[name] = model.get("tables", {}).get(name, {}).get("source", "")
        else:
            sources[name] = table
        path = cfg.data_root / meta.file_path
        inside = path.resolve().is_relative_to(cfg.data_root.resolve())
        current[name] = batch_of(path) if inside and path.is_file() else None
    return SiteData(
        data_root=cfg.data_root,
        tables=tables,
        glossary=glossary,
        model=model,
        logs=logs,
        quarantine=quarantine_counts(cfg),
        quality=quality_records(logs),
        failed_files=failed_files(cfg),
        sources=sources,
        current_batch=current,
        changes={
            name: found
            for name in tables
            if split_name(name)[0] is Layer.GOLD and (found := table_changes(cfg, name)) is not None
        },
    )

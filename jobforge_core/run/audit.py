"""Questions over time, answered from the kept batches and the transition logs.

`table_history`: the batches of a table, newest first. `restore_source`: put every layer table
of a source back to a kept batch. Both read or move files under the data root only; nothing
here needs the DuckDB store (the caller rebuilds it after a restore).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jobforge_core.common.atomic import parquet_rows
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import JobForgeError
from jobforge_core.common.models import LayerTransitionLog, RunOrigin, TransitionStatus, utc_now
from jobforge_core.common.table_names import catalog_name, is_identifier, metadata_path, split_name
from jobforge_core.history.batches import batch_of, history_file, keep_previous, prune, versions
from jobforge_core.history.changes import Label, ReleaseChanges, release_changes
from jobforge_core.history.transition_logs import read_logs, write_log
from jobforge_core.run.pipeline import layer_tables
from jobforge_core.run.registry import forget_spec
from jobforge_core.run.state import SourceState, mark_incomplete, read_state, write_state
from jobforge_core.sources.spec import SourceSpec

RESTORE = "restore"


class AuditError(JobForgeError):
    """A history question that cannot be answered: unknown table or batch."""


def _writes_table(log: LayerTransitionLog, layer: Layer, table: str) -> bool:
    if log.status is TransitionStatus.FAILED or log.target_layer is not layer:
        return False
    return table in log.rows_by_table if layer is Layer.GOLD else log.source_name == table


def _parse(name: str) -> tuple[Layer, str]:
    if not is_identifier(name):
        raise AuditError(f"not a table name: {name!r}")
    try:
        return split_name(name)
    except ValueError as exc:
        raise AuditError(f"unknown layer in {name!r}: {exc}") from exc


def table_history(cfg: PipelineConfig, name: str) -> list[dict[str, Any]]:
    """Every batch that wrote the table (newest first): when, from which file, how many rows,
    what was quarantined, which columns changed, which flow run, and whether it is kept."""
    layer, table = _parse(name)
    logs = sorted(read_logs(cfg), key=lambda log: log.completed_at or log.started_at)
    writes: dict[str, LayerTransitionLog] = {}
    for log in logs:
        if _writes_table(log, layer, table):
            writes.pop(log.batch_id, None)  # re-inserted: order is by the latest write
            writes[log.batch_id] = log
    held = {v.batch_id: v for v in versions(cfg, layer, table)}
    if not writes and not held:
        raise AuditError(f"no batch of {name!r} in {cfg.data_root}")
    staged = {
        log.batch_id: log
        for log in logs
        if log.target_layer is Layer.STAGED and log.source_layer != RESTORE and log.source_sha256
    }
    order = list(Layer)
    rows = []
    for batch in reversed(list(writes) + [b for b in held if b not in writes]):
        log = writes.get(batch)
        version = held.get(batch)
        source = staged.get(batch)
        quarantined: dict[str, int] = {}
        for other in logs:
            if other.batch_id == batch and other.target_layer in order[: order.index(layer) + 1]:
                for rule, n in other.rows_by_rule.items():
                    if n and other.source_layer != RESTORE:
                        quarantined[f"{other.target_layer.value}:{rule}"] = n
        rows.append(
            {
                "batch_id": batch,
                "status": "current"
                if version and version.current
                else ("kept" if version else "not kept"),
                "ingested_at": version.ingested_at()
                if version
                else (source.started_at if source else None),
                "written_at": (log.completed_at if log else None),
                "source_file": source.source_files[0] if source and source.source_files else None,
                "source_sha256": source.source_sha256 if source else None,
                "rows": version.rows() if version else _logged_rows(log, layer, table),
                "quarantined": quarantined,
                "schema_changes": [
                    c.describe()
                    for c in (log.schema_changes if log else [])
                    if c.table_name == table
                ],
                "restored": bool(log and log.source_layer == RESTORE),
                "flow_run_id": log.flow_run_id if log else None,
                "flow_run_url": log.flow_run_url if log else None,
            }
        )
    return rows


def table_releases(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The releases behind a table's batches (from `table_history`), newest first: the file,
    its date (its modification time, while it is still there), its SHA-256 and its batches.
    One file is one release; it may have several batches (a spec change, a re-run)."""
    from datetime import UTC, datetime

    releases: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if not row["source_file"]:
            continue
        path = Path(row["source_file"])
        release = releases.setdefault(
            (str(path), row["source_sha256"] or ""),
            {
                "release": path.name,
                "file_date": datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()
                if path.is_file()
                else None,
                "current": False,
                "batches": [],
                "source_sha256": row["source_sha256"],
                "path": str(path),
            },
        )
        release["batches"].append(row["batch_id"])
        release["current"] = release["current"] or row["status"] == "current"
    return list(releases.values())


def _logged_rows(log: LayerTransitionLog | None, layer: Layer, table: str) -> int | None:
    if log is None:
        return None
    return log.rows_by_table.get(table) if layer is Layer.GOLD else log.row_count_out


def restore_source(
    cfg: PipelineConfig, spec: SourceSpec, batch: str, origin: RunOrigin | None = None
) -> list[LayerTransitionLog]:
    """Every layer table of the source back to `batch`, each by one `os.replace` from history;
    the version it replaces is kept in history. Logged as one transition per layer
    (`source_layer` "restore"). The source's state then names the restored batch, so the next
    plain run sees its file differs and reprocesses it.

    Every table's kept version is checked before anything moves: a batch that is not kept for
    all of them changes nothing.
    """
    plan = [(layer, table) for layer in Layer for table in layer_tables(spec, layer)]
    missing = [
        catalog_name(layer, table)
        for layer, table in plan
        if not history_file(cfg, layer, table, batch).is_file()
        and _current_batch(cfg, layer, table) != batch
    ]
    if missing:
        kept = [v.batch_id for v in versions(cfg, Layer.STAGED, spec.name)]
        raise AuditError(
            f"batch {batch!r} of {spec.name} is not kept for {', '.join(missing)}"
            + (f"; batches held: {', '.join(kept)}" if kept else "")
        )
    damaged = [
        catalog_name(layer, table)
        for layer, table in plan
        if history_file(cfg, layer, table, batch).is_file()
        and _kept_batch(history_file(cfg, layer, table, batch)) != batch
    ]
    if damaged:
        raise AuditError(
            f"batch {batch!r} of {spec.name} is damaged in history for {', '.join(damaged)} "
            "(not a readable table of that batch): nothing restored"
        )
    if all(_current_batch(cfg, layer, table) == batch for layer, table in plan):
        return []  # every layer already holds it: nothing to move
    # Killed between two moves, the layers would hold different batches: marked incomplete
    # first, the source is reprocessed by the next run instead of being called unchanged.
    mark_incomplete(cfg, spec.name)
    logs = []
    for layer in Layer:
        started = utc_now()
        tables = layer_tables(spec, layer)
        if all(_current_batch(cfg, layer, t) == batch for t in tables):
            continue  # after a partial failure only some layers differ: the rest stay, unlogged
        replaced: dict[str, str] = {}
        rows: dict[str, int] = {}
        for table in tables:
            current = cfg.table_path(layer, table)
            previous = _current_batch(cfg, layer, table)
            if previous != batch:  # after a partial failure only some layers differ
                keep_previous(cfg, layer, table, batch)
                os.replace(history_file(cfg, layer, table, batch), current)
                if previous:
                    replaced[table] = previous
            rows[table] = parquet_rows(current)
            prune(cfg, layer, table, spec.history_retention)
        log = LayerTransitionLog(
            source_name=spec.name,
            batch_id=batch,
            source_layer=RESTORE,
            target_layer=layer,
            source_files=[str(history_file(cfg, layer, t, batch)) for t in tables],
            target_file=str(cfg.table_path(layer, tables[0])) if tables else None,
            target_files=[str(cfg.table_path(layer, t)) for t in tables],
            row_count_in=sum(rows.values()),
            row_count_out=sum(rows.values()),
            rows_by_table=rows if layer is Layer.GOLD else {},
            transforms_applied=[RESTORE],
            replaced_batches=replaced,
            started_at=started,
            completed_at=utc_now(),
            **(origin.model_dump() if origin else {}),
        )
        write_log(cfg, log)
        logs.append(log)
    _restore_state(cfg, spec, batch)
    return logs


def retire_source(cfg: PipelineConfig, spec: SourceSpec) -> list[str]:
    """Every layer table of the source into history (kept under its batch, as a replaced
    version is), then its state and its recorded spec go. Returns the tables moved."""
    moved = []
    mark_incomplete(cfg, spec.name)  # killed half-way: the next run rebuilds, not "unchanged"
    for layer in Layer:
        for table in layer_tables(spec, layer):
            current = cfg.table_path(layer, table)
            batch = _current_batch(cfg, layer, table)
            if batch is None:
                continue
            keep_previous(cfg, layer, table, f"retired-{batch}")
            current.unlink()
            metadata_path(cfg, catalog_name(layer, table)).unlink(missing_ok=True)
            moved.append(catalog_name(layer, table))
    (cfg.state_path() / f"{spec.name}.json").unlink(missing_ok=True)
    forget_spec(cfg, spec.name)
    return moved


def _kept_batch(path: Path) -> str | None:
    """The batch a kept file holds, or None when it is not a readable table: a garbage file
    in history was installed as gold by `restore`."""
    import polars as pl

    try:
        batch = batch_of(path)
        pl.scan_parquet(path).select(pl.len()).collect()
    except (OSError, pl.exceptions.PolarsError, ValueError):
        return None
    return batch


def _current_batch(cfg: PipelineConfig, layer: Layer, table: str) -> str | None:
    path = cfg.table_path(layer, table)
    return batch_of(path) if path.is_file() else None


def _restore_state(cfg: PipelineConfig, spec: SourceSpec, batch: str) -> None:
    """The state names the restored batch (with its own file hash): a plain run compares the
    file's batch with it, finds them different, and reprocesses the file."""
    staged = [
        log
        for log in read_logs(cfg)
        if log.batch_id == batch and log.target_layer is Layer.STAGED and log.source_sha256
    ]
    previous = read_state(cfg, spec.name)
    write_state(
        cfg,
        SourceState(
            source=spec.name,
            batch_id=batch,
            content_sha256=staged[0].source_sha256 if staged else "unknown",
            spec_fingerprint=previous.spec_fingerprint if previous else "unknown",
            source_file=staged[0].source_files[0] if staged else "",
            gold_tables=[g.table for g in spec.gold],
            upstream=previous.upstream if previous else {},
            completed_at=utc_now().isoformat(),
        ),
    )


def table_grain(cfg: PipelineConfig, layer: Layer, table: str) -> list[str]:
    """A gold table's declared grain (catalog/schemas/model.json); other layers have none."""
    path = cfg.catalog_schemas_path() / "model.json"
    if layer is not Layer.GOLD or not path.is_file():
        return []
    model = json.loads(path.read_text(encoding="utf-8"))
    return list(model["tables"].get(table, {}).get("grain") or [])


def diff_table(
    cfg: PipelineConfig,
    name: str,
    from_batch: str | None = None,
    to_batch: str | None = None,
    key: list[str] | None = None,
    sample: int = 10,
    window: str | None = None,
) -> ReleaseChanges:
    """Compare two kept batches of a table (default: the previous one and the current one):
    the release story of changes.py, labelled from the gold dimensions the table references."""
    layer, table = _parse(name)
    held = {v.batch_id: v for v in versions(cfg, layer, table)}
    order = list(held)
    if len(order) < 2 and not (from_batch and to_batch):
        raise AuditError(
            f"{name} holds {len(order)} batch(es) in {cfg.data_root}: nothing to compare"
        )
    to_batch = to_batch or order[0]
    from_batch = from_batch or next((b for b in order if b != to_batch), None)
    for batch in (from_batch, to_batch):
        if batch not in held:
            raise AuditError(
                f"batch {batch!r} of {name} is not kept; kept: {', '.join(order) or 'none'}"
            )
    grain = key or table_grain(cfg, layer, table)
    before, after = held[from_batch].file, held[to_batch].file
    if window is None:
        window = _window_column(after, grain)
    return release_changes(
        before,
        after,
        grain,
        window=window,
        labels=dimension_labels(cfg, table) if layer is Layer.GOLD else {},
        quarantine=cfg.row_quarantine_file(layer, table, to_batch),
        sample=sample,
    )


# A label column of a dimension: its title, name or label (dim_noc's class_title).
_LABEL_ENDINGS = ("title", "name", "label")


def dimension_labels(cfg: PipelineConfig, table: str) -> dict[str, Label]:
    """Per foreign-key column of a gold table, the referenced dimension's label column."""
    import polars as pl

    path = cfg.catalog_schemas_path() / "model.json"
    if not path.is_file():
        return {}
    model = json.loads(path.read_text(encoding="utf-8"))
    found: dict[str, Label] = {}
    for rel in model.get("relationships", []):
        if rel["table"] != table:
            continue
        dim = cfg.table_path(Layer.GOLD, rel["referenced_table"])
        if not dim.is_file():
            continue
        names = pl.scan_parquet(dim).collect_schema().names()
        label = next((c for c in names if c.lower().endswith(_LABEL_ENDINGS)), None)
        if label is not None:
            found[rel["column"]] = Label(dim, rel["referenced_column"], label)
    return found


def _window_column(path: Path, key: list[str]) -> str | None:
    """The key column whose values move from release to release: an integer `year`."""
    import polars as pl

    schema = pl.scan_parquet(path).collect_schema()
    for column in key:
        if (column == "year" or column.endswith("_year")) and schema[column].is_integer():
            return column
    return None

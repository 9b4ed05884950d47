"""Published gold: consistent snapshots of the whole gold layer (write-audit-publish).

Transitions write the working gold layer (`gold/<table>.parquet`); readers never read it.
At the end of a run the working tables that changed are audited together with everything
already published: every declared foreign key of the candidate snapshot must hold. A new
version that would break one is held back (the previous version stays published) and named
with the reason. Then the snapshot is committed:

1. each new table file is hard-linked, immutable and content-addressed, under
   `published/files/<table>/<sha256[:16]>.parquet` (nothing is copied);
2. the manifest `published/snapshots/<id>.json` lists every table's file, checksum, batch
   and row count;
3. `published/CURRENT` is replaced atomically with the new id: that one small write is the
   commit. On object storage it would be a conditional put of the same pointer.

The store's views, `query`, `lineage`, the catalog and the site read the files the current
manifest names, so a reader sees one whole snapshot or the previous one, never a mix, and
a file it has opened is never rewritten. A data root that has never published (an older
one, or tables built by the plain API) falls back to the working gold layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from jobforge_core.checks.integrity import Orphans, foreign_key_orphans
from jobforge_core.common.atomic import parquet_rows, temp_path_for, write_json, write_text
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import JobForgeError
from jobforge_core.common.models import utc_now
from jobforge_core.history.batches import batch_of
from jobforge_core.run.checksums import intact, sha256_file, stat_of
from jobforge_core.run.state import mark_incomplete, read_state
from jobforge_core.sources.spec import SourceSpec

PUBLISHED = "published"
CURRENT = "CURRENT"
SNAPSHOT_RETENTION = 30  # manifests kept; files no kept manifest names are removed


class PublishedTable(BaseModel):
    file: str  # relative to the data root
    sha256: str
    batch_id: str
    rows: int
    source: str
    # size, mtime_ns and inode of the working file it was published from: an unchanged
    # working file is recognised without reading it again
    working_stat: list[int] = Field(default_factory=list)


class Snapshot(BaseModel):
    id: str
    created_at: datetime
    parent: str | None = None
    tables: dict[str, PublishedTable] = Field(default_factory=dict)
    held_back: list[str] = Field(default_factory=list)  # why some new versions are not here
    note: str = ""


class SnapshotDamaged(JobForgeError):
    """The published pointer or a manifest cannot be read."""


@dataclass
class PublishReport:
    snapshot: Snapshot | None  # the snapshot readers see after this step
    published: list[str] = field(default_factory=list)  # tables whose new version went out
    held_back: list[str] = field(default_factory=list)  # one line each: what and why
    orphans: list[Orphans] = field(default_factory=list)  # left in what is published


def published_root(cfg: PipelineConfig) -> Path:
    return cfg.data_root / PUBLISHED


def _manifest_path(cfg: PipelineConfig, snapshot_id: str) -> Path:
    return published_root(cfg) / "snapshots" / f"{snapshot_id}.json"


def read_snapshot(cfg: PipelineConfig, snapshot_id: str) -> Snapshot:
    path = _manifest_path(cfg, snapshot_id)
    try:
        return Snapshot.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError) as exc:
        raise SnapshotDamaged(f"snapshot manifest {path} cannot be read: {exc}") from exc


def current_snapshot(cfg: PipelineConfig) -> Snapshot | None:
    """The snapshot readers see, or None when the data root has never published."""
    pointer = published_root(cfg) / CURRENT
    if not pointer.is_file():
        return None
    snapshot_id = pointer.read_text(encoding="utf-8").strip()
    return read_snapshot(cfg, snapshot_id)


def snapshots(cfg: PipelineConfig) -> list[Snapshot]:
    """Every kept snapshot, oldest first; a damaged manifest is skipped."""
    found = []
    for path in sorted((published_root(cfg) / "snapshots").glob("*.json")):
        try:
            found.append(read_snapshot(cfg, path.stem))
        except SnapshotDamaged:
            continue
    return sorted(found, key=lambda s: s.created_at)


def published_files(cfg: PipelineConfig) -> dict[str, Path] | None:
    """Gold table -> the file readers read; None when nothing was ever published."""
    snap = current_snapshot(cfg)
    if snap is None:
        return None
    return {table: cfg.data_root / entry.file for table, entry in snap.tables.items()}


def gold_file(cfg: PipelineConfig, table: str) -> Path | None:
    """The published file of a gold table (the working one on a data root that never
    published); None when the table is not published."""
    files = published_files(cfg)
    if files is None:
        path = cfg.table_path(Layer.GOLD, table)
        return path if path.is_file() else None
    return files.get(table)


def _working_versions(
    cfg: PipelineConfig,
    specs: dict[str, SourceSpec],
    previous: Mapping[str, PublishedTable],
    damaged: list[str],
) -> dict[str, PublishedTable]:
    """Every working gold table of the given specs, as it would be published; a file
    unchanged since it was published, or since its run recorded its checksum, is not read
    again. A file whose content is not what its run wrote is damaged: never published,
    named in `damaged`, and its source marked for the next run to rebuild."""
    found = {}
    for spec in specs.values():
        state = read_state(cfg, spec.name)
        for out in spec.gold:
            path = cfg.table_path(Layer.GOLD, out.table)
            if not path.is_file():
                continue
            stat = stat_of(path)
            old = previous.get(out.table)
            if old is not None and old.working_stat == stat:
                found[out.table] = old
                continue
            recorded = state.gold_files.get(out.table) if state else None
            if recorded and list(recorded[1:]) == stat:
                sha = recorded[0]
            else:
                sha = sha256_file(path)
                if recorded and sha != recorded[0]:
                    damaged.append(
                        f"{path} is not the file its run wrote (checksum differs): damaged "
                        f"at rest, not published; the next run rebuilds {spec.name}"
                    )
                    mark_incomplete(cfg, spec.name)
                    continue
            if old is not None and old.sha256 == sha:
                found[out.table] = old.model_copy(update={"working_stat": stat})
                continue
            found[out.table] = PublishedTable(
                file="",  # linked at commit
                sha256=sha,
                batch_id=batch_of(path) or "unknown",
                rows=parquet_rows(path),
                source=spec.name,
                working_stat=stat,
            )
    return found


def _recorded(entry: PublishedTable) -> list:
    """The entry as run/checksums records a file: [sha256, size, mtime_ns]."""
    return [entry.sha256, *entry.working_stat[:2]]


def damaged_published(cfg: PipelineConfig, full: bool = False) -> dict[str, str]:
    """Published tables whose file is missing or not what was published: table -> why.

    By stat (free: a published file is never rewritten, so its size and mtime stay those
    recorded) unless `full`, which hashes every file (`jobforge verify`)."""
    snap = current_snapshot(cfg)
    found: dict[str, str] = {}
    for table, entry in (snap.tables if snap else {}).items():
        path = cfg.data_root / entry.file
        if not path.is_file():
            found[table] = f"{path} is missing"
        elif sha256_file(path) != entry.sha256 if full else not intact(path, _recorded(entry)):
            found[table] = f"{path} does not match its checksum in snapshot {snap.id}"
    return found


def mark_for_repair(cfg: PipelineConfig, damaged: Mapping[str, str]) -> None:
    """The sources of damaged published tables are rebuilt by the next (or this) run."""
    snap = current_snapshot(cfg)
    for table in damaged:
        if snap is not None and table in snap.tables:
            mark_incomplete(cfg, snap.tables[table].source)


def _file_of(cfg: PipelineConfig, table: str, entry: PublishedTable) -> Path:
    return cfg.data_root / entry.file if entry.file else cfg.table_path(Layer.GOLD, table)


def _why(table: str, entry: PublishedTable, o: Orphans, failed: set[str], parent: bool) -> str:
    lost = f"{o.rows} row(s) of {o.table}"
    if o.table != table and o.table in failed:
        lost += " (its source failed)"
    codes = ", ".join(o.examples)
    if parent:
        return (
            f"{table} batch {entry.batch_id} not published: {lost} name {o.column} values "
            f"it drops (e.g. {codes})"
        )
    return (
        f"{table} batch {entry.batch_id} not published: {lost} name {o.column} values "
        f"{o.references} does not hold (e.g. {codes})"
    )


def audit(
    cfg: PipelineConfig,
    specs: dict[str, SourceSpec],
    previous: Mapping[str, PublishedTable],
    candidate: dict[str, PublishedTable],
    failed_tables: set[str],
) -> tuple[dict[str, PublishedTable], list[str], list[Orphans]]:
    """Hold back new versions until every foreign key of the candidate holds: first the
    referenced table whose new version drops codes, else the referencing one."""
    held: list[str] = []
    for _ in range(len(candidate) + 1):  # each pass puts one new version back: bounded
        files = {t: _file_of(cfg, t, e) for t, e in candidate.items()}
        orphans = foreign_key_orphans(cfg, specs, files)
        if not orphans:
            return candidate, held, []
        moved = False
        for o in orphans:
            for table, parent in ((o.references, True), (o.table, False)):
                entry = candidate.get(table)
                if entry is None or not _is_new(table, entry, previous):
                    continue  # already the published version
                held.append(_why(table, entry, o, failed_tables, parent))
                if table in previous:
                    candidate[table] = previous[table]
                else:
                    del candidate[table]
                moved = True
                break
            if moved:
                break
        if not moved:  # what remains was published before: nothing here can mend it
            return candidate, held, orphans
    raise AssertionError(f"the foreign-key audit did not settle: {held}")  # a bug, not data


def _is_new(table: str, entry: PublishedTable, previous: Mapping[str, PublishedTable]) -> bool:
    old = previous.get(table)
    return old is None or old.sha256 != entry.sha256


def _link_into_place(cfg: PipelineConfig, table: str, entry: PublishedTable) -> PublishedTable:
    relative = Path(PUBLISHED) / "files" / table / f"{entry.sha256[:16]}.parquet"
    target = cfg.data_root / relative
    if not target.is_file() or sha256_file(target) != entry.sha256:  # absent, or damaged
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = temp_path_for(target)
        source = cfg.table_path(Layer.GOLD, table)
        try:
            os.link(source, temp)
            # the audited file itself (same inode, size and mtime), or it was replaced since
            same = stat_of(temp) == entry.working_stat
        except OSError:  # another file system, or no hard links: copy, and read the copy
            shutil.copyfile(source, temp)
            same = sha256_file(temp) == entry.sha256
        if not same:
            temp.unlink()
            raise SnapshotDamaged(f"{source} changed while it was being published")
        os.replace(temp, target)
    return entry.model_copy(update={"file": str(relative)})


def commit(cfg: PipelineConfig, snapshot: Snapshot) -> None:
    """The manifest, then the pointer: one small atomic write makes it what readers see."""
    write_json(_manifest_path(cfg, snapshot.id), snapshot.model_dump(mode="json"))
    write_text(published_root(cfg) / CURRENT, snapshot.id + "\n")
    _prune(cfg)


def _new_id(tables: Mapping[str, PublishedTable]) -> str:
    now = utc_now()
    body = json.dumps({t: e.sha256 for t, e in sorted(tables.items())}).encode()
    return f"{now:%Y%m%dT%H%M%S%fZ}-{hashlib.sha256(body).hexdigest()[:8]}"


def publish(
    cfg: PipelineConfig,
    specs: dict[str, SourceSpec],
    failed_sources: set[str] | None = None,
    note: str = "",
    retired: set[str] | None = None,
    repair: set[str] | None = None,
) -> PublishReport:
    """Audit the working gold layer against what is published, publish what passes.
    `retired`: tables leaving published gold on purpose (`jobforge retire`)."""
    current = current_snapshot(cfg)
    previous = dict(current.tables) if current else {}
    gone = sorted(set(previous) & (retired or set()))
    for table in gone:
        del previous[table]
    # damaged published files: whatever the working layer holds goes out again, relinked
    mending = {t: previous.pop(t) for t in sorted(set(previous) & (repair or set()))}
    damaged: list[str] = []
    working = _working_versions(cfg, specs, previous, damaged)
    for table in retired or set():  # retired on purpose: its working file must not return
        working.pop(table, None)
    failed_tables = {
        out.table for name in failed_sources or set() if name in specs for out in specs[name].gold
    }
    for table, entry in mending.items():
        if table not in working:  # nothing to publish in its place: keep what there was
            previous[table] = entry
    candidate, held, orphans = audit(cfg, specs, previous, {**previous, **working}, failed_tables)
    moved = [t for t, e in candidate.items() if _is_new(t, e, previous)]
    fresh = [t for t in moved if not candidate[t].file or t in mending]
    held = damaged + held
    if current is not None and not moved and not gone:
        return PublishReport(current, [], held, orphans)
    tables = {
        t: _link_into_place(cfg, t, e) if t in fresh else e for t, e in sorted(candidate.items())
    }
    snap = Snapshot(
        id=_new_id(tables),
        created_at=utc_now(),
        parent=current.id if current else None,
        tables=tables,
        held_back=held,
        note=note,
    )
    commit(cfg, snap)
    return PublishReport(snap, sorted(moved + gone), held, orphans)


def _prune(cfg: PipelineConfig) -> None:
    """Keep the newest SNAPSHOT_RETENTION manifests (and the current one) and the files
    they name."""
    kept = snapshots(cfg)
    pointer = (published_root(cfg) / CURRENT).read_text(encoding="utf-8").strip()
    old = [s for s in kept[:-SNAPSHOT_RETENTION] if s.id != pointer]
    for snap in old:
        _manifest_path(cfg, snap.id).unlink(missing_ok=True)
    if not old:
        return
    named = {e.file for s in snapshots(cfg) for e in s.tables.values()}
    for path in (published_root(cfg) / "files").rglob("*.parquet"):
        if str(path.relative_to(cfg.data_root)) not in named:
            path.unlink(missing_ok=True)

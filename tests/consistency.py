"""What every reader of a data root must agree on (issue 25), checked after each step of a
sequence of runs: published gold holds every declared foreign key, and the store, the
catalog, `lineage`, `history` and the site list the same gold tables."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from jobforge_core.checks.integrity import foreign_key_orphans
from jobforge_core.common.config import PipelineConfig
from jobforge_core.run.publish import current_snapshot, published_files
from jobforge_core.run.registry import known_specs
from jobforge_core.sources.spec import load_specs


def gold_in_catalog(root: Path) -> set[str]:
    found = set()
    for path in (root / "catalog" / "tables").glob("*.json"):
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta["layer"] == "gold":
            found.add(meta["table_name"])
    return found


def gold_in_store(root: Path) -> set[str]:
    with duckdb.connect(str(root / "jobforge.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    return {r[0] for r in rows}


def gold_on_site(root: Path) -> set[str]:
    return {p.stem for p in (root / "docs" / "tables").glob("*.html") if "." not in p.stem}


def check(root: Path, spec_dirs: list[Path] | None = None) -> set[str]:
    """Assert the agreement; returns the published gold tables."""
    from flows.cli import main

    cfg = PipelineConfig(data_root=root)
    specs, _ = known_specs(cfg, load_specs(spec_dirs or []))
    files = published_files(cfg)
    assert files is not None, "nothing published"
    orphans = foreign_key_orphans(cfg, specs, files)
    assert orphans == [], [str(o) for o in orphans]
    snap = current_snapshot(cfg)
    for table, entry in snap.tables.items():
        assert (root / entry.file).is_file(), f"{table}: published file missing"
    published = set(files)
    assert gold_in_catalog(root) == published
    assert gold_in_store(root) == published
    assert gold_on_site(root) == published
    for table in sorted(published):
        assert main(["lineage", table, "--data-root", str(root), "--format", "json"]) == 0, table
        assert main(["history", table, "--data-root", str(root), "--format", "json"]) == 0, table
    return published

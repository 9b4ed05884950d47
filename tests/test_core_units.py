"""Direct tests of the invariant code that the CLI and flow tests reach only slowly (issue 29):
publishing, pins, checksums, atomic writes, schema drift, the catalog stamp, the data-root
lock and its temp sweep, source snapshots, the source registry, kept batches and transition
logs, the spec's fingerprint and thresholds.

No Prefect and no subprocess: these run against every mutant of `tests/mutation.py`'s scope,
so each must take well under a second or two. Every test checks a promise of the README or
DESIGN.md by its outcome (what is published, kept, refused, left on disk).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLES
from helpers import run_plain

from jobforge_core.catalog import stamp
from jobforge_core.checks.schema_drift import schema_changes, type_name
from jobforge_core.common import atomic
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.history import batches
from jobforge_core.history.transition_logs import read_logs, write_log
from jobforge_core.run import checksums, housekeeping, pins, publish, registry
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.run.state import read_state, write_state
from jobforge_core.sources import snapshot
from jobforge_core.sources.spec import SourceSpec, Thresholds, _expectation_key, load_specs

DIM, FACT = "noc_structure", "cops_employment"


@pytest.fixture(autouse=True)
def ascii_locale() -> Iterator[None]:
    """Every test here runs under an ASCII locale (a minimal container): what JobForge writes
    and reads back is UTF-8 whatever the machine's locale, so French text survives."""
    import locale

    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


NOC_FILE = "noc_structure_en.csv"
DROPPED_UNIT = "72020"  # a unit group the COPS sample names


@pytest.fixture
def root(tmp_path: Path) -> PipelineConfig:
    """The dimension and one fact built (no Prefect), on a writable copy of the samples."""
    source = tmp_path / "source"
    source.mkdir()
    for name in (NOC_FILE, "employment_emploi_2024_2033_noc2021.csv"):
        shutil.copy(SAMPLES / name, source / name)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    run_plain(cfg, [DIM, FACT])
    return cfg


@pytest.fixture(scope="module")
def specs() -> dict[str, SourceSpec]:
    every = load_specs([])
    return {DIM: every[DIM], FACT: every[FACT]}


def _build_alone(cfg: PipelineConfig, spec: SourceSpec) -> None:
    """Rebuild one source without its dependents following (as after a failed dependent)."""
    for plan in plan_sources({spec.name: spec}, cfg, [spec.name], force=True).values():
        run_source(plan, cfg)


def _retitle(cfg: PipelineConfig, n: int) -> None:
    path = cfg.resolved_source_dir() / NOC_FILE
    text = path.read_text(encoding="utf-8-sig")
    path.write_text(text.replace("Crew supervisors", f"Crew supervisors ({n})"), encoding="utf-8")


def _drop_unit(cfg: PipelineConfig, code: str = DROPPED_UNIT) -> None:
    path = cfg.resolved_source_dir() / NOC_FILE
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(f"5,Unit Group,{code},")]
    assert len(kept) == len(lines) - 1
    path.write_text("\ufeff" + "".join(kept), encoding="utf-8")


# --- publish: write-audit-publish ---------------------------------------------------------


def test_publish_links_every_table_content_addressed_and_points_current_at_it(root, specs):
    report = publish.publish(root, specs, note="première publication")
    snap = report.snapshot
    assert snap is not None and snap.parent is None and snap.note == "première publication"
    manifest = root.data_root / "published" / "snapshots" / f"{snap.id}.json"
    written = json.loads(manifest.read_text(encoding="utf-8"))
    assert written["created_at"] == snap.created_at.isoformat().replace("+00:00", "Z")
    assert publish.snapshots(root) == [snap]
    tables = {"dim_noc", "dim_noc_structure", "fact_cops_employment", "agg_cops_employment"}
    assert set(snap.tables) == tables and sorted(report.published) == sorted(tables)
    assert publish.current_snapshot(root) == snap
    assert (root.data_root / "published" / "CURRENT").read_text() == snap.id + "\n"
    for table, entry in snap.tables.items():
        working = root.table_path(Layer.GOLD, table)
        published = root.data_root / entry.file
        assert entry.file == f"published/files/{table}/{entry.sha256[:16]}.parquet"
        assert checksums.sha256_file(published) == entry.sha256
        assert published.stat().st_ino == working.stat().st_ino  # linked, not copied
        assert entry.rows == pl.read_parquet(published).height
        assert entry.batch_id == batches.batch_of(working)
        assert entry.source == (DIM if table.startswith("dim") else FACT)
        assert publish.gold_file(root, table) == published
    assert publish.gold_file(root, "no_such_table") is None
    assert publish.published_files(root) == {
        t: root.data_root / e.file for t, e in snap.tables.items()
    }


def test_a_root_that_never_published_reads_its_working_gold(root):
    assert publish.current_snapshot(root) is None and publish.published_files(root) is None
    assert publish.damaged_published(root) == {} == publish.damaged_published(root, full=True)
    publish.mark_for_repair(root, {"dim_noc": "missing"})  # nothing published: nothing to mark
    assert read_state(root, DIM).complete
    assert publish.gold_file(root, "dim_noc") == root.table_path(Layer.GOLD, "dim_noc")
    assert publish.gold_file(root, "no_such_table") is None


def test_publishing_again_with_nothing_changed_keeps_the_snapshot(root, specs):
    first = publish.publish(root, specs).snapshot
    assert first.note == ""
    again = publish.publish(root, specs)
    assert again.snapshot == first and again.published == [] and again.held_back == []
    assert len(publish.snapshots(root)) == 1


def test_a_dimension_that_drops_a_code_a_fact_names_is_held_back(root, specs):
    first = publish.publish(root, specs).snapshot
    _drop_unit(root)
    _drop_unit(root, "72011")
    _build_alone(root, specs[DIM])
    report = publish.publish(root, specs, failed_sources={FACT})
    snap = report.snapshot
    assert snap.parent == first.id
    assert snap.tables["dim_noc"] == first.tables["dim_noc"]  # the old version stays
    (why,) = report.held_back
    assert why.startswith(f"dim_noc batch {batches.batch_of(root.table_path('gold', 'dim_noc'))}")
    assert "row(s) of fact_cops_employment (its source failed) name noc_code values it drops" in why
    assert why.endswith("values it drops (e.g. 72011, 72020)") and snap.held_back == [why]
    assert report.orphans == []
    # what is published holds every foreign key
    files = publish.published_files(root)
    dim = pl.read_parquet(files["dim_noc"])["noc_code"].to_list()
    assert DROPPED_UNIT in dim


def test_a_new_fact_naming_codes_the_published_dimension_lacks_is_held_back(root, specs):
    """The published dimension lacks a code (published alone) that the fact's new version
    names: the fact, not the dimension, is the new version held back."""
    publish.publish(root, {DIM: specs[DIM]})
    _drop_unit(root)
    _build_alone(root, specs[DIM])
    reduced = publish.publish(root, {DIM: specs[DIM]}).snapshot
    report = publish.publish(root, specs, failed_sources={FACT})
    assert "fact_cops_employment" not in report.snapshot.tables
    assert report.snapshot.tables["dim_noc"] == reduced.tables["dim_noc"]
    assert not any("(its source failed)" in h for h in report.held_back)  # its own rows
    batch = batches.batch_of(root.table_path(Layer.GOLD, "fact_cops_employment"))
    assert any(
        h.startswith(f"fact_cops_employment batch {batch} not published: ")
        and "row(s) of fact_cops_employment name noc_code values dim_noc does not hold" in h
        and DROPPED_UNIT in h
        for h in report.held_back
    ), report.held_back


def test_a_working_file_damaged_at_rest_is_not_published_and_its_source_rebuilds(root, specs):
    path = root.table_path(Layer.GOLD, "fact_cops_employment")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = publish.publish(root, specs)
    assert "fact_cops_employment" not in report.snapshot.tables
    assert "agg_cops_employment" in report.snapshot.tables  # the source's other table goes out
    assert any("is not the file its run wrote" in h for h in report.held_back)
    assert read_state(root, FACT).complete is False
    assert read_state(root, DIM).complete is True


def test_a_run_recorded_checksum_spares_publishing_a_read_and_a_touch_is_not_damage(
    root, specs, monkeypatch
):
    """Each working file's checksum was recorded by its run: publishing does not read the
    files again; a file whose stat changed but not its bytes is hashed, found the same and
    published, its new stat kept so that the next publish does not read it again."""
    with monkeypatch.context() as mp:
        mp.setattr(publish, "sha256_file", _no_hashing)
        first = publish.publish(root, specs).snapshot
    fact = root.table_path(Layer.GOLD, "fact_cops_employment")
    agg = root.table_path(Layer.GOLD, "agg_cops_employment")
    for path in (fact, agg):
        os.utime(path, ns=(10**9, 10**9))
    _retitle(root, 1)
    _build_alone(root, specs[DIM])  # something moves, so a new snapshot is written
    report = publish.publish(root, specs)
    assert report.held_back == [] and sorted(report.published) == ["dim_noc", "dim_noc_structure"]
    for table, path in (("fact_cops_employment", fact), ("agg_cops_employment", agg)):
        entry = report.snapshot.tables[table]
        assert entry.sha256 == first.tables[table].sha256 and entry.file == first.tables[table].file
        assert entry.working_stat == checksums.stat_of(path)
    with monkeypatch.context() as mp:
        mp.setattr(publish, "sha256_file", _no_hashing)
        assert publish.publish(root, specs).snapshot == report.snapshot


def test_publishing_needs_neither_a_state_nor_a_recorded_checksum(root, specs):
    """Tables built before checksums were recorded (or whose state is gone) are hashed."""
    (root.state_path() / f"{FACT}.json").unlink()
    state = read_state(root, DIM)
    write_state(root, state.model_copy(update={"gold_files": {}}))
    report = publish.publish(root, specs)
    assert len(report.snapshot.tables) == 4 and report.held_back == []
    os.unlink(root.table_path(Layer.GOLD, "fact_cops_employment"))  # a table not (yet) built
    (root.state_path() / f"{FACT}.json").write_text("")
    _retitle(root, 2)
    _build_alone(root, specs[DIM])
    again = publish.publish(root, specs)
    assert "agg_cops_employment" in again.snapshot.tables
    assert (
        again.snapshot.tables["fact_cops_employment"]
        == report.snapshot.tables["fact_cops_employment"]
    )


def test_orphans_already_published_are_reported_and_nothing_is_held_for_them(root, specs):
    publish.publish(root, specs)
    _drop_unit(root)
    _build_alone(root, specs[DIM])
    publish.publish(root, {DIM: specs[DIM]})  # published without the facts' keys checked
    report = publish.publish(root, specs)
    assert report.held_back == [] and report.published == []
    (orphans,) = report.orphans
    assert (orphans.table, orphans.column, orphans.references) == (
        "fact_cops_employment",
        "noc_code",
        "dim_noc",
    )
    assert orphans.examples == [DROPPED_UNIT]
    retired = publish.publish(root, specs, retired={"agg_cops_employment"})
    assert retired.published == ["agg_cops_employment"] and retired.orphans == report.orphans


def test_a_damaged_published_file_is_repaired_from_the_working_one(root, specs, monkeypatch):
    first = publish.publish(root, specs).snapshot
    kept = root.data_root / first.tables["dim_noc"].file
    kept.unlink()  # damaged where it lies: the working file (its other link) is intact
    kept.write_bytes(b"damaged")
    monkeypatch.setattr(publish.os, "link", _no_link)  # another file system: copied
    report = publish.publish(root, specs, repair={"dim_noc"})
    assert report.snapshot.tables["dim_noc"].file == first.tables["dim_noc"].file
    assert checksums.sha256_file(kept) == first.tables["dim_noc"].sha256
    working = root.table_path(Layer.GOLD, "dim_noc")
    assert kept.stat().st_ino != working.stat().st_ino  # a copy
    structure = report.snapshot.tables["dim_noc_structure"]
    root.table_path(Layer.GOLD, "dim_noc_structure").unlink()
    again = publish.publish(root, specs, repair={"dim_noc_structure"})
    assert again.snapshot.tables["dim_noc_structure"] == structure  # nothing to put in its place


def test_a_working_file_replaced_after_its_audit_is_not_published(root, specs, monkeypatch):
    """Between the audit and the link, a writer replaced the working file: refused."""
    audit = publish.audit

    def then_replaced(*args: object, **kwargs: object):
        outcome = audit(*args, **kwargs)
        path = root.table_path(Layer.GOLD, "dim_noc")
        with atomic.atomic_target(path) as tmp:
            shutil.copyfile(path, tmp)
        return outcome

    monkeypatch.setattr(publish, "audit", then_replaced)
    with pytest.raises(publish.SnapshotDamaged, match="changed while it was being published"):
        publish.publish(root, specs)
    assert publish.current_snapshot(root) is None
    left = (root.data_root / "published").rglob(".*.tmp")
    assert not list(left)  # the refused link is not left behind


def _no_hashing(path: Path) -> str:
    raise AssertionError(f"{path} was read again")


def _no_link(source: object, target: object) -> None:
    raise OSError(18, "Invalid cross-device link")


def test_damaged_published_files_are_found_by_stat_or_by_hash(root, specs):
    snap = publish.publish(root, specs).snapshot
    assert publish.damaged_published(root) == {} == publish.damaged_published(root, full=True)
    entry = snap.tables["dim_noc"]
    path = root.data_root / entry.file
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # same size, mtime put back: only a hash sees it
    path.unlink()  # break the hard link: the working file stays intact
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert publish.damaged_published(root) == {}
    assert set(publish.damaged_published(root, full=True)) == {"dim_noc"}
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert "does not match its checksum" in publish.damaged_published(root)["dim_noc"]
    gone = root.data_root / snap.tables["dim_noc_structure"].file
    gone.unlink()
    assert publish.damaged_published(root)["dim_noc_structure"] == f"{gone} is missing"
    publish.mark_for_repair(root, {"dim_noc": "x"})
    assert read_state(root, DIM).complete is False and read_state(root, FACT).complete


def test_repair_relinks_the_working_version_of_a_damaged_published_table(root, specs):
    snap = publish.publish(root, specs).snapshot
    path = root.data_root / snap.tables["dim_noc"].file
    path.unlink()
    report = publish.publish(root, specs, repair={"dim_noc"})
    assert report.snapshot.id != snap.id
    assert checksums.sha256_file(path) == snap.tables["dim_noc"].sha256
    assert "dim_noc" in report.published


def test_a_retired_table_leaves_published_gold(root, specs):
    publish.publish(root, specs)
    report = publish.publish(root, specs, retired={"agg_cops_employment"})
    assert "agg_cops_employment" not in report.snapshot.tables  # even with a working file
    assert report.published == ["agg_cops_employment"]
    assert "fact_cops_employment" in report.snapshot.tables
    root.table_path(Layer.GOLD, "dim_noc_structure").unlink()  # as `jobforge retire` leaves it
    report = publish.publish(root, specs, retired={"dim_noc_structure"})
    # (the aggregate is back: retiring it above left its working file, which `retire` removes)
    assert set(report.snapshot.tables) == {
        "dim_noc",
        "fact_cops_employment",
        "agg_cops_employment",
    }


def test_old_snapshots_and_the_files_only_they_name_are_pruned(root, specs, monkeypatch):
    monkeypatch.setattr(publish, "SNAPSHOT_RETENTION", 2)
    ids, files = [], []
    for n in range(3):
        _retitle(root, n)
        _build_alone(root, specs[DIM])
        snap = publish.publish(root, {DIM: specs[DIM]}).snapshot
        ids.append(snap.id)
        files.append(root.data_root / snap.tables["dim_noc"].file)
    kept = [s.id for s in publish.snapshots(root)]
    assert kept == ids[1:] and publish.current_snapshot(root).id == ids[-1]
    assert not files[0].exists() and files[1].exists() and files[2].exists()
    assert not (root.data_root / "published" / "snapshots" / f"{ids[0]}.json").exists()


def test_a_damaged_manifest_is_named_and_skipped_in_the_list(root, specs):
    snap = publish.publish(root, specs).snapshot
    manifest = root.data_root / "published" / "snapshots" / f"{snap.id}.json"
    _retitle(root, 1)
    _build_alone(root, specs[DIM])
    newer = publish.publish(root, specs).snapshot
    manifest.write_text("{not json")
    assert publish.snapshots(root) == [newer]  # the damaged older one is skipped, not the rest
    (root.data_root / "published" / "CURRENT").write_text(snap.id)
    with pytest.raises(publish.SnapshotDamaged, match=str(manifest)):
        publish.current_snapshot(root)


# --- pins ---------------------------------------------------------------------------------


def test_pins_last_until_unpinned_and_a_damaged_file_pins_nothing(cfg):
    assert pins.pins_path(cfg) == cfg.data_root / "catalog" / "pins.json"  # as documented
    assert pins.read_pins(cfg) == {}
    assert pins.update_pins(cfg, {}, []) == {} and not pins.pins_path(cfg).exists()
    assert pins.update_pins(cfg, {"a": "a1.csv", "b": "b1.csv"}, []) == {
        "a": "a1.csv",
        "b": "b1.csv",
    }
    assert pins.update_pins(cfg, {"c": "données/c1.csv"}, ["a"]) == {
        "b": "b1.csv",
        "c": "données/c1.csv",
    }
    assert pins.read_pins(cfg) == {"b": "b1.csv", "c": "données/c1.csv"}
    assert pins.update_pins(cfg, {}, ["b", "c"]) == {} and pins.read_pins(cfg) == {}
    assert json.loads(pins.pins_path(cfg).read_text()) == {}
    pins.pins_path(cfg).write_text("[1, 2]")
    assert pins.read_pins(cfg) == {}
    pins.pins_path(cfg).write_text("{broken")
    assert pins.read_pins(cfg) == {}
    pins.pins_path(cfg).write_text('{"a": 3}')
    assert pins.read_pins(cfg) == {"a": "3"}


# --- checksums and atomic writes ---------------------------------------------------------


def test_a_file_is_intact_by_its_stat_or_its_hash(tmp_path: Path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (3 << 20))  # more than one read chunk
    recorded = checksums.fingerprint(path)
    assert recorded[1:] == checksums.stat_of(path) and len(recorded) == 4
    assert checksums.intact(path, recorded)
    with pytest.MonkeyPatch.context() as mp:  # by stat: not read again
        mp.setattr(checksums, "sha256_file", lambda p: pytest.fail("hashed an unchanged file"))
        assert checksums.intact(path, recorded) and checksums.intact(path, recorded[:3])
    os.utime(path, ns=(0, 5))  # stat differs, bytes the same: hashed, intact
    assert checksums.intact(path, recorded)
    path.write_bytes(b"y" * (3 << 20))
    assert not checksums.intact(path, recorded)
    assert not checksums.intact(tmp_path / "absent", recorded)


def test_an_atomic_write_that_fails_leaves_the_target_and_no_temp(tmp_path: Path):
    target = tmp_path / "sub" / "t.json"
    atomic.write_json(target, {"é": 1})
    assert target.read_bytes() == '{\n  "é": 1\n}\n'.encode()
    with pytest.raises(RuntimeError), atomic.atomic_target(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert json.loads(target.read_text(encoding="utf-8")) == {"é": 1}
    assert [p.name for p in target.parent.iterdir()] == ["t.json"]
    temp = atomic.temp_path_for(target)
    assert temp.parent == target.parent and housekeeping.TEMP_NAME.match(temp.name)
    atomic.write_text(target, "façade")
    assert target.read_bytes() == "façade".encode()
    atomic.write_json(target, {"at": Path("/données")})  # what JSON cannot hold, as text
    assert json.loads(target.read_bytes()) == {"at": "/données"}


def test_sink_all_commits_nothing_when_a_plan_fails(tmp_path: Path):
    good, bad = tmp_path / "good.parquet", tmp_path / "bad.parquet"
    good.write_bytes(b"old")
    plans = {
        good: pl.LazyFrame({"a": [1, 2]}),
        bad: pl.LazyFrame({"a": ["x"]}).select(pl.col("a").cast(pl.Int64, strict=True)),
    }
    with pytest.raises(pl.exceptions.PolarsError):
        atomic.sink_all(plans)
    assert good.read_bytes() == b"old" and not bad.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.parquet"]
    temps = atomic.sink_all({good: pl.LazyFrame({"a": [1, 2, 3]})})
    assert good.read_bytes() == b"old"
    atomic.commit(temps)
    assert atomic.parquet_rows(good) == 3 and list(tmp_path.iterdir()) == [good]
    temps = atomic.sink_all({good: pl.LazyFrame({"a": [1]})})
    atomic.discard(temps)
    atomic.discard(temps)  # already gone: fine
    assert atomic.parquet_rows(good) == 3 and list(tmp_path.iterdir()) == [good]


# --- schema drift ------------------------------------------------------------------------


def test_schema_changes_name_added_removed_and_retyped_columns_in_order(tmp_path: Path):
    before, after = tmp_path / "b.parquet", tmp_path / "a.parquet"
    pl.DataFrame({"k": ["1"], "gone": [1], "kept": [1], "t": [1]}).write_parquet(before)
    new = pl.DataFrame({"k": ["1"], "kept": [1], "t": ["x"], "new2": [1.0], "new1": [True]})
    new.write_parquet(after)
    changes = [
        (c.table_name, c.column, c.change, c.old_type, c.new_type)
        for c in schema_changes("tbl", before, after)
    ]
    assert changes == [
        ("tbl", "new2", "added", None, "Float64"),
        ("tbl", "new1", "added", None, "Boolean"),
        ("tbl", "gone", "removed", "Int64", None),
        ("tbl", "t", "type_changed", "Int64", "String"),
    ]
    assert schema_changes("tbl", before, before) == []
    assert type_name(pl.Enum(["b1"])) == "String" == type_name(pl.Categorical())
    assert type_name(pl.Int32()) == "Int32"


# --- the catalog stamp -------------------------------------------------------------------


def test_the_stamp_says_current_only_for_what_the_last_rebuild_saw(root, specs):
    assert not stamp.catalog_is_current(root, specs)  # no store, no stamp
    inputs = stamp.catalog_inputs(root, specs)
    stamp.write_stamp(root, inputs)
    assert not stamp.catalog_is_current(root, specs)  # a stamp, but no store
    stamp.invalidate(root)
    assert inputs["sources"] == {n: read_state(root, n).batch_id for n in (DIM, FACT)}
    assert inputs["snapshot"] is None
    root.store_path().parent.mkdir(parents=True, exist_ok=True)
    import duckdb

    with duckdb.connect(str(root.store_path())) as con:
        con.execute("CREATE SCHEMA catalog; CREATE TABLE catalog.tables AS SELECT 1 AS x")
    root.catalog_schemas_path().mkdir(parents=True, exist_ok=True)
    (root.catalog_schemas_path() / "model.json").write_text("{}")
    assert not stamp.catalog_is_current(root, specs)  # a store, but no stamp
    stamp.write_stamp(root, inputs)
    assert stamp.catalog_is_current(root, specs)
    moved = {
        n: s.model_copy(update={"spec_path": f"/elsewhere/{n}.yaml"}) for n, s in specs.items()
    }
    assert stamp.catalog_is_current(root, moved)  # where the spec files lie shapes nothing
    described = {**specs, DIM: specs[DIM].model_copy(update={"description": "autre: été"})}
    assert not stamp.catalog_is_current(root, described)  # descriptions shape the catalog
    stamp.write_stamp(root, stamp.catalog_inputs(root, described))
    assert stamp.catalog_is_current(root, described)
    assert stamp.stamp_path(root) == root.data_root / "catalog" / "catalog_state.json"
    publish.publish(root, specs)
    assert not stamp.catalog_is_current(root, specs)  # a new snapshot to describe
    stamp.write_stamp(root, stamp.catalog_inputs(root, specs))
    assert stamp.catalog_is_current(root, specs)
    (root.catalog_schemas_path() / "model.json").write_text("{trunc")
    assert not stamp.catalog_is_current(root, specs)
    (root.catalog_schemas_path() / "model.json").write_text("{}")
    stamp.stamp_path(root).write_text("{trunc")
    assert not stamp.catalog_is_current(root, specs)
    stamp.invalidate(root)
    assert not stamp.stamp_path(root).exists() and not stamp.catalog_is_current(root, specs)


# --- the data-root lock and the temp sweep -----------------------------------------------


def _hold(cfg: PipelineConfig, holder: str) -> int:
    cfg.data_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(cfg.data_root / housekeeping.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{holder}\n".encode(), 0)
    return fd


def test_a_run_held_root_is_refused_at_once_naming_the_holder(cfg, monkeypatch):
    def no_wait(seconds: float) -> None:
        raise AssertionError("waited for a run")

    monkeypatch.setattr(housekeeping.time, "sleep", no_wait)
    fd = _hold(cfg, "4242 (jobforge run)")
    try:
        with (
            pytest.raises(housekeeping.RunInProgress) as err,
            housekeeping.exclusive_run(cfg, wait_short=30),
        ):
            pass
        assert str(err.value) == (
            f"another JobForge run holds {cfg.data_root.resolve()} (process 4242, jobforge "
            "run); wait for it to finish, then run again"
        )
    finally:
        os.close(fd)
    with housekeeping.exclusive_run(cfg, holder="jobforge docs") as stale:
        assert stale == []
        lock = (cfg.data_root / housekeeping.LOCK_FILE).read_text()
        assert lock == f"{os.getpid()} (jobforge docs)\n"
        with housekeeping.exclusive_run(cfg) as again:  # re-entrant in one process
            assert again == stale
        fd = os.open(cfg.data_root / housekeeping.LOCK_FILE, os.O_RDWR)
        try:  # still held after the inner exit
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    os.close(_hold(cfg, "1 (jobforge run)"))  # released at the end
    fd = _hold(cfg, "")
    os.pwrite(fd, b"\xff\xfe9 (jobforge run)\n", 0)  # not UTF-8: still named
    try:
        with (
            pytest.raises(housekeeping.RunInProgress, match="process \ufffd\ufffd9, jobforge run"),
            housekeeping.exclusive_run(cfg),
        ):
            pass
    finally:
        os.close(fd)


def test_a_short_holder_is_waited_for_and_a_long_wait_is_refused(cfg):
    fd = _hold(cfg, "77 (jobforge docs)")
    threading.Timer(0.3, os.close, [fd]).start()
    with housekeeping.exclusive_run(cfg, wait_short=20):
        pass  # got it once the short holder let go
    refusals = {
        "77 (jobforge catalog)": r"process 77, jobforge catalog",
        "": r"\(process unknown, a JobForge",  # a holder that wrote nothing
    }
    for holder, said in refusals.items():
        fd = _hold(cfg, holder)
        try:
            with (
                pytest.raises(housekeeping.RunInProgress, match=said),
                housekeeping.exclusive_run(cfg, wait_short=0.2),
            ):
                pass
        finally:
            os.close(fd)


def test_entering_the_root_sweeps_what_a_killed_run_left_and_only_that(cfg):
    root = cfg.data_root
    left = [
        root / ".jobforge.duckdb.0123456789ab.tmp",
        root / "gold" / ".dim_noc.parquet.0123456789ab.tmp",
        root / "catalog" / "lineage" / ".x.json.abcdefabcdef.tmp",
        root / "history" / "gold" / "t" / ".b.parquet.abcdefabcdef.tmp.wal",
    ]
    folder = root / "staged" / ".noc.snapshot.aaaaaaaaaaaa.tmp"
    kept = [
        root / "gold" / "dim_noc.parquet",
        root / "gold" / ".dim_noc.parquet.0123456789.tmp",  # 10 hex: not our name
        root / "elsewhere" / ".x.json.abcdefabcdef.tmp",  # not a folder JobForge owns
    ]
    for path in [*left, *kept, folder / "noc.csv"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    with housekeeping.exclusive_run(cfg) as stale:
        assert sorted(stale) == sorted([*left, folder])
    assert not any(p.exists() for p in [*left, folder]) and all(p.exists() for p in kept)


@pytest.mark.parametrize("inside", [".", "catalog/inbox"])
def test_the_sweep_spares_a_source_dir_inside_the_root_and_cleans_around_it(tmp_path, inside):
    root = tmp_path / "data"
    cfg = PipelineConfig(data_root=root, source_dir=root / inside)
    users = [root / inside / ".notes.0123456789ab.tmp", root / inside / ".d.0123456789ab.tmp"]
    ours = [root / "catalog" / ".t.json.0123456789ab.tmp", root / "gold" / ".g.0123456789ab.tmp"]
    for path in [*users, *ours]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert housekeeping.stale_temps(cfg) == sorted(ours)
    with housekeeping.exclusive_run(cfg) as stale:
        assert stale == sorted(ours)
    assert all(p.exists() for p in users) and not any(p.exists() for p in ours)


# --- source snapshots --------------------------------------------------------------------


def test_unusable_sources_are_described_and_never_raise(tmp_path: Path):
    assert snapshot.describe_unusable(tmp_path / "absent") == "source file not found"
    (tmp_path / "link").symlink_to(tmp_path / "target")
    assert snapshot.describe_unusable(tmp_path / "link") == (
        f"dangling symbolic link (points to {tmp_path / 'target'}, which does not exist)"
    )
    assert snapshot.describe_unusable(tmp_path) == "is a directory, not a file"
    os.mkfifo(tmp_path / "fifo")
    fifo = "is a FIFO (named pipe), not a regular file"
    assert snapshot.describe_unusable(tmp_path / "fifo") == fifo
    assert snapshot.inspect(tmp_path / "absent") == snapshot.Inspection(
        "missing", "source file not found"
    )
    assert snapshot.inspect(tmp_path / "fifo").sha256 == "unreadable"
    with pytest.raises(OSError, match="FIFO"):
        snapshot.open_regular(tmp_path / "fifo")
    with pytest.raises(IsADirectoryError):
        snapshot.open_regular(tmp_path)
    (tmp_path / "f.csv").write_bytes(b"a,b\n")
    assert snapshot.describe_unusable(tmp_path / "f.csv") is None
    assert snapshot.inspect(tmp_path / "f.csv") == snapshot.Inspection(
        checksums.sha256_file(tmp_path / "f.csv")
    )


def test_a_snapshot_is_a_hashed_copy_in_its_own_temp_folder(tmp_path: Path):
    source = tmp_path / "f.csv"
    source.write_bytes(b"z" * ((1 << 20) + 7))
    work = tmp_path / "work"
    copy, sha = snapshot.take_snapshot(source, work, "lbl")
    assert copy.read_bytes() == source.read_bytes() and copy.name == "f.csv"
    assert sha == checksums.sha256_file(source)
    assert copy.parent.parent == work and housekeeping.TEMP_NAME.match(copy.parent.name)
    assert copy.parent.name.startswith(".lbl.snapshot.")
    snapshot.drop_snapshot(copy)
    assert list(work.iterdir()) == []
    snapshot.drop_snapshot(None)
    with pytest.raises(snapshot.SourceUnreadable) as err:
        snapshot.take_snapshot(tmp_path / "absent", work, "lbl")
    assert (err.value.errno, err.value.filename) == (2, str(tmp_path / "absent"))
    assert err.value.strerror == "No such file or directory"
    assert list(work.iterdir()) == []


def test_a_read_error_half_way_is_the_sources_and_a_write_error_the_stores(
    tmp_path: Path, monkeypatch
):
    import errno
    import io

    source = tmp_path / "f.csv"
    source.write_bytes(b"a,b\n")

    class Failing(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as mp:
        mp.setattr(snapshot, "open_regular", lambda path: Failing())
        with pytest.raises(snapshot.SourceUnreadable) as err:
            snapshot.take_snapshot(source, tmp_path / "work", "lbl")
    assert (err.value.errno, err.value.strerror) == (errno.EIO, "Input/output error")
    assert err.value.filename == str(source)
    assert list((tmp_path / "work").iterdir()) == []
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the work folder should be")
    with pytest.raises(snapshot.StorageError, match=r"cannot write the snapshot of f.csv under"):
        snapshot.take_snapshot(source, blocked, "lbl")
    with pytest.raises(snapshot.StorageError, match=r": \[Errno 20\] Not a directory: '"):
        snapshot.take_snapshot(source, blocked, "lbl")  # the OS's own reason, in full


# --- the source registry -----------------------------------------------------------------


def test_recorded_specs_keep_undeclared_sources_and_a_damaged_record_is_skipped(cfg, specs, caplog):
    specs = {**specs, DIM: specs[DIM].model_copy(update={"description": "Structure (été)"})}
    registry.record_spec(cfg, specs[DIM])
    registry.record_spec(cfg, specs[FACT])
    assert registry.recorded_specs(cfg) == specs
    assert registry.registry_path(cfg) == cfg.data_root / "catalog" / "sources"
    broken = registry.registry_path(cfg) / "broken.json"
    broken.write_text('{"spec": {"name": 1}}')
    with _jobforge_log(caplog):
        assert registry.recorded_specs(cfg) == specs
    (line,) = _logged(caplog, "source_record_damaged")
    assert f"file='{broken}'" in line and "error='2 validation errors for SourceSpec'" in line
    declared = {DIM: specs[DIM].model_copy(update={"description": "declared"})}
    known, kept = registry.known_specs(cfg, declared)
    assert kept == [FACT] and known[DIM].description == "declared" and known[FACT] == specs[FACT]
    assert registry.kept_lines(known, kept) == [
        f"{out.table}: built by spec '{FACT}', not declared in this run: kept as it is"
        for out in specs[FACT].gold
    ]
    registry.forget_spec(cfg, FACT)
    registry.forget_spec(cfg, FACT)  # forgetting twice is fine
    assert set(registry.recorded_specs(cfg)) == {DIM}


# --- kept batches and transition logs ----------------------------------------------------


def _jobforge_log(caplog: pytest.LogCaptureFixture):
    """The structlog lines of the `jobforge` logger, as key=value text."""
    from jobforge_core.common.logs import configure_logging

    configure_logging()
    return caplog.at_level("WARNING", logger="jobforge")


def _logged(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    """Each distinct line once: after a Prefect test in the same process, the `jobforge`
    logger may reach the capture through two handlers."""
    lines = [r.getMessage() for r in caplog.records if f"event='{event}'" in r.getMessage()]
    return list(dict.fromkeys(lines))


def _table(cfg: PipelineConfig, batch: str, rows: int = 1) -> Path:
    path = cfg.table_path(Layer.SILVER, "t")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame({"_batch_id": [batch] * rows, "v": list(range(rows))})
    with atomic.atomic_target(path) as tmp:  # as the layers write: a new inode
        frame.with_columns(pl.col("_batch_id").cast(pl.Enum([batch]))).write_parquet(tmp)
    return path


def test_a_replaced_batch_is_kept_rolled_back_or_undone(cfg):
    assert batches.keep_previous(cfg, Layer.SILVER, "t", "b1") is None  # no table yet
    current = _table(cfg, "b1", rows=2)
    assert batches.keep_previous(cfg, Layer.SILVER, "t", "b1") is None  # same batch again
    kept = batches.keep_previous(cfg, Layer.SILVER, "t", "b2")
    assert kept == batches.Kept(
        Layer.SILVER, "t", "b1", batches.history_file(cfg, "silver", "t", "b1"), True
    )
    assert kept.file.stat().st_ino == current.stat().st_ino
    again = batches.keep_previous(cfg, Layer.SILVER, "t", "b2")
    assert again.created is False
    batches.undo_keep(cfg, again)  # not created by it: stays
    assert kept.file.exists()
    _table(cfg, "b2", rows=5)  # the new batch replaced the table
    batches.undo_keep(cfg, kept)  # replaced after all: the link is b1's only copy
    assert kept.file.exists()
    batches.roll_back(cfg, kept)
    assert batches.batch_of(current) == "b1" and atomic.parquet_rows(current) == 2
    assert not kept.file.exists()
    kept = batches.keep_previous(cfg, Layer.SILVER, "t", "b3")
    batches.undo_keep(cfg, kept)  # b3 failed before replacing: the link goes
    assert not kept.file.exists()
    _table(cfg, "b3")
    batches.roll_back(cfg, kept)  # nothing kept to put back: the table stays
    assert batches.batch_of(current) == "b3"


def test_a_kept_batch_is_copied_where_links_are_not_possible(cfg, monkeypatch):
    current = _table(cfg, "b1", rows=3)
    monkeypatch.setattr(batches.os, "link", _no_link)
    kept = batches.keep_previous(cfg, Layer.SILVER, "t", "b2")
    assert kept.file.read_bytes() == current.read_bytes()
    assert kept.file.stat().st_ino != current.stat().st_ino
    assert [p.name for p in kept.file.parent.iterdir()] == ["b1.parquet"]


def test_versions_are_newest_first_and_prune_keeps_the_newest(cfg):
    names = ["b3", "b1", "b4", "b2"]  # written in this order: names do not sort by time
    for n, batch in enumerate(names):
        path = _table(cfg, batch, rows=n + 1)
        if n + 1 < len(names):
            kept = batches.keep_previous(cfg, Layer.SILVER, "t", names[n + 1])
            os.utime(kept.file, ns=(n * 10**9, n * 10**9))
    found = batches.versions(cfg, Layer.SILVER, "t")
    assert [(v.layer, v.table, v.batch_id, v.current) for v in found] == [
        (Layer.SILVER, "t", "b2", True),
        (Layer.SILVER, "t", "b4", False),
        (Layer.SILVER, "t", "b1", False),
        (Layer.SILVER, "t", "b3", False),
    ]
    assert found[0].file == path and found[0].rows() == 4
    removed = batches.prune(cfg, Layer.SILVER, "t", 1)
    assert [p.stem for p in removed] == ["b1", "b3"]
    assert [v.batch_id for v in batches.versions(cfg, Layer.SILVER, "t")] == ["b2", "b4"]
    assert batches.prune(cfg, Layer.SILVER, "t", -1) and batches.versions(cfg, "silver", "t")
    assert [v.batch_id for v in batches.versions(cfg, Layer.SILVER, "t")] == ["b2"]


def test_a_damaged_transition_log_is_set_aside_and_the_others_read(root, caplog):
    logs = list(read_logs(root))
    assert len(logs) == 8
    lineage = root.catalog_lineage_path()
    first, second = (lineage / f"{log.transition_id}.json" for log in logs[:2])
    first.write_text("{truncated")
    with _jobforge_log(caplog):
        assert len(list(read_logs(root))) == 7
    kept = lineage / "damaged" / first.name
    assert kept.read_text() == "{truncated"
    (line,) = [
        r.getMessage() for r in caplog.records if "damaged_record_set_aside" in r.getMessage()
    ]
    assert line.startswith("event='damaged_record_set_aside' ")
    assert f"file='{first}' kept_as='{kept}' error='1 validation error for" in line
    second.write_text("")  # a second one: the damaged/ folder exists already
    assert len(list(read_logs(root))) == 6 and (lineage / "damaged" / second.name).exists()
    french = logs[0].model_copy(update={"errors": ["colonne « Libellé » absente"]})
    assert write_log(root, french) == str(first)
    assert len(list(read_logs(root))) == 7
    assert (
        next(log for log in read_logs(root) if log.transition_id == french.transition_id) == french
    )
    written = json.loads(first.read_text(encoding="utf-8"))
    assert written["started_at"] == french.started_at.isoformat().replace("+00:00", "Z")


def test_a_damaged_log_on_a_read_only_root_is_skipped_where_it_is(root, caplog, monkeypatch):
    import errno

    from jobforge_core.history import transition_logs

    def read_only(*args: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    lineage = root.catalog_lineage_path()
    damaged = sorted(lineage.glob("*.json"))[0]
    damaged.write_text("{")
    monkeypatch.setattr(transition_logs.os, "replace", read_only)  # root ignores chmod
    with _jobforge_log(caplog):
        assert len(list(read_logs(root))) == 7
    assert damaged.exists()
    (line,) = [
        r.getMessage() for r in caplog.records if "damaged_record_set_aside" in r.getMessage()
    ]
    assert f"kept_as='{damaged}'" in line


# --- the spec: fingerprint and thresholds ------------------------------------------------


def test_the_fingerprint_ignores_policies_and_follows_what_shapes_the_output(specs):
    spec = specs[DIM]
    fp = spec.fingerprint()
    same = {"description": "x", "history_retention": 1, "spec_path": "/elsewhere.yaml"}
    for field, value in same.items():
        assert spec.model_copy(update={field: value}).fingerprint() == fp, field
    shaped = {"version": "9", "on_schema_change": "fail", "key_columns": ["level"]}
    for field, value in shaped.items():
        assert spec.model_copy(update={field: value}).fingerprint() != fp, field


def test_thresholds_are_shares_per_layer_with_the_default_for_the_rest():
    assert Thresholds().quarantine_share("silver") == 0.1
    per = Thresholds(max_quarantine_share={"bronze": 0.5})
    assert per.quarantine_share("bronze") == 0.5 and per.quarantine_share("gold") == 0.1
    assert Thresholds(max_quarantine_share=0).quarantine_share("gold") == 0
    assert Thresholds(max_quarantine_share=1, max_row_drop_share=1).max_row_drop_share == 1
    for bad in (-0.01, 1.01):
        with pytest.raises(ValueError, match="a share is between 0 and 1"):
            Thresholds(max_quarantine_share=bad)
        with pytest.raises(ValueError, match="a share is between 0 and 1"):
            Thresholds(max_row_drop_share=bad)
        with pytest.raises(ValueError, match="a share is between 0 and 1"):
            Thresholds(max_quarantine_share={"gold": bad})


def test_an_expectation_is_merged_by_its_id_else_by_rule_and_column():
    assert _expectation_key({"id": "titles", "rule": "not_null", "column": "t"}) == "titles"
    assert _expectation_key({"rule": "not_null", "column": "t"}) == "not_null_t"


def test_evolve_accepts_only_the_columns_an_output_unpivots():
    """`on_schema_change: evolve` lets a release move the year columns of a COPS file or add
    and drop descriptors of an OaSIS file, and nothing else (README "Releases")."""
    every = load_specs([])
    cops, skills = every["cops_employment"], every["oasis_skills"]
    assert cops.evolves("2034") and cops.evolves("2023")
    for fixed in ("Code", "code", "Occupation Name", "occupation_name_en", "Notes", "20345"):
        assert not cops.evolves(fixed), fixed
    assert skills.evolves("Reading Comprehension") and skills.evolves("Time Pressure2")
    index = skills.gold[0].unpivot.index
    for fixed in [*index, *skills.renames, *skills.renames.values(), "_source_row"]:
        assert not skills.evolves(fixed), fixed
    listed = cops.model_copy(
        update={
            "gold": [
                cops.gold[0].model_copy(
                    update={
                        "unpivot": cops.gold[0].unpivot.model_copy(update={"columns": ["2024"]})
                    }
                )
            ]
        }
    )
    assert listed.evolves("2024") and not listed.evolves("2025")
    assert not every["noc_structure"].evolves("Level")  # nothing unpivoted: nothing evolves


def test_a_versions_ingestion_time_is_its_first_rows(tmp_path: Path):
    from datetime import UTC, datetime

    from jobforge_core.common.provenance import INGESTED_AT

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    path = tmp_path / "v.parquet"
    pl.DataFrame({INGESTED_AT: [at, at]}).write_parquet(path)
    version = batches.TableVersion(Layer.GOLD, "t", "b", path, True)
    assert version.ingested_at() == at and version.written_at() == path.stat().st_mtime
    pl.DataFrame({INGESTED_AT: []}, schema={INGESTED_AT: pl.Datetime("us", "UTC")}).write_parquet(
        path
    )
    assert version.ingested_at() is None


def test_required_columns_default_to_the_renamed_headers(specs):
    spec = specs[DIM]
    assert spec.required() == list(spec.renames)
    assert spec.model_copy(update={"required_columns": ["Level"]}).required() == ["Level"]
    assert spec.model_copy(update={"required_columns": []}).required() == []


def test_special_files_and_symlink_loops_are_described_and_refused(tmp_path: Path, monkeypatch):
    import errno

    special = Path("/dev/null")
    assert snapshot.describe_unusable(special) == "is a special file, not a regular file"
    with pytest.raises(OSError, match="is a special file, not a regular file") as refused:
        snapshot.open_regular(special)
    assert (refused.value.errno, refused.value.filename) == (errno.EINVAL, str(special))
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert snapshot.describe_unusable(tmp_path / "a") == (
        "cannot read the file: Too many levels of symbolic links"
    )
    with pytest.raises(IsADirectoryError) as err:
        snapshot.open_regular(tmp_path)
    assert (err.value.errno, err.value.filename) == (errno.EISDIR, str(tmp_path))
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match=r"is a FIFO \(named pipe\), not a regular file"):
        snapshot.open_regular(tmp_path / "fifo")

    def swapped(path: Path):  # replaced by something unreadable after the check
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    (tmp_path / "f.csv").write_text("a\n")
    monkeypatch.setattr(snapshot, "open_regular", swapped)
    assert snapshot.inspect(tmp_path / "f.csv") == snapshot.Inspection(
        "unreadable", "cannot read the file: Permission denied"
    )


def test_the_batch_of_a_table_without_a_one_value_enum_is_its_first_rows(tmp_path: Path):
    """Data roots written before batch ids were one-value Enums keep them as text."""
    path = tmp_path / "t.parquet"
    pl.DataFrame({"_batch_id": ["old-1", "old-1"], "v": [1, 2]}).write_parquet(path)
    assert batches.batch_of(path) == "old-1"
    two = pl.DataFrame({"_batch_id": ["b-1", "b-2"]}).cast({"_batch_id": pl.Enum(["b-1", "b-2"])})
    two.write_parquet(path)
    assert batches.batch_of(path) == "b-1"
    pl.DataFrame({"_batch_id": []}, schema={"_batch_id": pl.String}).write_parquet(path)
    assert batches.batch_of(path) is None
    pl.DataFrame({"v": [1]}).write_parquet(path)
    assert batches.batch_of(path) is None


def test_evolve_looks_at_every_output_not_only_the_first(specs):
    cops = load_specs([])["cops_employment"]
    plain = cops.gold[0].model_copy(update={"unpivot": None, "table": "plain_first"})
    spec = cops.model_copy(update={"gold": [plain, *cops.gold]})
    assert spec.evolves("2034")

"""Issue 13: typed catalog linked to Prefect, data quality over time, batch history."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import run_plain
from prefect_api import task_runs

from jobforge_core.catalog.store import CATALOG_COLUMNS
from jobforge_core.common.atomic import parquet_rows
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import ExpectationFailed, SchemaChanged, SpecError
from jobforge_core.history.batches import (
    batch_of,
    history_dir,
    history_file,
    history_root,
    versions,
)
from jobforge_core.history.transition_logs import read_logs
from jobforge_core.query.sql import run_query
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.site.refresh import refresh_catalog
from jobforge_core.sources.spec import load_specs


def _describe(cfg: PipelineConfig) -> dict[str, list[tuple[str, str]]]:
    con = duckdb.connect(str(cfg.store_path()), read_only=True)
    try:
        names = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'catalog' ORDER BY 1"
        ).fetchall()
        return {
            n: [(r[0], r[1]) for r in con.execute(f'DESCRIBE catalog."{n}"').fetchall()]
            for (n,) in names
        }
    finally:
        con.close()


def test_catalog_tables_have_the_same_declared_types_on_an_empty_and_a_full_root(
    tmp_path, source_copy
):
    from test_quarantine import PEOPLE_CSV, PEOPLE_SPEC

    empty = PipelineConfig(data_root=tmp_path / "empty", source_dir=source_copy)
    refresh_catalog(empty, load_specs())
    # Full: bad rows in several layers, so errors, quarantine files and maps are filled.
    (source_copy / "people.csv").write_text(PEOPLE_CSV)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "people.yaml").write_text(PEOPLE_SPEC)
    full = PipelineConfig(data_root=tmp_path / "full", source_dir=source_copy)
    run_plain(full, ["noc_structure", "people"], [specs])
    refresh_catalog(full, load_specs([specs]))

    described = _describe(full)
    assert described == _describe(empty)
    assert set(described) == set(CATALOG_COLUMNS)
    transitions = dict(described["transitions"])
    assert transitions["started_at"] == "TIMESTAMP WITH TIME ZONE"
    assert transitions["row_count_in"] == "BIGINT"
    assert transitions["rows_by_rule"] == "MAP(VARCHAR, BIGINT)"
    assert transitions["errors"] == transitions["quarantine_files"] == "VARCHAR[]"
    assert transitions["quarantine_file"] == transitions["flow_run_id"] == "VARCHAR"
    assert dict(described["tables"])["updated_at"] == "TIMESTAMP WITH TIME ZONE"
    # The map is a real map: SQL reads a rule's count without parsing JSON.
    cast = run_query(
        full,
        "SELECT rows_by_rule['cast_error'] AS n FROM catalog.transitions "
        "WHERE source_name = 'people' AND target_layer = 'bronze'",
    )
    assert cast["n"].to_list() == [1]


def test_catalog_quality_keeps_every_rule_of_every_run(tmp_path, source_copy):
    """One row per (transition, rule), zero counts included, across two runs of a source."""
    from test_quarantine import PEOPLE_CSV, PEOPLE_SPEC

    (source_copy / "people.csv").write_text(PEOPLE_CSV)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "people.yaml").write_text(PEOPLE_SPEC)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    first = run_plain(cfg, ["noc_structure", "people"], [specs])["people"]
    fixed = "\n".join(
        line for line in PEOPLE_CSV.splitlines() if "Bad count" not in line
    )  # the next release drops the row whose count did not cast
    (source_copy / "people.csv").write_text(fixed + "\n")
    second = run_plain(cfg, ["people"], [specs])["people"]
    refresh_catalog(cfg, load_specs([specs]))

    quality = run_query(
        cfg,
        "SELECT batch_id, rule, action, rows, share_of_rows_in, layer FROM catalog.quality "
        "WHERE table_name = 'people' ORDER BY checked_at",
    )
    batches = [first[0].batch_id, second[0].batch_id]
    assert batches[0] != batches[1]
    cast = quality.filter(quality["rule"] == "cast_error")
    assert cast["batch_id"].to_list() == batches  # since when, and until when
    assert cast["rows"].to_list() == [1, 0]
    assert cast["action"].to_list() == ["cast", "cast"]
    bronze_in = first[1].row_count_in
    assert cast["share_of_rows_in"][0] == pytest.approx(1 / bronze_in)
    # Every declared silver rule of the spec is there for both batches, hit or not.
    silver = quality.filter(quality["layer"] == "silver")
    declared = {"null_key", "duplicate_key", "range_level", "not_null_name"}
    for batch in batches:
        assert declared <= set(silver.filter(silver["batch_id"] == batch)["rule"])
    gold = run_query(
        cfg,
        "SELECT batch_id, rule, action, rows FROM catalog.quality "
        "WHERE table_name = 'fact_people' ORDER BY checked_at",
    )
    assert gold.filter(gold["rule"] == "foreign_key")["action"].to_list() == ["fk", "fk"]
    assert gold.filter(gold["rule"] == "foreign_key")["rows"][0] == 1
    # The issue's own query answers "since when".
    since = run_query(
        cfg,
        "SELECT batch_id, rule, rows FROM catalog.quality "
        "WHERE table_name = 'people' ORDER BY checked_at",
    )
    assert len(since) == len(quality)


@pytest.mark.usefixtures("prefect_harness")
def test_persisted_transition_logs_carry_the_flow_and_task_run(sample_flow_run):
    data_root, code, run_id = sample_flow_run
    assert code == 0
    cfg = PipelineConfig(data_root=data_root)
    logs = [json.loads(p.read_text()) for p in Path(cfg.catalog_lineage_path()).glob("*.json")]
    assert len(logs) == 4 * len(load_specs())
    wanted = {log["task_run_id"] for log in logs}
    for _ in range(30):  # the server records task runs from events, a moment later
        runs = {str(r.id): r for r in task_runs(run_id)}
        if wanted <= set(runs):
            break
        time.sleep(1)
    for log in logs:
        assert log["flow_run_id"] == str(run_id)  # written with the log, not patched later
        task = runs[log["task_run_id"]]
        assert task.name == f"{log['target_layer'].replace('staged', 'stage')}-{log['source_name']}"
        if log["flow_run_url"] is not None:
            assert log["flow_run_url"].endswith(f"/runs/flow-run/{run_id}")
    in_sql = run_query(
        cfg,
        "SELECT count(DISTINCT flow_run_id) AS runs, count(task_run_id) AS tasks "
        "FROM catalog.quality",
    )
    assert in_sql.row(0) == (1, in_sql["tasks"][0]) and in_sql["tasks"][0] > 0


TINY_SPEC = """
name: tiny
file: tiny.csv
keys: [code]
types: {{value: int}}
history_retention: {retention}
on_schema_change: {policy}
expectations:
  - {{column: value, rule: range, min: 0, action: fail}}
gold:
  - table: tiny_gold
    keys: [code]
"""


def _tiny(tmp_path: Path, retention: int, policy: str = "warn") -> tuple[PipelineConfig, Path]:
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    (specs / "tiny.yaml").write_text(TINY_SPEC.format(retention=retention, policy=policy))
    source = tmp_path / "source"
    source.mkdir(exist_ok=True)
    return PipelineConfig(data_root=tmp_path / "data", source_dir=source), specs


def _release(cfg: PipelineConfig, specs: Path, rows: list[tuple], header: str = "code,value"):
    body = header + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows)
    (cfg.resolved_source_dir() / "tiny.csv").write_text(body)
    return run_plain(cfg, ["tiny"], [specs])["tiny"]


def test_a_replaced_batch_is_moved_to_history_and_queryable_with_the_current_one(tmp_path):
    cfg, specs = _tiny(tmp_path, 10)
    first = _release(cfg, specs, [("a", 1), ("b", 2)])[0].batch_id
    gold = cfg.table_path(Layer.GOLD, "tiny_gold")
    before = gold.stat().st_ino, hashlib.sha256(gold.read_bytes()).hexdigest()
    second = _release(cfg, specs, [("a", 1), ("b", 3), ("c", 4)])[0].batch_id
    kept = history_file(cfg, Layer.GOLD, "tiny_gold", first)
    # Moved, not copied: the kept version is the very file that was current.
    assert (kept.stat().st_ino, hashlib.sha256(kept.read_bytes()).hexdigest()) == before
    assert gold.stat().st_ino != before[0]
    for layer in (Layer.STAGED, Layer.BRONZE, Layer.SILVER):
        assert history_file(cfg, layer, "tiny", first).is_file()
    # A forced re-run of the same batch keeps nothing new.
    run_plain(cfg, ["tiny"], [specs])
    assert [p.stem for p in history_dir(cfg, Layer.GOLD, "tiny_gold").iterdir()] == [first]

    refresh_catalog(cfg, load_specs([specs]))
    both = run_query(
        cfg,
        "SELECT _batch_id, count(*) AS n, min(_ingested_at) AS first_at FROM history.tiny_gold "
        "GROUP BY 1 ORDER BY first_at",
    )
    assert both["_batch_id"].to_list() == [first, second]
    assert both["n"].to_list() == [2, 3]
    silver = run_query(cfg, "SELECT count(*) FROM history.silver_tiny").item()
    assert silver == 5
    index = run_query(
        cfg,
        "SELECT batch_id, current, rows, file_path FROM catalog.history "
        "WHERE table_name = 'tiny_gold' ORDER BY written_at DESC",
    )
    assert index.rows() == [
        (second, True, 3, "gold/tiny_gold.parquet"),
        (first, False, 2, f"history/gold/tiny_gold/{first}.parquet"),
    ]


def test_history_retention_bounds_the_kept_batches_and_zero_keeps_none(tmp_path):
    cfg, specs = _tiny(tmp_path, 2)
    batches = [_release(cfg, specs, [("a", n)])[0].batch_id for n in range(5)]
    for layer, table in ((Layer.SILVER, "tiny"), (Layer.GOLD, "tiny_gold")):
        kept = sorted(p.stem for p in history_dir(cfg, layer, table).iterdir())
        assert kept == sorted(batches[2:4])  # the two before the current one
    _tiny(tmp_path, 0)
    _release(cfg, specs, [("a", 99)])
    assert not list(history_root(cfg).rglob("*.parquet"))


def test_a_failed_transition_keeps_no_history_for_the_table_it_did_not_replace(tmp_path):
    cfg, specs = _tiny(tmp_path, 10)
    first = _release(cfg, specs, [("a", 1)])[0].batch_id
    with pytest.raises(ExpectationFailed):
        _release(cfg, specs, [("a", -1)])  # silver's `fail` expectation stops the batch
    assert history_file(cfg, Layer.BRONZE, "tiny", first).is_file()  # bronze was replaced
    assert not list(history_dir(cfg, Layer.SILVER, "tiny").glob("*"))  # silver was not
    assert batch_of(cfg.table_path(Layer.SILVER, "tiny")) == first
    assert not list(history_dir(cfg, Layer.GOLD, "tiny_gold").glob("*"))


def test_schema_change_is_recorded_by_default_in_the_log_and_the_run_summary(tmp_path):
    from flows.summary import markdown, source_summary

    cfg, specs = _tiny(tmp_path, 10)
    _release(cfg, specs, [("a", 1)])
    logs = _release(cfg, specs, [("a", 1, "x")], header="code,value,region")
    staged, bronze = logs[0], logs[1]
    assert [(c.table_name, c.column, c.change, c.new_type) for c in staged.schema_changes] == [
        ("tiny", "region", "added", "String")
    ]
    assert bronze.schema_changes[0].column == "region"
    assert logs[3].schema_changes[0].table_name == "tiny_gold"
    assert any("region" in e for e in staged.errors)
    summary = source_summary("tiny", staged.batch_id, logs)
    assert summary["status"] == "success"
    assert "staged tiny: column 'region' added (String)" in summary["schema_changes"]
    assert "schema change: staged tiny: column 'region' added" in markdown([summary])
    persisted = json.loads(
        (cfg.catalog_lineage_path() / f"{staged.transition_id}.json").read_text()
    )
    assert persisted["schema_changes"][0]["column"] == "region"
    # Removing a column and changing a declared type are changes too.
    (specs / "tiny.yaml").write_text(
        TINY_SPEC.format(retention=10, policy="warn").replace("{value: int}", "{value: float}")
    )
    logs = _release(cfg, specs, [("a", 1)])
    bronze = {(c.column, c.change) for c in logs[1].schema_changes}
    assert bronze == {("region", "removed"), ("value", "type_changed")}


def test_schema_change_with_policy_fail_rejects_the_batch_and_keeps_the_previous_tables(
    tmp_path,
):
    cfg, specs = _tiny(tmp_path, 10, policy="fail")
    first = _release(cfg, specs, [("a", 1)])[0].batch_id
    staged = cfg.table_path(Layer.STAGED, "tiny")
    before = {
        layer: hashlib.sha256(cfg.table_path(layer, t).read_bytes()).hexdigest()
        for layer, t in ((Layer.STAGED, "tiny"), (Layer.GOLD, "tiny_gold"))
    }
    with pytest.raises(SchemaChanged, match="region"):
        _release(cfg, specs, [("a", 1, "x")], header="code,value,region")
    assert batch_of(staged) == first
    for layer, digest in before.items():
        table = "tiny" if layer is Layer.STAGED else "tiny_gold"
        assert hashlib.sha256(cfg.table_path(layer, table).read_bytes()).hexdigest() == digest
    assert not list(history_root(cfg).rglob("*.parquet"))  # the rejected batch is not kept
    failed = [log for log in read_logs(cfg) if log.status.value == "failed"]
    assert len(failed) == 1 and failed[0].target_layer is Layer.STAGED
    assert failed[0].rule_checks[0].rule == "on_schema_change"
    assert "region" in failed[0].errors[0]
    assert (cfg.file_quarantine_dir(failed[0].batch_id) / "error.json").is_file()


def test_a_glob_in_file_loads_the_newest_release_and_file_override_loads_a_given_one(tmp_path):
    cfg, specs = _tiny(tmp_path, 10)
    spec = specs / "tiny.yaml"
    spec.write_text(spec.read_text().replace("file: tiny.csv", "file: tiny_*_v1.csv"))
    source = cfg.resolved_source_dir()
    (source / "tiny_2024_2033_v1.csv").write_text("code,value\na,1\n")
    (source / "tiny_2025_2034_v1.csv").write_text("code,value\na,2\nb,3\n")
    (source / "tiny_2026_notes.txt").write_text("not a release")
    plans = plan_sources(load_specs([specs]), cfg, ["tiny"])
    assert plans["tiny"].source_path.name == "tiny_2025_2034_v1.csv"
    run_plain(cfg, ["tiny"], [specs])
    assert run_plain_rows(cfg) == 2
    # The older release, on purpose: it becomes the current batch, the newer one is kept.
    older = source / "tiny_2024_2033_v1.csv"
    given = plan_sources(load_specs([specs]), cfg, ["tiny"], files={"tiny": older})["tiny"]
    assert given.source_path == older and not given.unchanged
    run_source(given, cfg)
    assert run_plain_rows(cfg) == 1
    assert len(versions(cfg, Layer.GOLD, "tiny_gold")) == 2
    # A plain run goes back to the newest match.
    again = plan_sources(load_specs([specs]), cfg, ["tiny"])["tiny"]
    assert again.source_path.name == "tiny_2025_2034_v1.csv" and not again.unchanged
    with pytest.raises(SpecError, match="no file"):
        plan_sources(load_specs([specs]), cfg, ["tiny"], files={"tiny": source / "nope.csv"})
    with pytest.raises(SpecError, match="unknown source"):
        plan_sources(load_specs([specs]), cfg, ["tiny"], files={"nope": older})


def run_plain_rows(cfg: PipelineConfig) -> int:
    return parquet_rows(cfg.table_path(Layer.GOLD, "tiny_gold"))


def test_diff_by_key_hashes_counts_columns_and_refuses_what_it_cannot_compare(tmp_path):
    from jobforge_core.history.diff import DiffError, diff_files
    from jobforge_core.run.audit import AuditError, diff_table, table_history

    cfg, specs = _tiny(tmp_path, 10)
    _release(cfg, specs, [("a", 1), ("b", 2), ("c", 3)])
    refresh_catalog(cfg, load_specs([specs]))
    with pytest.raises(AuditError, match="nothing to compare"):
        diff_table(cfg, "tiny_gold")
    _release(cfg, specs, [("a", 1, "x"), ("b", 5, "y"), ("d", 4, "z")], header="code,value,region")
    refresh_catalog(cfg, load_specs([specs]))
    d = diff_table(cfg, "tiny_gold").diff
    assert (d.added, d.removed, d.changed, d.unchanged) == (1, 1, 1, 1)
    assert d.columns_added == ["region"] and d.changes_by_column == {"value": 1}
    assert d.sample_changed == [{"code": "b", "column": "value", "from": 2, "to": 5}]
    assert d.sample_added == [{"code": "d", "value": 4, "region": "z"}]
    assert d.sample_removed == [{"code": "c", "value": 3}]
    silver = diff_table(cfg, "silver.tiny", key=["code"]).diff
    assert (silver.added, silver.removed, silver.changed) == (1, 1, 1)
    with pytest.raises(DiffError, match="no key"):
        diff_table(cfg, "silver.tiny")  # no declared grain outside gold
    with pytest.raises(DiffError, match="not in the table"):
        diff_table(cfg, "tiny_gold", key=["region"])  # the older batch has no such column
    repeated = tmp_path / "repeated.parquet"
    pl.DataFrame({"k": ["a", "a"], "v": [1, 2]}).write_parquet(repeated)
    with pytest.raises(DiffError, match="repeats in 2 rows"):
        diff_files(repeated, repeated, ["k"])
    with pytest.raises(AuditError, match="not kept"):
        diff_table(cfg, "tiny_gold", from_batch="tiny-0000")
    with pytest.raises(AuditError, match="no batch"):
        table_history(cfg, "no_such_table")


def test_restore_puts_every_layer_table_back_and_the_next_run_reprocesses(tmp_path):
    from jobforge_core.run.audit import AuditError, restore_source, table_history

    cfg, specs = _tiny(tmp_path, 10)
    first = _release(cfg, specs, [("a", 1)])[0].batch_id
    tables = [(layer, "tiny") for layer in (Layer.STAGED, Layer.BRONZE, Layer.SILVER)]
    tables.append((Layer.GOLD, "tiny_gold"))
    before = {t: cfg.table_path(*t).read_bytes() for t in tables}
    second = _release(cfg, specs, [("a", 2)])[0].batch_id
    spec = load_specs([specs])["tiny"]
    with pytest.raises(AuditError, match="not kept"):
        restore_source(cfg, spec, "tiny-0000")
    assert batch_of(cfg.table_path(Layer.GOLD, "tiny_gold")) == second  # nothing moved
    logs = restore_source(cfg, spec, first)
    assert {t: cfg.table_path(*t).read_bytes() for t in tables} == before  # byte-identical
    assert [log.target_layer for log in logs] == list(Layer)
    assert all(log.source_layer == "restore" and log.batch_id == first for log in logs)
    assert logs[-1].replaced_batches == {"tiny_gold": second}
    assert history_file(cfg, Layer.GOLD, "tiny_gold", second).is_file()  # the newer is kept
    history = table_history(cfg, "tiny_gold")
    assert [(h["batch_id"], h["status"], h["restored"]) for h in history] == [
        (first, "current", True),
        (second, "kept", False),
    ]
    plan = plan_sources(load_specs([specs]), cfg, ["tiny"])["tiny"]
    assert plan.batch_id == second and not plan.unchanged  # the file is release 2: reprocess

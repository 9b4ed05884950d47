"""Issue 4: catalog JSONs, the DuckDB store, read-only SQL, lineage to the source record."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import run_plain, source_records

from flows.cli import main
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import TableMetadata
from jobforge_core.history.transition_logs import read_logs
from jobforge_core.query.sql import QueryRefused, run_query
from jobforge_core.site.refresh import refresh_catalog
from jobforge_core.sources.spec import load_specs


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> PipelineConfig:
    from conftest import SAMPLES

    cfg = PipelineConfig(data_root=tmp_path_factory.mktemp("cat") / "data", source_dir=SAMPLES)
    run_plain(cfg)
    refresh_catalog(cfg, load_specs())
    return cfg


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.usefixtures("prefect_harness")
def test_after_jobforge_run_every_table_has_valid_catalog_metadata(sample_flow_run):
    data_root, code, _ = sample_flow_run
    assert code == 0
    cfg = PipelineConfig(data_root=data_root)
    for spec in load_specs().values():
        names = [(Layer.GOLD, g.table, g.table) for g in spec.gold] + [
            (lyr, spec.name, f"{lyr.value}.{spec.name}")
            for lyr in (Layer.STAGED, Layer.BRONZE, Layer.SILVER)
        ]
        for lyr, table, name in names:
            path = cfg.catalog_tables_path() / f"{name}.json"
            meta = TableMetadata.model_validate_json(path.read_text())
            parquet = cfg.table_path(lyr, table)
            assert meta.row_count == pl.scan_parquet(parquet).select(pl.len()).collect().item()
            assert meta.column_count == len(meta.columns) > 5
            assert meta.file_size_bytes == parquet.stat().st_size
            assert meta.data_owner and meta.classification == "internal"
    dim = TableMetadata.model_validate_json(
        (cfg.catalog_tables_path() / "dim_noc.json").read_text()
    )
    assert dim.upstream_tables == ["silver.noc_structure"]
    assert "fact_cops_employment" in dim.downstream_tables
    noc = next(c for c in dim.columns if c.name == "noc_code")
    assert noc.glossary_term_id == "column:noc_code" and noc.example_values and not noc.nullable
    assert noc.source_columns == ["silver.noc_structure.code"]
    glossary = json.loads((cfg.catalog_glossary_path() / "glossary.json").read_text())
    ids = {t["term_id"] for t in glossary}
    assert "column:noc_code" in ids and "column:_source_row" in ids
    assert any(t["term_id"].startswith("oasis:") for t in glossary)  # from the OaSIS guide
    assert cfg.store_path().is_file()


def test_lineage_prints_the_four_transitions_with_logged_counts(built, capsys):
    assert main(["lineage", "dim_noc", "--data-root", str(built.data_root)]) == 0
    out = capsys.readouterr().out
    logs = [log for log in read_logs(built) if log.source_name == "noc_structure"]
    assert len(logs) == 4
    for log in logs:
        line = next(x for x in out.splitlines() if log.transition_id in x)
        assert f"{log.source_layer} -> {log.target_layer.value}" in line
        cells = line.split()
        # a gold step writes two tables here: the line gives dim_noc's own count
        out_rows = log.rows_by_table.get("dim_noc", log.row_count_out)
        counts = [log.row_count_in, out_rows, log.row_count_quarantined]
        assert [int(c) for c in cells[4:7]] == counts
    staged = next(log for log in logs if log.source_layer == "source")
    assert staged.source_sha256 and staged.source_sha256 in out
    assert "noc_structure_en.csv" in out


def test_a_gold_fact_row_traces_back_to_its_source_file_and_record(built, capsys):
    from conftest import SAMPLES

    where = "oasis_code = '21232.00' AND descriptor = 'Writing'"
    code = main(
        [
            "lineage",
            "fact_oasis_skills",
            "--where",
            where,
            "--data-root",
            str(built.data_root),
            "--format",
            "json",
        ]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    gold_rows, staged_rows = document["rows"], document["source_records"]
    assert len(gold_rows) == 1 and len(staged_rows) == 1
    assert document["match"] == {"table": "fact_oasis_skills", "where": where} | {
        "matched": 1,
        "shown": 1,
    }
    row = gold_rows[0]
    assert row["_source_file"] == "skills_oasis_2023_v1.0.csv"
    record = source_records(SAMPLES / row["_source_file"])[row["_source_row"] - 1]
    assert record["OaSIS Code - Final"] == "21232.00"
    header = next(h for h in record if h.strip() == "Writing")
    assert float(record[header]) == row["proficiency"]
    assert staged_rows[0][header] == record[header]  # original text, original header


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM dim_noc",
        "DROP VIEW dim_noc",
        "CREATE TABLE t AS SELECT 1",
        "ATTACH 'other.duckdb'",
        "COPY (SELECT 1) TO 'x.csv'",
        "INSTALL httpfs",
        "SELECT 1; DROP VIEW dim_noc",
    ],
)
def test_write_statements_are_refused_and_the_store_is_unchanged(built, capsys, sql):
    before = _sha(built.store_path())
    assert main(["query", sql, "--data-root", str(built.data_root)]) == 2
    err = capsys.readouterr().err
    assert "refused" in err or "one statement" in err
    assert _sha(built.store_path()) == before
    assert (
        not (built.data_root / "x.csv").exists() and not (built.data_root / "other.duckdb").exists()
    )


def test_user_table_names_are_validated(built, capsys):
    assert main(["catalog", "x; DROP TABLE y", "--data-root", str(built.data_root)]) == 2
    assert "unknown table 'x; DROP TABLE y'" in capsys.readouterr().err
    assert (
        main(
            [
                "lineage",
                "dim_noc",
                "--where",
                "1=1; DROP TABLE y",
                "--data-root",
                str(built.data_root),
            ]
        )
        == 2
    )
    assert "--where" in capsys.readouterr().err


def test_query_reads_gold_and_catalog_and_cannot_reach_other_files(built):
    rows = run_query(built, "SELECT count(*) AS n FROM dim_noc").item()
    assert rows == 8
    tables = run_query(built, "SELECT table_name, row_count FROM catalog.tables WHERE layer='gold'")
    assert len(tables) == sum(len(s.gold) for s in load_specs().values())
    with pytest.raises(QueryRefused, match="disabled by configuration"):
        run_query(built, "SELECT * FROM read_csv('/etc/hostname')")


def test_plain_duckdb_lists_gold_views_and_catalog_tables(built, monkeypatch):
    monkeypatch.chdir(built.data_root)  # relative view paths resolve from the data root
    con = duckdb.connect("jobforge.duckdb", read_only=True)
    objects = {
        (s, n)
        for s, n in con.execute(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    }
    objects |= set(con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall())
    for table in ("dim_noc", "fact_cops_employment", "fact_oasis_skills"):
        assert ("main", table) in objects
        assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] > 0
    for table in ("tables", "columns", "transitions", "quarantine", "glossary", "relationships"):
        assert ("catalog", table) in objects
    transitions = con.execute("SELECT count(*) FROM catalog.transitions").fetchone()[0]
    assert transitions == 4 * len(load_specs())  # every shipped source x 4 layers
    assert con.execute("SELECT count(*) FROM catalog.relationships").fetchone()[0] > 10


def test_store_keeps_working_when_the_data_root_moves(built, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(built.data_root, moved)
    cfg = PipelineConfig(data_root=moved)
    assert run_query(cfg, "SELECT count(*) FROM fact_cops_employment").item() == 8 * 11
    assert run_query(cfg, "SELECT count(*) FROM silver.noc_structure").item() == 21


def test_quarantine_command_shows_reasons_and_sample_rows(tmp_path, source_copy, capsys):
    from test_quarantine import PEOPLE_CSV, PEOPLE_SPEC

    (source_copy / "people.csv").write_text(PEOPLE_CSV)
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "people.yaml").write_text(PEOPLE_SPEC)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["noc_structure", "people"], [specs])
    refresh_catalog(cfg, load_specs([specs]))
    assert main(["quarantine", "--data-root", str(cfg.data_root), "--format", "csv"]) == 0
    records = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    reasons = {r["reason"] for r in records if r["section"] == "groups"}
    assert {"cast_error", "duplicate_key", "range_level", "not_null_name", "foreign_key"} <= reasons
    cast = next(r for r in records if r["reason"] == "cast_error")
    assert "Bad count" in json.loads(cast["sample"])[0].values()  # a sample row
    assert main(["quarantine", "fact_people", "--data-root", str(cfg.data_root)]) == 0
    only = capsys.readouterr().out
    assert "foreign_key" in only and "cast_error" not in only
    assert "Orphan" in only  # sample rows in the table view
    counts = run_query(cfg, "SELECT reason, rows FROM catalog.quarantine ORDER BY reason")
    assert dict(counts.iter_rows())["cast_error"] == 1


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _sha(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "sql",
    [
        # DuckDB itself runs each of these on the read-only, fenced connection (the fence allows
        # writes inside the data root): only the statement check stands in their way.
        "COPY (SELECT * FROM dim_noc LIMIT 1) TO '{root}/gold/dim_noc.parquet' (FORMAT parquet)",
        "COPY (SELECT 1 AS x) TO '{root}/leak.csv'",
        "EXPORT DATABASE '{root}/dump'",
        "PRAGMA show_tables",
        "CALL pragma_version()",
        "CHECKPOINT",
        "VACUUM",
        "USE catalog",
        "BEGIN TRANSACTION",
        "PREPARE p AS SELECT 1",
    ],
    ids=lambda sql: sql.split()[0] + ("-gold" if "dim_noc.parquet" in sql else ""),
)
def test_only_select_and_explain_reach_duckdb(built, capsys, sql):
    """Refused is a behaviour: exit 2, no rows printed, not one file of the data root touched."""
    root = built.data_root.resolve()
    before = _files(root)
    assert main(["query", sql.format(root=root), "--data-root", str(root)]) == 2
    assert capsys.readouterr().out == ""
    assert _files(root) == before


def test_query_prints_gold_and_catalog_rows_and_explain_is_allowed(built, capsys):
    root = str(built.data_root)
    sql = "SELECT noc_code, class_title FROM dim_noc ORDER BY noc_code"
    assert main(["query", sql, "--data-root", root, "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    dim = pl.read_parquet(built.table_path(Layer.GOLD, "dim_noc")).sort("noc_code")
    assert printed == dim.select("noc_code", "class_title").to_dicts()
    sql = "SELECT table_name, row_count FROM catalog.tables WHERE table_name = 'dim_noc'"
    assert main(["query", sql, "--data-root", root, "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["table_name,row_count", f"dim_noc,{len(dim)}"]
    for explain in ("EXPLAIN SELECT count(*) FROM dim_noc", "EXPLAIN ANALYZE SELECT 1"):
        assert main(["query", explain, "--data-root", root, "--format", "json"]) == 0, explain
        plan = json.loads(capsys.readouterr().out)
        assert len(plan) == 1 and any(str(v).endswith("_plan") for v in plan[0].values())


def test_query_through_the_installed_command(built):
    """The console script users type, in its own process."""
    import subprocess
    import sys

    jobforge = Path(sys.executable).with_name("jobforge")
    done = subprocess.run(
        [str(jobforge), "query", "SELECT count(*) AS n FROM dim_noc", "--format", "csv"]
        + ["--data-root", str(built.data_root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["n", "8"]


def test_catalog_lists_every_table_and_shows_one_in_full(built, capsys):
    root = str(built.data_root)
    assert main(["catalog", "--data-root", root, "--format", "json"]) == 0
    listed = {row["table"]: row for row in json.loads(capsys.readouterr().out)}
    gold = [g.table for s in load_specs().values() for g in s.gold]
    assert set(gold) <= set(listed) and "silver.noc_structure" in listed
    for table in gold:
        rows = pl.scan_parquet(built.table_path(Layer.GOLD, table)).select(pl.len()).collect()
        assert listed[table]["rows"] == rows.item() and listed[table]["layer"] == "gold"
    assert main(["catalog", "fact_oasis_skills", "--data-root", root, "--format", "json"]) == 0
    meta = TableMetadata.model_validate_json(capsys.readouterr().out)
    assert (
        meta.table_name == "fact_oasis_skills" and meta.row_count == listed[meta.table_name]["rows"]
    )
    assert {c.name for c in meta.columns} >= {"oasis_code", "descriptor", "proficiency"}
    assert main(["catalog", "fact_oasis_skills", "--data-root", root]) == 0
    shown = capsys.readouterr().out
    assert "fact_oasis_skills" in shown and "proficiency" in shown


GOVERNANCE = ("data_owner", "data_steward", "classification", "retention_days")


def test_catalog_governance_defaults_when_a_spec_says_nothing(built):
    defaults = ("JobForge data team", "JobForge data steward", "internal", 3650)
    for path in sorted(built.catalog_tables_path().glob("*.json")):
        meta = TableMetadata.model_validate_json(path.read_text())
        assert tuple(getattr(meta, f) for f in GOVERNANCE) == defaults, path.name
    sql = f"SELECT DISTINCT {', '.join(GOVERNANCE)} FROM catalog.tables"
    assert run_query(built, sql).rows() == [defaults]


def test_catalog_governance_declared_in_a_spec_wins(tmp_path, source_copy):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "gov.yaml").write_text(
        "name: gov\nfile: gov.csv\nowner: Labour market team\nsteward: A. Tremblay\n"
        "classification: public\nretention_days: 30\ngold:\n  - table: g_gov\n"
    )
    (source_copy / "gov.csv").write_text("k,v\na,1\n")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["gov"], [specs])
    refresh_catalog(cfg, load_specs([specs]))
    for name in ("g_gov", "silver.gov"):
        meta = TableMetadata.model_validate_json(
            (cfg.catalog_tables_path() / f"{name}.json").read_text()
        )
        declared = ("Labour market team", "A. Tremblay", "public", 30)
        assert tuple(getattr(meta, f) for f in GOVERNANCE) == declared


@pytest.mark.parametrize("row_group_size", [None, 2])
def test_catalog_counts_from_the_parquet_footer_equal_a_scan(tmp_path: Path, row_group_size):
    """Rows and null counts come from the parquet footer's statistics; they must equal what a
    scan of the data finds, including a list column (no statistics: scanned) and no rows."""
    from jobforge_core.catalog.tables import _counts

    frame = pl.DataFrame(
        {
            "code": ["a", None, "c", None, "e"],
            "n": [1, 2, None, 4, None],
            "rows": [[1], [2, 3], None, [4], [5]],
            "kind": pl.Series(["x", "x", None, "x", "x"], dtype=pl.Enum(["x"])),
        }
    )
    for name, df in {"full": frame, "empty": frame.clear(), "flat": frame.drop("rows")}.items():
        path = tmp_path / f"{name}.parquet"
        df.write_parquet(path, row_group_size=row_group_size)
        rows, nulls = _counts(path, df.columns)
        scanned = pl.scan_parquet(path).select(pl.all().null_count()).collect().row(0, named=True)
        assert (rows, nulls) == (df.height, scanned)

"""Issue 11: the SQL store is truly read-only, and every path stays inside its fence.

The hostile inputs go through the real `jobforge` command (a subprocess) against a data root built
once by a real `jobforge run` on the bundled samples, from a working directory inside the root and
from one outside it; afterwards every file under both is byte for byte what it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import SAMPLES

from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.fence import SourceOutsideFence
from jobforge_core.query.sql import QueryLimits, QueryRefused, connect, run_query
from jobforge_core.run.pipeline import plan_sources
from jobforge_core.sources.spec import load_specs

JOBFORGE = Path(sys.executable).with_name("jobforge")

# Statements that change something, one per statement kind DuckDB has ({root} = the data root).
WRITES = [
    "INSERT INTO dim_noc SELECT * FROM dim_noc",
    "UPDATE dim_noc SET class_title = 'x'",
    "DELETE FROM dim_noc",
    "TRUNCATE dim_noc",
    "MERGE INTO dim_noc USING dim_noc AS s ON (dim_noc.noc_code = s.noc_code) "
    "WHEN MATCHED THEN DELETE",
    "CREATE TABLE t AS SELECT 1 AS a",
    "CREATE OR REPLACE VIEW dim_noc AS SELECT 1 AS a",
    "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
    "CREATE MACRO m(a) AS a",
    "DROP VIEW dim_noc",
    "ALTER VIEW dim_noc RENAME TO gone",
    "COMMENT ON VIEW dim_noc IS 'x'",
    "ATTACH 'x.duckdb' AS x",
    "ATTACH '{root}/jobforge.duckdb' AS x",
    "DETACH memory",
    "COPY (SELECT 1 AS a) TO 'x.csv'",
    "COPY (SELECT * FROM dim_noc WHERE noc_code <> '21232') TO '{root}/gold/dim_noc.parquet'",
    "COPY (SELECT 1 AS a) TO '{root}/gold/dim_noc.parquet' (USE_TMP_FILE false)",
    "COPY (SELECT 1 AS a) TO '{root}/catalog/state/noc_structure.json' (FORMAT json)",
    "COPY dim_noc FROM '{root}/gold/dim_noc.parquet'",
    "EXPORT DATABASE 'exported'",
    "IMPORT DATABASE '{root}'",
    "COPY FROM DATABASE memory TO x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "UPDATE EXTENSIONS",
    "PRAGMA enable_profiling",
    "SET enable_external_access = true",
    "SET memory_limit = '100GB'",
    "RESET memory_limit",
    "SET VARIABLE v = 1",
    "CALL enable_logging(storage = 'file', storage_path = 'logs')",
    "CHECKPOINT",
    "FORCE CHECKPOINT",
    "VACUUM",
    "ANALYZE",
    "USE memory",
    "PREPARE p AS SELECT 1",
    "EXECUTE p",
    "DEALLOCATE p",
    "BEGIN TRANSACTION",
    "PIVOT dim_noc ON teer",
]
# Everything a SELECT can do to reach a file: absolute, relative and ~ paths.
FILE_READS = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv('~/.bashrc')",
    "SELECT * FROM read_csv('decoy.csv')",
    "SELECT * FROM read_csv_auto('../decoy.csv')",
    "SELECT * FROM read_parquet('{root}/gold/dim_noc.parquet')",
    "SELECT * FROM read_parquet('gold/dim_noc.parquet')",
    "SELECT * FROM 'gold/dim_noc.parquet'",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM read_text('jobforge.duckdb')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_blob('~/.ssh/id_rsa')",
    "SELECT * FROM read_json('catalog/state/noc_structure.json')",
    "SELECT * FROM read_json_auto('~/x.json')",
    "SELECT * FROM glob('*')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM glob('~/*')",
    "SELECT * FROM parquet_metadata('gold/dim_noc.parquet')",
    "SELECT * FROM parquet_schema('{root}/gold/dim_noc.parquet')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM read_duckdb('{root}/jobforge.duckdb')",
    "SELECT * FROM read_csv('https://example.com/x.csv')",
    "SELECT getenv('HOME')",
    "SELECT * FROM query('SELECT * FROM read_csv(''/etc/passwd'')')",
    "SELECT noc_code FROM dim_noc UNION ALL SELECT content FROM read_text('decoy.csv')",
    "WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT count(*) FROM x",
]
STACKED = [
    "SELECT 1; DROP VIEW dim_noc",
    "SELECT 1; COPY (SELECT 1) TO 'x.csv'",
    "/* SELECT */ COPY (SELECT 1) TO 'x.csv'",
    "/* comment */ EXPLAIN /* hidden */ ANALYZE COPY (SELECT 1) TO 'x.csv'",
    "EXPLAIN (FORMAT json) COPY (SELECT 1) TO 'x.csv'",
    "EXPLAIN ANALYZE (SELECT 1); COPY (SELECT 1) TO 'x.csv'",
    "not sql at all",
]
OTHER_COMMANDS = [
    ["lineage", "dim_noc", "--where", "__import__('os').system('id')"],
    ["lineage", "dim_noc", "--where", "1=1; DROP TABLE y"],
    ["lineage", "dim_noc", "--where", "noc_code IN (SELECT * FROM read_csv('/etc/passwd'))"],
    ["lineage", "dim_noc", "--where", "no_such_column = 1"],
    ["lineage", "../gold/dim_noc"],
    ["lineage", "dim_noc'; DROP TABLE x; --"],
    ["catalog", "x; DROP TABLE y"],
    ["catalog", "../../etc/passwd"],
    ["catalog", "dim_noc' OR '1'='1"],
    ["quarantine", "nosuch.dim_noc"],
    ["quarantine", "../../etc"],
    ["quarantine", "silver.nosuch"],
    ["quarantine", "gold.x; DROP TABLE y"],
]
HOSTILE = (
    [["query", sql] for sql in WRITES]
    + [["query", f"EXPLAIN ANALYZE {sql}"] for sql in WRITES]
    + [["query", sql] for sql in FILE_READS]
    + [["query", sql] for sql in STACKED]
    + OTHER_COMMANDS
)


def jobforge(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed `jobforge` command, as a user runs it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    return subprocess.run(
        [str(JOBFORGE), *args],
        cwd=cwd,
        env=environ | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def checksums(*roots: Path) -> dict[str, str]:
    """sha256 of every file under the roots (a new or removed file shows as a changed key)."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for root in roots
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_refused(result: subprocess.CompletedProcess[str], what: object) -> str:
    err_lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (what, result.returncode, result.stdout, result.stderr)
    assert len(err_lines) == 1 and err_lines[0].startswith("jobforge"), (what, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, what
    return err_lines[0]


@pytest.fixture(scope="module")
def sample_root(sample_flow_run) -> Path:
    data_root, code, _ = sample_flow_run
    assert code == 0
    return data_root


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """Another project's folder, with files named like the data root's (decoys)."""
    other = tmp_path / "other-project"
    (other / "gold").mkdir(parents=True)
    pl.DataFrame({"noc_code": ["99999"], "class_title": ["decoy"]}).write_parquet(
        other / "gold" / "dim_noc.parquet"
    )
    (other / "decoy.csv").write_text("secret\n42\n")
    (other / "catalog" / "state").mkdir(parents=True)
    (other / "catalog" / "state" / "noc_structure.json").write_text('{"decoy": true}\n')
    return other


# Runs `jobforge` (flows.cli.main, the console script's target) once per argv in one process,
# so the ~130 inputs x 2 working directories cost two interpreter starts, not 260. Whatever the
# command prints, returns or raises is recorded as the console script would show it.
DRIVER = """
import contextlib, io, json, sys, traceback
from flows.cli import main
results = []
for argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append({"argv": argv, "code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
"""


def jobforge_many(argvs: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JOBFORGE_")}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(argvs),
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return [
        subprocess.CompletedProcess(r["argv"], r["code"], r["stdout"], r["stderr"])
        for r in json.loads(done.stdout.strip().splitlines()[-1])
    ]


def test_hostile_inputs_are_refused_and_change_no_file(sample_root, elsewhere):
    assert len(HOSTILE) >= 30
    before = checksums(sample_root, elsewhere)
    argvs = [[a.replace("{root}", str(sample_root)) for a in args] for args in HOSTILE]
    # Every input from inside the root (relative --data-root) and from another folder.
    inside = jobforge_many([[*argv, "--data-root", "."] for argv in argvs], sample_root)
    outside = jobforge_many([[*argv, "--data-root", str(sample_root)] for argv in argvs], elsewhere)
    messages = {}
    for result in inside + outside:
        messages[" ".join(result.args[:-2])] = assert_refused(result, result.args)
    assert checksums(sample_root, elsewhere) == before
    assert "EXPLAIN of COPY" in messages["query EXPLAIN ANALYZE COPY (SELECT 1 AS a) TO 'x.csv'"]
    assert "no other file" in messages["query SELECT * FROM read_csv('/etc/passwd')"]


@pytest.mark.parametrize(
    "args",
    [
        ["query", "EXPLAIN ANALYZE COPY (SELECT 1 AS a) TO '{root}/gold/dim_noc.parquet'"],
        ["query", "SELECT * FROM read_parquet('gold/dim_noc.parquet')"],
        ["lineage", "dim_noc", "--where", "__import__('os').system('id')"],
        ["quarantine", "nosuch.dim_noc"],
    ],
)
def test_hostile_inputs_through_the_installed_command(sample_root, elsewhere, args):
    """A sample of the table through the console script itself: exit code and stderr as seen
    by a shell, from inside the root and from elsewhere."""
    before = checksums(sample_root, elsewhere)
    argv = [a.replace("{root}", str(sample_root)) for a in args]
    assert_refused(jobforge([*argv, "--data-root", "."], sample_root), argv)
    assert_refused(jobforge([*argv, "--data-root", str(sample_root)], elsewhere), argv)
    assert checksums(sample_root, elsewhere) == before


def test_explain_analyze_of_a_write_is_refused_but_of_a_select_runs(sample_root):
    """Item 1: EXPLAIN ANALYZE runs what it explains, so only a SELECT may be explained."""
    target = sample_root / "gold" / "dim_noc.parquet"
    before = checksums(sample_root)
    sql = f"EXPLAIN ANALYZE COPY (SELECT * FROM dim_noc WHERE noc_code <> '21232') TO '{target}'"
    with pytest.raises(QueryRefused, match="EXPLAIN of COPY statements is not allowed"):
        run_query(PipelineConfig(data_root=sample_root), sql)
    plan = run_query(PipelineConfig(data_root=sample_root), "EXPLAIN ANALYZE SELECT * FROM dim_noc")
    assert "analyzed_plan" in plan.get_column("explain_key").to_list()
    assert checksums(sample_root) == before


@pytest.mark.parametrize(
    "sql",
    [
        "EXPLAIN ANALYZE COPY (SELECT 1 AS a) TO '{root}/gold/dim_noc.parquet'",
        "COPY (SELECT 1 AS a) TO '{root}/gold/dim_noc.parquet' (USE_TMP_FILE false)",
        "COPY (SELECT 1 AS a) TO '{root}/gold/new.csv'",
        "ATTACH '{root}/jobforge.duckdb' AS again",
        "SELECT * FROM read_parquet('{root}/gold/dim_noc.parquet')",
        "SET enable_external_access = true",
        "SET temp_directory = '{root}'",
    ],
)
def test_the_fence_holds_when_the_statement_check_is_fooled(sample_root, sql):
    """Item 1: SQL that skips check_read_only still can neither write nor read a file."""
    before = checksums(sample_root)
    con = connect(PipelineConfig(data_root=sample_root))
    try:
        assert con.execute("SELECT count(*) FROM dim_noc").fetchone() == (8,)
        with pytest.raises((duckdb.PermissionException, duckdb.InvalidInputException)):
            con.execute(sql.replace("{root}", str(sample_root)))
        attached = con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        assert {name for (name,) in attached} == {"memory", "system", "temp"}
    finally:
        con.close()
    assert checksums(sample_root) == before


def test_the_fence_does_not_follow_the_working_directory(sample_root, elsewhere):
    """Item 2: views and file access resolve from the data root, whatever the working dir."""
    result = jobforge(
        [
            "query",
            "SELECT count(*) AS n FROM dim_noc",
            "--format",
            "csv",
            "--data-root",
            str(sample_root),
        ],
        elsewhere,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["n", "8"]  # the root's 8 rows, not the decoy's one
    decoy = f"SELECT * FROM read_parquet('{elsewhere}/gold/dim_noc.parquet')"
    message = assert_refused(
        jobforge(["query", decoy, "--data-root", str(sample_root)], elsewhere), decoy
    )
    assert "no other file" in message
    # A relative --data-root is resolved once, from where the command starts.
    inside = jobforge(
        [
            "query",
            "SELECT count(*) AS n FROM dim_noc",
            "--format",
            "csv",
            "--data-root",
            sample_root.name,
        ],
        sample_root.parent,
    )
    assert inside.stdout.split() == ["n", "8"], inside.stderr


def test_the_store_still_works_for_other_clients_after_a_move(sample_root, tmp_path):
    """The store keeps relative view paths for external clients; jobforge resolves its own."""
    moved = tmp_path / "moved"
    shutil.copytree(sample_root, moved)
    assert run_query(PipelineConfig(data_root=moved), "SELECT count(*) FROM dim_noc").item() == 8
    con = duckdb.connect(str(moved / "jobforge.duckdb"), read_only=True)
    try:
        con.execute("SET file_search_path = ?", [str(moved)])
        assert con.execute("SELECT count(*) FROM dim_noc").fetchone() == (8,)
    finally:
        con.close()


SPEC = """
name: escaping
file: {file}
description: a spec whose file is elsewhere
renames: {{}}
gold:
  - table: dim_escaping
"""


@pytest.mark.parametrize(
    "declared",
    [
        "/etc/os-release",
        "../../../../../../../../../../etc/passwd",
        "{outside}/secret.csv",
        "../outside/secret.csv",
        "link.csv",
        "../outside/*.csv",
        "{outside}/secret*.csv",
    ],
)
def test_a_spec_file_outside_the_source_directory_is_refused(tmp_path, declared):
    """Item 3: after symlinks, a spec's file must be inside the source directory."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("code,title\n1,secret\n")
    source = tmp_path / "source"
    source.mkdir()
    (source / "link.csv").symlink_to(outside / "secret.csv")
    declared = declared.replace("{outside}", str(outside))
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "escaping.yaml").write_text(SPEC.format(file=declared))
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    with pytest.raises(SourceOutsideFence) as refused:
        plan_sources(load_specs([specs]), cfg, ["escaping"])
    assert "spec 'escaping'" in str(refused.value) and repr(declared) in str(refused.value)
    assert not (tmp_path / "data").exists()  # refused before anything is read or written
    if "etc" in declared:
        return
    # The operator may opt in: a listed root allows files under it (symlinks still resolved).
    opted = cfg.model_copy(update={"allowed_roots": (outside,)})
    plan = plan_sources(load_specs([specs]), opted, ["escaping"])["escaping"]
    assert plan.source_path.name in {Path(declared).name, "secret.csv"}
    assert plan.content_sha256 != "missing"


def test_allowed_roots_come_from_the_environment(tmp_path):
    code = (
        "from jobforge_core.common.config import PipelineConfig;"
        "print(PipelineConfig.from_settings().allowed_roots)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"JOBFORGE_ALLOWED_ROOTS": f"{tmp_path}{os.pathsep}/etc", "PATH": ""},
    ).stdout
    assert str(tmp_path) in out and "/etc" in out


def test_a_spec_file_inside_the_source_directory_still_plans(tmp_path):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=SAMPLES)
    plans = plan_sources(load_specs(), cfg, ["noc_structure"])
    assert plans["noc_structure"].source_path == SAMPLES.resolve() / "noc_structure_en.csv"


def test_a_query_stops_at_its_time_limit(sample_root, tmp_path):
    """Item 4: a runaway query stops at the timeout (option or environment), with a message."""
    sql = "SELECT count(*) FROM range(1000000000000)"
    started = time.monotonic()
    message = assert_refused(
        jobforge(["query", sql, "--timeout", "1", "--data-root", str(sample_root)], tmp_path), sql
    )
    assert "stopped after 1 s" in message and "--timeout" in message
    assert time.monotonic() - started < 60
    by_env = jobforge(
        ["query", sql, "--data-root", str(sample_root)], tmp_path, JOBFORGE_QUERY_TIMEOUT="1"
    )
    assert "stopped after 1 s" in assert_refused(by_env, sql)


def test_a_query_stops_at_its_memory_limit(sample_root, tmp_path):
    sql = "SELECT count(DISTINCT i) FROM range(50000000) t(i)"
    small = QueryLimits(memory_limit="32MB")
    with pytest.raises(QueryRefused, match="more than its memory limit of 32MB"):
        run_query(PipelineConfig(data_root=sample_root), sql, small)
    result = jobforge(
        ["query", sql, "--memory-limit", "32MB", "--data-root", str(sample_root)], tmp_path
    )
    assert "memory limit of 32MB" in assert_refused(result, sql)
    assert not list(tmp_path.iterdir())  # nothing spilled to the working directory


def test_queries_have_default_limits(sample_root):
    cfg = PipelineConfig(data_root=sample_root)
    limit = run_query(cfg, "SELECT current_setting('memory_limit') AS m").item()
    assert limit.endswith("GiB") and 1.5 < float(limit.split()[0]) <= 2.0
    assert QueryLimits().timeout_s == 120
    settings = run_query(
        cfg,
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('enable_external_access', 'lock_configuration', 'temp_directory')",
    )
    assert dict(settings.iter_rows()) == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "temp_directory": "",
    }


CRASHES = [
    (["query", "SELECT [1,2] AS l, {'a': 1} AS s", "--format", "csv"], None),
    (["quarantine", "nosuch.dim_noc"], "unknown table 'nosuch.dim_noc'"),
    (["lineage", "dim_noc", "--where", "__import__('os').system('id')"], "not a filter"),
    (["query", "SELECT 1", "--memory-limit", "lots"], "not a size"),
    (["query", "UPDATE EXTENSIONS"], "not allowed"),
    (["query", "SELECT INTERVAL 1 DAY AS i, union_value(k := 1) AS u", "--format", "csv"], None),
]


def test_crashes_became_refusals(sample_root, tmp_path):
    """Item 5: each is a one-line refusal (exit 2), or, for nested values in CSV, an answer."""
    results = jobforge_many(
        [[*args, "--data-root", str(sample_root)] for args, _ in CRASHES], tmp_path
    )
    answers = []
    for (args, expected), result in zip(CRASHES, results, strict=True):
        if expected is None:
            assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
            answers.append(result.stdout.splitlines()[:2])
        else:
            message = assert_refused(result, args)
            assert expected in message and "Dot(Function" not in message
    assert answers == [["l,s", '"[1, 2]","{""a"": 1}"'], ["i,u", "1 day,1"]]

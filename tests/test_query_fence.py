"""The path fence and the query fence, tested directly (fast; no Prefect, no subprocess).

test_security.py and test_catalog.py test the same promises through `jobforge` on the sample
run; these tests reach every branch of jobforge_core/common/fence.py and of the statement check, the
store loading and the connection lock in jobforge_core/query/sql.py in about a second, so the
mutation run (tests/MUTATION.md) can afford them against every mutant.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import run_plain

from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.errors import JobForgeError, SpecError
from jobforge_core.common.fence import (
    OutsideFence,
    SourceOutsideFence,
    fenced_source,
    inside,
    is_inside,
    real,
    under_root,
)
from jobforge_core.query.sql import (
    QueryLimitExceeded,
    QueryLimits,
    QueryRefused,
    _explained,
    _kind,
    check_read_only,
    connect,
    one_line,
    run_query,
)
from jobforge_core.site.refresh import refresh_catalog
from jobforge_core.sources.spec import load_specs

# ---------------------------------------------------------------- fence.py


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/ with a file, a symlink out of it, and a sibling whose name extends root's."""
    root, out, sibling = tmp_path / "root", tmp_path / "out", tmp_path / "rootish"
    for d in (root / "sub", out, sibling):
        d.mkdir(parents=True)
    (root / "sub" / "a.csv").write_text("x\n1\n")
    (out / "secret.csv").write_text("x\n2\n")
    (root / "escape.csv").symlink_to(out / "secret.csv")
    (root / "inner.csv").symlink_to(root / "sub" / "a.csv")
    return tmp_path


def test_real_is_absolute_with_symlinks_resolved(tree, monkeypatch):
    monkeypatch.chdir(tree)
    assert real("root/escape.csv") == tree.resolve() / "out" / "secret.csv"
    assert real(Path("root") / "sub" / ".." / "sub" / "a.csv") == tree.resolve() / "root/sub/a.csv"
    assert real("root/missing.csv") == tree.resolve() / "root" / "missing.csv"


def test_is_inside_follows_symlinks_and_compares_whole_path_parts(tree):
    root = tree / "root"
    assert is_inside(root, [root])  # the root itself
    assert is_inside(root / "sub" / "a.csv", [root])
    assert is_inside(root / "inner.csv", [root])
    assert not is_inside(root / "escape.csv", [root])  # a link out of the root
    assert is_inside(root / "escape.csv", [root, tree / "out"])  # any listed root will do
    assert not is_inside(tree / "rootish" / "x", [root])  # a prefix of the name is not a parent
    assert not is_inside(root / ".." / "out" / "secret.csv", [root])
    assert not is_inside(root, [])


def test_inside_returns_the_real_path_or_refuses_naming_what_path_and_roots(tree):
    root, out = tree / "root", tree / "out"
    assert inside(root / "inner.csv", [root], "x") == root.resolve() / "sub" / "a.csv"
    assert inside(root / "escape.csv", [out, root], "x") == out.resolve() / "secret.csv"
    with pytest.raises(OutsideFence) as refused:
        inside(root / "escape.csv", [root, tree / "rootish"], "the input")
    assert str(refused.value) == (
        f"the input {root / 'escape.csv'} resolves to {out.resolve() / 'secret.csv'}, "
        f"outside {root.resolve()}, {(tree / 'rootish').resolve()}"
    )
    assert isinstance(refused.value, JobForgeError)


def test_under_root_resolves_from_the_root_never_the_working_directory(tree, monkeypatch):
    root = tree / "root"
    monkeypatch.chdir(tree / "out")
    assert under_root(root, "sub/a.csv", "file") == root.resolve() / "sub" / "a.csv"
    assert under_root(root, "inner.csv", "file") == root.resolve() / "sub" / "a.csv"
    with pytest.raises(OutsideFence, match=r"^file '/etc/passwd' must be relative to the data"):
        under_root(root, "/etc/passwd", "file")
    with pytest.raises(OutsideFence) as refused:
        under_root(root, "../out/secret.csv", "table file:")
    assert str(refused.value).startswith(f"table file: {root.resolve()}/../out/secret.csv resolves")
    with pytest.raises(OutsideFence, match="escape.csv resolves to .*secret.csv, outside"):
        under_root(root, "escape.csv", "file")


def test_fenced_source_keeps_the_link_name_and_checks_where_it_points(tree):
    root, out = tree / "root", tree / "out"
    # a relative path is taken from the source directory, and keeps a symlink's own name
    assert fenced_source("s", "inner.csv", Path("inner.csv"), root) == root.resolve() / "inner.csv"
    named = fenced_source("s", "sub/../sub/a.csv", Path("sub/../sub/a.csv"), root)
    assert named == root.resolve() / "sub" / "a.csv"  # normalised, absolute
    with pytest.raises(SourceOutsideFence) as refused:
        fenced_source("things", "escape.csv", Path("escape.csv"), root, [tree / "rootish"])
    message = str(refused.value)
    assert message == (
        f"spec 'things': file 'escape.csv' resolves to {out.resolve() / 'secret.csv'}, outside "
        f"the source directory ({root.resolve()}, {(tree / 'rootish').resolve()}); list its "
        "directory in JOBFORGE_ALLOWED_ROOTS to allow it"
    )
    assert isinstance(refused.value, SpecError) and isinstance(refused.value, OutsideFence)
    # an operator-listed root allows the target; the returned path is still the link's
    allowed = fenced_source("things", "escape.csv", Path("escape.csv"), root, [out])
    assert allowed == root.resolve() / "escape.csv"
    # an absolute path elsewhere is refused as well
    with pytest.raises(SourceOutsideFence):
        fenced_source("things", "x", out / "secret.csv", root)


# ---------------------------------------------------------------- the statement check


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select 1 ;  ",
        "WITH t AS (SELECT 1 AS a) SELECT a FROM t",
        "EXPLAIN SELECT 1",
        "EXPLAIN ANALYZE SELECT 1",
        "EXPLAIN ANALYSE SELECT 1",
        "explain /* why */ analyze select 1",
        "EXPLAIN (FORMAT json) SELECT 1",
        "EXPLAIN ANALYZE (FORMAT json) SELECT 1",
        "EXPLAIN (ANALYZE, FORMAT json) SELECT 1",
    ],
)
def test_one_select_or_an_explained_select_passes(sql):
    check_read_only(sql)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM t", "refused: DELETE statements are not allowed; the store is read-only "),
        ("COPY t TO 'x.csv'", "refused: COPY statements are not allowed"),
        ("PRAGMA version", "refused: PRAGMA statements are not allowed"),
        ("UPDATE EXTENSIONS", "refused: UNKNOWN statements are not allowed"),
        ("SELECT 1; SELECT 2", "refused: one statement per query, got 2"),
        ("", "refused: one statement per query, got 0"),
        ("SELEC 1", "not valid SQL: "),
        ("EXPLAIN DELETE FROM t", "refused: EXPLAIN of DELETE statements is not allowed"),
        ("EXPLAIN ANALYZE COPY t TO 'x'", "refused: EXPLAIN of COPY statements is not allowed"),
        ("EXPLAIN (ANALYZE) DROP TABLE t", "refused: EXPLAIN of DROP statements"),
        ("EXPLAIN /* c */ ANALYSE CREATE TABLE x AS SELECT 1", "refused: EXPLAIN of CREATE"),
    ],
)
def test_anything_else_is_refused_with_its_kind(sql, message):
    with pytest.raises(QueryRefused) as refused:
        check_read_only(sql)
    assert str(refused.value).startswith(message), str(refused.value)


def test_the_explained_statement_is_cut_from_the_original_text():
    assert _explained("EXPLAIN SELECT 1") == "SELECT 1"
    assert _explained("explain analyze  SELECT a FROM t") == "SELECT a FROM t"
    assert _explained("EXPLAIN ANALYSE DELETE FROM t") == "DELETE FROM t"
    assert _explained("EXPLAIN (FORMAT json) SELECT (1)") == "SELECT (1)"
    assert _explained("EXPLAIN ANALYZE (FORMAT json, x (1)) SELECT 2") == "SELECT 2"
    assert _explained("EXPLAIN (ANALYZE, FORMAT json) SELECT 3") == "SELECT 3"
    assert _explained("EXPLAIN ANALYSE (FORMAT json) DELETE FROM t") == "DELETE FROM t"
    assert _explained("EXPLAIN ((FORMAT json)) SELECT 5") == "SELECT 5"  # every "(" counted
    assert _explained("EXPLAIN /* ANALYZE */ -- (x\n SELECT 4") == "SELECT 4"
    assert _explained("EXPLAIN ANALYZE") == ""
    assert _explained("EXPLAIN (FORMAT json") == ""
    assert _explained("SELECT 1") == ""  # not an EXPLAIN: nothing is explained


def test_a_statement_kind_the_binding_cannot_name_is_unknown():
    (update,) = duckdb.extract_statements("UPDATE EXTENSIONS")
    assert _kind(update) == "UNKNOWN"
    (select,) = duckdb.extract_statements("SELECT 1")
    assert _kind(select) == "SELECT"


def test_one_line_keeps_the_first_non_empty_line_shortened():
    assert one_line("\n  \n  first line  \nsecond") == "first line"
    assert one_line("x" * 300) == "x" * 300
    assert one_line("x" * 301) == "x" * 297 + "..."
    assert one_line("abcdef", limit=5) == "ab..."
    assert one_line(ValueError("")) == "ValueError"
    assert one_line("") == "str"


def test_query_limits_are_checked_when_made():
    assert QueryLimits(timeout_s=0, memory_limit=" 2GiB ").timeout_s == 0
    for ok in ("512MB", "1.5GB", "100 KiB", "7b", "3TB"):
        QueryLimits(memory_limit=ok)
    with pytest.raises(QueryRefused, match=r"^timeout must be 0 \(no limit\) or a number of "):
        QueryLimits(timeout_s=-0.5)
    for bad in ("512", "lots", "5 XB", "1GB; SET x=1", "", "1.GB"):
        with pytest.raises(QueryRefused, match="is not a size like 512MB or 2GiB"):
            QueryLimits(memory_limit=bad)


# ---------------------------------------------------------------- the store behind queries

SPEC = """
name: things
domain: test
file: things.csv
keys: [k]
types: {level: int}
gold:
  - table: g_things
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    """Two batches of one source (the second with a new column) and its catalog store."""
    base = tmp_path_factory.mktemp("store")
    source, specs = base / "source", base / "specs"
    source.mkdir()
    specs.mkdir()
    (specs / "things.yaml").write_text(SPEC)
    cfg = PipelineConfig(data_root=base / "data", source_dir=source)
    (source / "things.csv").write_text("k,v,level\na,1,1\nb,2,4\n")
    run_plain(cfg, ["things"], [specs])
    (source / "things.csv").write_text("k,v,level,note\na,1,1,x\nb,2,4,y\nc,3,2,z\n")
    run_plain(cfg, ["things"], [specs])
    refresh_catalog(cfg, load_specs([specs]))
    return cfg


def _names(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_name NOT LIKE '\\_jobforge\\_scan%' ESCAPE '\\'"
    ).fetchall()
    return set(rows)


def test_connect_serves_every_layer_history_and_catalog_and_nothing_attached(store):
    con = connect(store)
    try:
        names = _names(con)
        assert {
            ("main", "g_things"),
            ("staged", "things"),
            ("bronze", "things"),
            ("silver", "things"),
            ("history", "g_things"),
            ("history", "silver_things"),
            ("catalog", "tables"),
            ("catalog", "history"),
        } <= names
        assert ("main", "things") not in names and ("gold", "g_things") not in names
        rows = con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        databases = {n for (n,) in rows}
        assert databases == {"memory", "system", "temp"}  # the store was detached
        assert con.execute("SELECT count(*) FROM g_things").fetchone() == (3,)
        # history holds both batches: one view over files whose schemas differ
        order = "ORDER BY k, note NULLS FIRST"
        hist = con.execute(f"SELECT k, note FROM history.g_things {order}").fetchall()
        assert hist == [("a", None), ("a", "x"), ("b", None), ("b", "y"), ("c", "z")]
        assert con.execute("SELECT count(*) FROM history.silver_things").fetchone() == (5,)
        kinds = dict(
            con.execute(
                "SELECT table_name, layer FROM catalog.tables WHERE table_name LIKE '%things'"
            ).fetchall()
        )
        assert kinds == {
            "g_things": "gold",
            "silver.things": "silver",
            "bronze.things": "bronze",
            "staged.things": "staged",
        }
    finally:
        con.close()


def test_the_connection_is_locked_without_file_access(store):
    con = connect(store, QueryLimits(memory_limit=" 300MB "))
    try:
        setting = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ('temp_directory', "
                "'memory_limit', 'autoinstall_known_extensions', 'autoload_known_extensions', "
                "'allow_community_extensions', 'enable_external_access', 'lock_configuration')"
            ).fetchall()
        )
        assert setting == {
            "temp_directory": "",
            "memory_limit": "286.1 MiB",
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
            "allow_community_extensions": "false",
            "enable_external_access": "false",
            "lock_configuration": "true",
        }
        gold = store.data_root / "gold" / "g_things.parquet"
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_parquet('{gold}')")
        with pytest.raises(duckdb.Error):
            con.execute("SET enable_external_access = true")
    finally:
        con.close()


def test_run_query_returns_every_row_and_turns_errors_into_refusals(store):
    frame = run_query(store, "SELECT k, level FROM g_things ORDER BY k")
    assert frame.to_dicts() == [
        {"k": "a", "level": 1},
        {"k": "b", "level": 4},
        {"k": "c", "level": 2},
    ]
    assert run_query(store, "SELECT count(*) AS n FROM catalog.tables WHERE layer = 'gold'").item()
    plan = run_query(store, "EXPLAIN SELECT * FROM g_things")
    assert plan.columns == ["explain_key", "explain_value"]
    with pytest.raises(QueryRefused, match="^refused: DELETE statements"):
        run_query(store, "DELETE FROM g_things")
    gold = store.data_root / "gold" / "g_things.parquet"
    with pytest.raises(
        QueryRefused, match="^refused: SQL can read only the store's tables and"
    ) as no:
        run_query(store, f"SELECT * FROM read_parquet('{gold}')")
    assert "(Permission Error: " in str(no.value)  # DuckDB's own reason, on the same line
    with pytest.raises(QueryRefused, match="does_not_exist") as refused:
        run_query(store, "SELECT does_not_exist FROM g_things")
    assert "\n" not in str(refused.value) and not isinstance(refused.value, QueryLimitExceeded)


def test_run_query_stops_at_its_limits(store):
    endless = "SELECT count(*) FROM range(100000000000)"
    with pytest.raises(
        QueryLimitExceeded, match=r"^query stopped after 0.2 s, its time limit"
    ) as t:
        run_query(store, endless, QueryLimits(timeout_s=0.2))
    assert str(t.value).endswith("--timeout SECONDS or JOBFORGE_QUERY_TIMEOUT (0 = no limit)")
    with pytest.raises(QueryLimitExceeded, match="more than its memory limit of 1MB") as m:
        run_query(
            store,
            "SELECT list(range) FROM range(3000000) GROUP BY range % 7",
            QueryLimits(memory_limit="1MB"),
        )
    assert str(m.value).endswith("raise it with --memory-limit SIZE or JOBFORGE_QUERY_MEMORY_LIMIT")
    # no time limit: a quick query is not interrupted by a timer of 0 s
    assert run_query(store, "SELECT 42 AS x", QueryLimits(timeout_s=0)).item() == 42
    counted = "SELECT count(*) FROM range(30000000)"  # long enough for a 0 s timer to fire
    assert run_query(store, counted, QueryLimits(timeout_s=0)).item() == 30000000


def test_no_time_limit_arms_no_timer_and_a_limit_is_always_disarmed(store, monkeypatch):
    """With `timeout_s=0` (no limit) no timer may exist: one of 0 s would race the query and,
    landing once it runs, stop it as over its limit. A real timer, only recorded."""
    import threading

    armed: list[threading.Timer] = []

    class Recorded(threading.Timer):
        def __init__(self, interval, function, *args, **kwargs):
            super().__init__(interval, function, *args, **kwargs)
            armed.append(self)

    monkeypatch.setattr(threading, "Timer", Recorded)
    assert run_query(store, "SELECT 42 AS x", QueryLimits(timeout_s=0)).item() == 42
    assert armed == []
    assert run_query(store, "SELECT 7 AS x", QueryLimits(timeout_s=30)).item() == 7
    assert [t.interval for t in armed] == [30]
    armed[0].join(5)  # cancelled when the query ended: the thread is gone, nothing fired
    assert not armed[0].is_alive() and armed[0].finished.is_set()


def test_connect_needs_a_store_and_refuses_a_broken_one(tmp_path, store):
    empty = PipelineConfig(data_root=tmp_path / "none")
    with pytest.raises(JobForgeError, match="^no store at .*: run `jobforge run`"):
        connect(empty)
    broken = PipelineConfig(data_root=tmp_path / "broken")
    broken.data_root.mkdir()
    broken.store_path().write_bytes(b"not a duckdb file" * 100)
    with pytest.raises(QueryRefused, match="^cannot open the store ") as cannot:
        connect(broken)
    assert str(cannot.value).startswith(  # DuckDB's reason, on the same line
        f"cannot open the store {broken.store_path()}: IO Error: "
    ) and "not a valid DuckDB database file" in str(cannot.value)
    # a store that is a link out of the data root is refused, naming it, before it is opened
    linked = PipelineConfig(data_root=tmp_path / "linked")
    linked.data_root.mkdir()
    linked.store_path().symlink_to(store.store_path())
    with pytest.raises(OutsideFence) as outside:
        connect(linked)
    assert str(outside.value) == (
        f"store {linked.store_path()} resolves to {real(store.store_path())}, "
        f"outside {real(linked.data_root)}"
    )


def test_a_table_file_gone_since_the_catalog_was_built_is_simply_absent(tmp_path, store):
    import shutil

    moved = tmp_path / "copy"
    shutil.copytree(store.data_root, moved)
    cfg = PipelineConfig(data_root=moved)
    (moved / "bronze" / "things.parquet").unlink()
    con = connect(cfg)
    try:
        names = _names(con)
        assert ("bronze", "things") not in names and ("main", "g_things") in names
        assert con.execute("SELECT count(*) FROM g_things").fetchone() == (3,)
    finally:
        con.close()


def test_a_catalog_path_leading_out_of_the_data_root_is_refused(tmp_path, store):
    import shutil

    moved = tmp_path / "copy"
    shutil.copytree(store.data_root, moved)
    con = duckdb.connect(str(moved / "jobforge.duckdb"))
    try:
        con.execute(
            "UPDATE catalog.tables SET file_path = '../elsewhere.parquet' "
            "WHERE table_name = 'g_things'"
        )
    finally:
        con.close()
    pl.DataFrame({"k": ["decoy"]}).write_parquet(tmp_path / "elsewhere.parquet")
    with pytest.raises(OutsideFence, match="file of table main.g_things: .* outside"):
        connect(PipelineConfig(data_root=moved))
    assert os.listdir(tmp_path / "copy")  # nothing removed


def _tampered(store: PipelineConfig, tmp_path: Path, *sql: str) -> PipelineConfig:
    """A copy of the store's data root whose catalog was edited by hand with `sql`."""
    import shutil

    moved = tmp_path / "tampered"
    shutil.copytree(store.data_root, moved)
    con = duckdb.connect(str(moved / "jobforge.duckdb"))
    try:
        for statement in sql:
            con.execute(statement)
    finally:
        con.close()
    return PipelineConfig(data_root=moved)


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        ('CREATE TABLE catalog."x; DROP" (a INT)', "unexpected catalog table name 'x; DROP'"),
        (
            "UPDATE catalog.tables SET layer = 'sil ver' WHERE table_name = 'silver.things'",
            "unexpected schema 'sil ver'",
        ),
        (
            "UPDATE catalog.tables SET table_name = 'g things' WHERE table_name = 'g_things'",
            "unexpected table name 'g things'",
        ),
    ],
)
def test_names_from_a_tampered_store_are_refused_not_pasted_into_sql(store, tmp_path, sql, refusal):
    cfg = _tampered(store, tmp_path, sql)
    with pytest.raises(QueryRefused) as refused:
        connect(cfg)
    assert str(refused.value) == f"store {cfg.store_path()}: {refusal}"


def test_history_files_whose_schemas_do_not_unify_are_one_view_matched_by_name(store, tmp_path):
    other = tmp_path / "tampered" / "history" / "gold" / "g_things" / "odd.parquet"
    cfg = _tampered(
        store,
        tmp_path,
        "INSERT INTO catalog.history SELECT table_name, layer, 'odd', false, 1, ingested_at, "
        "written_at, 'history/gold/g_things/odd.parquet' FROM catalog.history "
        "WHERE table_name = 'g_things' LIMIT 1",
    )
    other.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"k": [7], "level": ["seven"]}).write_parquet(other)  # k int, level text
    con = connect(cfg)
    try:
        assert con.execute("SELECT count(*) FROM history.g_things").fetchone() == (6,)
        scans = [
            n
            for (n,) in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_name LIKE '%history_g_things%' ORDER BY 1"
            ).fetchall()
        ]
        assert len(scans) == 3  # no unified schema: one dataset per file
    finally:
        con.close()


def test_a_catalog_entry_resolves_to_its_file_inside_the_data_root(store):
    from jobforge_core.query.sql import _table_file, resolve_table

    meta = resolve_table(store, "g_things")
    assert _table_file(store, meta) == store.data_root.resolve() / "gold" / "g_things.parquet"
    escaped = meta.model_copy(update={"file_path": "../../outside.parquet"})
    with pytest.raises(OutsideFence, match=r"^file of table g_things: .* outside"):
        _table_file(store, escaped)
    absolute = meta.model_copy(update={"file_path": str(store.data_root / "gold" / "x.parquet")})
    with pytest.raises(OutsideFence, match="must be relative to the data root"):
        _table_file(store, absolute)


def test_only_the_tables_the_sql_names_are_opened_unless_it_introspects(store):
    from jobforge_core.query.sql import _mentioned

    assert _mentioned("SELECT k FROM G_Things WHERE x = 'silver'") == {
        "select",
        "k",
        "from",
        "g_things",
        "where",
        "x",
        "silver",
    }
    assert _mentioned('SELECT * FROM "dim_$x" JOIN t2') == {
        "select",
        "from",
        "dim_$x",
        "join",
        "t2",
    }
    for introspecting in (
        "SHOW TABLES",
        "DESCRIBE g_things",
        "SUMMARIZE g_things",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM duckdb_views()",
        "SELECT * FROM pragma_table_info('g_things')",
        "SELECT * FROM pg_catalog.pg_class",
        "SELECT * FROM sqlite_master",
    ):
        assert _mentioned(introspecting) is None, introspecting
    con = connect(store, wanted={"select", "g_things", "things"})
    try:
        names = _names(con)
        assert ("main", "g_things") in names and ("silver", "things") in names
        assert ("history", "g_things") in names  # the history of a named table comes along
        assert not {n for n in names if n[0] == "catalog"}  # catalog not named: not copied
        assert ("history", "silver_things") not in names
    finally:
        con.close()
    con = connect(store, wanted={"catalog", "tables"})
    try:
        names = _names(con)
        assert ("catalog", "tables") in names and ("catalog", "history") in names
        assert ("main", "g_things") not in names
    finally:
        con.close()
    # through run_query: a query naming one table still sees it, and the catalog when named
    assert run_query(store, "SELECT count(*) FROM g_things").item() == 3
    assert run_query(store, "SELECT count(*) FROM catalog.tables").item() >= 4


def test_refusals_say_what_is_allowed_and_why():
    with pytest.raises(QueryRefused) as write:
        check_read_only("DELETE FROM t")
    assert str(write.value) == (
        "refused: DELETE statements are not allowed; the store is read-only "
        "(SELECT, and EXPLAIN of a SELECT, only)"
    )
    with pytest.raises(QueryRefused) as explained:
        check_read_only("EXPLAIN ANALYZE DELETE FROM t")
    assert str(explained.value) == (
        "refused: EXPLAIN of DELETE statements is not allowed (EXPLAIN ANALYZE runs what it "
        "explains); only a SELECT may be explained"
    )
    with pytest.raises(QueryRefused) as invalid:
        check_read_only("SELEC 1")
    assert str(invalid.value).startswith("not valid SQL: Parser Error: ")

"""Read-only access for people and BI tools: SQL, table lookup, lineage, quarantine.

Nothing a user types is pasted into SQL: table names are matched against the catalog, SQL is
accepted only as a single SELECT (or EXPLAIN of a SELECT), and `--where` filters are parsed by
polars into expressions (no SQL engine sees them).

The statement check is the first line of defence; the second does not depend on it. A user's
SQL runs in an in-memory DuckDB database that has no file attached and no file access at all
(`enable_external_access = false` with nothing allowed, no spill directory, configuration
locked). The tables behind the views are handed to it by JobForge as Arrow datasets, opened
read-only from absolute paths resolved inside the data root; the catalog tables are copied in
from the store, attached read-only and detached before the user's SQL runs. So even a statement
that fooled the check (`EXPLAIN ANALYZE COPY ... TO ...`) can neither write nor read a file,
and whatever it changes in memory is gone when the connection closes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import JobForgeError
from jobforge_core.common.fence import inside, under_root
from jobforge_core.common.settings import DEFAULT_QUERY_MEMORY_LIMIT, DEFAULT_QUERY_TIMEOUT_S
from jobforge_core.common.table_names import (
    HISTORY_SCHEMA,
    QUARANTINE_SCHEMA,
    history_view_name,
    is_identifier,
    split_name,
)

T = TypeVar("T")

# Imported where a function needs them, so each command loads only its own: `jobforge query`
# starts without polars and the catalog models, `lineage` and `quarantine` without DuckDB
# (bench/cli_startup.py).
if TYPE_CHECKING:
    import duckdb
    import polars as pl

    from jobforge_core.common.models import LayerTransitionLog, TableMetadata

CATALOG_SCHEMA = "catalog"
STORE_ALIAS = "jobforge_store"
# Result types polars cannot import from Arrow: shown as DuckDB renders them (text).
_AS_TEXT = re.compile(r"\b(UNION|INTERVAL|BIT|BIGNUM|VARINT|VARIANT|GEOMETRY)\b")
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|[KMGT]i?B)\s*$", re.IGNORECASE)


class QueryRefused(JobForgeError):
    """A statement or identifier that JobForge will not run."""


class QueryLimitExceeded(QueryRefused):
    """A query stopped at its time or memory limit."""


def one_line(text: object, limit: int = 300) -> str:
    """The first non-empty line of an error, shortened: a refusal is one line on stderr."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    first = lines[0] if lines else type(text).__name__
    return first if len(first) <= limit else first[: limit - 3] + "..."


# The engine's own help, kept on the one line of a refusal: DuckDB puts it on a line of its
# own after the error (`Did you mean "dim_noc"?`, `Candidate bindings: "noc_code"`).
_ENGINE_HINTS = ("did you mean", "candidate bindings")


def engine_error(exc: object, limit: int = 300) -> str:
    """A DuckDB error on one line: its first line and the hints it adds after it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    hints = [line for line in lines[1:] if line.lower().startswith(_ENGINE_HINTS)]
    first = one_line(exc, limit)
    return " ".join([first, *hints]) if hints else first


@dataclass(frozen=True)
class QueryLimits:
    """Per-query limits: wall time (seconds, 0 = none) and DuckDB memory (no spilling to disk)."""

    timeout_s: float = DEFAULT_QUERY_TIMEOUT_S
    memory_limit: str = DEFAULT_QUERY_MEMORY_LIMIT

    def __post_init__(self) -> None:
        if self.timeout_s < 0:
            raise QueryRefused(
                f"timeout must be 0 (no limit) or a number of seconds, got {self.timeout_s}"
            )
        if not _MEMORY.match(self.memory_limit):
            raise QueryRefused(
                f"memory limit {self.memory_limit!r} is not a size like 512MB or 2GiB"
            )


def _parse(sql: str) -> list[Any]:
    import duckdb

    try:
        return duckdb.extract_statements(sql)
    except Exception as exc:  # duckdb.ParserException, and ValueError for unmapped kinds
        raise QueryRefused(f"not valid SQL: {engine_error(exc)}") from exc


def _kind(statement: Any) -> str:
    """DuckDB's statement type; a kind the Python binding cannot name is simply not a SELECT."""
    try:
        return str(statement.type).rsplit(".", 1)[-1]
    except ValueError:  # e.g. UPDATE EXTENSIONS: "29 is not a valid StatementType"
        return "UNKNOWN"


def _explained(sql: str) -> str:
    """The statement an EXPLAIN [ANALYZE] [(options)] explains, cut from the original text."""
    import duckdb

    tokens = duckdb.tokenize(sql)
    ends = [pos for pos, _ in tokens[1:]] + [len(sql)]
    words = [
        (pos, sql[pos:end].strip().upper())
        for (pos, kind), end in zip(tokens, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]
    i = 1 if words and words[0][1] == "EXPLAIN" else len(words)
    depth = 0
    while i < len(words):
        word = words[i][1]
        if depth == 0 and word in {"ANALYZE", "ANALYSE"}:
            i += 1
        elif word == "(" and (depth or i == 1 or words[i - 1][1] in {"ANALYZE", "ANALYSE"}):
            depth += 1
            i += 1
        elif depth:
            depth -= word == ")"
            i += 1
        else:
            return sql[words[i][0] :]
    return ""


def check_read_only(sql: str) -> None:
    """One SELECT, or EXPLAIN [ANALYZE] of one SELECT; anything else is refused.

    EXPLAIN ANALYZE runs the statement it explains, so what it explains is checked like the
    statement itself.
    """
    statements = _parse(sql)
    if len(statements) != 1:
        raise QueryRefused(f"refused: one statement per query, got {len(statements)}")
    kind = _kind(statements[0])
    if kind == "SELECT":
        return
    if kind == "EXPLAIN":
        inner = _explained(statements[0].query)
        explained = _parse(inner) if inner.strip() else []
        inner_kind = _kind(explained[0]) if len(explained) == 1 else "this"
        if inner_kind == "SELECT":
            return
        raise QueryRefused(
            f"refused: EXPLAIN of {inner_kind} statements is not allowed (EXPLAIN ANALYZE runs "
            "what it explains); only a SELECT may be explained"
        )
    raise QueryRefused(
        f"refused: {kind} statements are not allowed; the store is read-only "
        "(SELECT, and EXPLAIN of a SELECT, only)"
    )


def _table_file(cfg: PipelineConfig, meta: TableMetadata) -> Path:
    """The parquet file behind a catalog entry, resolved from the data root inside it."""
    return under_root(cfg.data_root, meta.file_path, f"file of table {meta.table_name}:")


# Words that list or describe tables rather than naming them: such SQL gets every table.
_INTROSPECTION = re.compile(
    r"^(show|describe|summarize|information_schema|pg_catalog|duckdb_\w*|pragma\w*|pg_\w*"
    r"|sqlite_\w*)$"
)


def _mentioned(sql: str) -> set[str] | None:
    """Every identifier-like word of the SQL, lower-cased, strings and quoted names included,
    so a table named anywhere (even in `query_table('dim_noc')`) is opened; None when the SQL
    introspects. Opening a table costs a parquet footer read and a view: with hundreds of
    tables, opening only the named ones is most of `jobforge query`'s time."""
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", sql)}
    return None if any(_INTROSPECTION.match(w) for w in words) else words


def _load_store(
    con: duckdb.DuckDBPyConnection, cfg: PipelineConfig, wanted: set[str] | None = None
) -> None:
    """Copy the catalog tables in (store attached read-only, then detached), and put a view over
    read-only Arrow datasets of the files behind each table under the store's names: current
    tables (`dim_noc`, `silver.<source>`) and kept batches (`history.*`)."""
    store = inside(cfg.store_path(), [cfg.data_root], "store")
    con.execute(f"ATTACH ? AS {STORE_ALIAS} (READ_ONLY)", [str(store)])
    catalog = f"{STORE_ALIAS}.{CATALOG_SCHEMA}"
    try:
        names = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                "AND schema_name = ? ORDER BY table_name",
                [STORE_ALIAS, CATALOG_SCHEMA],
            ).fetchall()
        ]
        views: dict[tuple[str, str], list[str]] = {}
        for table_name, layer, rel in con.execute(
            f"SELECT table_name, layer, file_path FROM {catalog}.tables"
        ).fetchall():
            schema = "main" if layer == Layer.GOLD.value else layer
            views[(schema, table_name.split(".")[-1])] = [rel]
        if "history" in names:
            for table_name, rel in con.execute(
                f"SELECT table_name, file_path FROM {catalog}.history ORDER BY written_at"
            ).fetchall():
                layer, table = split_name(table_name)
                views.setdefault((HISTORY_SCHEMA, history_view_name(layer, table)), []).append(rel)
        if "quarantine" in names:  # row quarantine of every batch: quarantine.<table>
            for layer, table_name, rel in con.execute(
                f"SELECT DISTINCT layer, table_name, file_path FROM {catalog}.quarantine "
                "ORDER BY file_path"
            ).fetchall():
                name = history_view_name(Layer(layer), table_name)
                views.setdefault((QUARANTINE_SCHEMA, name), []).append(rel)
        con.execute(f"CREATE SCHEMA {CATALOG_SCHEMA}")
        # The catalog tables are copied in when the SQL may read them (it names the schema,
        # or introspects); a plain query of gold tables skips the copies.
        for name in names if wanted is None or CATALOG_SCHEMA in wanted else []:
            if not is_identifier(name):
                raise QueryRefused(f"store {store}: unexpected catalog table name {name!r}")
            con.execute(
                f'CREATE TABLE {CATALOG_SCHEMA}."{name}" AS SELECT * FROM {catalog}."{name}"'
            )
    finally:
        con.execute(f"DETACH {STORE_ALIAS}")
    if wanted is not None:
        views = {key: rels for key, rels in views.items() if key[1].lower() in wanted}
    for schema in sorted({schema for schema, _ in views} - {"main"}):
        if not is_identifier(schema):
            raise QueryRefused(f"store {store}: unexpected schema {schema!r}")
        con.execute(f"CREATE SCHEMA {schema}")
    for i, ((schema, name), rels) in enumerate(views.items()):
        if not is_identifier(name):
            raise QueryRefused(f"store {store}: unexpected table name {name!r}")
        paths = [under_root(cfg.data_root, rel, f"file of table {schema}.{name}:") for rel in rels]
        paths = [path for path in paths if path.is_file()]  # listed but gone: not there
        scans = _register(con, f"_jobforge_scan_{i}_{schema}_{name}", paths)
        if scans:
            union = " UNION ALL BY NAME ".join(f'SELECT * FROM "{scan}"' for scan in scans)
            con.execute(f'CREATE VIEW {schema}."{name}" AS {union}')


def _register(con: duckdb.DuckDBPyConnection, prefix: str, paths: list[Path]) -> list[str]:
    """Hand parquet files to DuckDB as read-only Arrow datasets (DuckDB itself opens no file):
    one dataset when their schemas unify, else one per file, matched by name in the view."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    if not paths:
        return []
    parts = [ds.dataset(str(path), format="parquet") for path in paths]
    if len(parts) > 1:
        try:
            schema = pa.unify_schemas([p.schema for p in parts], promote_options="permissive")
            parts = [ds.dataset([str(p) for p in paths], format="parquet", schema=schema)]
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    names = [f"{prefix}_{j}" for j in range(len(parts))]
    for name, part in zip(names, parts, strict=True):
        con.register(name, part)
    return names


def _lock(con: duckdb.DuckDBPyConnection, limits: QueryLimits) -> None:
    """No spill directory, a memory limit, no file or network access, no extension loading;
    then freeze the configuration so SQL cannot undo any of it."""
    con.execute("SET temp_directory = ''")
    con.execute(f"SET memory_limit = '{limits.memory_limit.strip()}'")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET allow_community_extensions = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def connect(
    cfg: PipelineConfig, limits: QueryLimits | None = None, wanted: set[str] | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory connection holding the store's tables and views and nothing else: no file
    attached, no file system, configuration locked (see the module docstring).

    `wanted`: the lower-case names the SQL mentions (`_mentioned`); only the tables and views
    so named are opened, None opens all."""
    if not cfg.store_path().is_file():
        raise JobForgeError(
            f"no store at {cfg.store_path()}: run `jobforge run` (or the catalog flow) first"
        )
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        _load_store(con, cfg, wanted)
        _lock(con, limits or QueryLimits())
    except duckdb.Error as exc:
        con.close()
        raise QueryRefused(f"cannot open the store {cfg.store_path()}: {one_line(exc)}") from exc
    except BaseException:
        con.close()
        raise
    return con


def _textual(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """Types polars cannot import and Python prints poorly (INTERVAL, UNION, ...) as DuckDB's
    own text, so every output format shows them the same way."""
    types = [str(t) for t in relation.types]
    if not any(_AS_TEXT.search(t) for t in types):
        return relation
    exprs = []
    for name, t in zip(relation.columns, types, strict=True):
        quoted = '"' + name.replace('"', '""') + '"'
        exprs.append(f"CAST({quoted} AS VARCHAR) AS {quoted}" if _AS_TEXT.search(t) else quoted)
    return relation.project(", ".join(exprs))


def _result(relation: duckdb.DuckDBPyRelation) -> pl.DataFrame:
    import polars  # noqa: F401 (DuckDB needs it importable for .pl())

    return _textual(relation).pl()


def run_query(cfg: PipelineConfig, sql: str, limits: QueryLimits | None = None) -> pl.DataFrame:
    """Run one read-only statement within its time and memory limits, as a polars frame."""
    return _run(cfg, sql, limits, _result)


def query_rows(
    cfg: PipelineConfig, sql: str, limits: QueryLimits | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """The same as `run_query`, as column names and Python rows: what `jobforge query` prints,
    without importing polars (a fifth of the command's start time)."""

    def fetch(relation: duckdb.DuckDBPyRelation) -> tuple[list[str], list[dict[str, Any]]]:
        relation = _textual(relation)
        columns = list(relation.columns)
        return columns, [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]

    return _run(cfg, sql, limits, fetch)


def query_page(
    cfg: PipelineConfig, sql: str, limits: QueryLimits | None, max_rows: int
) -> tuple[list[str], list[dict[str, Any]], bool]:
    """At most `max_rows` rows, and whether there are more: what a person reads. Only
    `max_rows + 1` rows ever leave DuckDB (3M rows in table format took 3.9 GB before)."""

    def fetch(relation: duckdb.DuckDBPyRelation) -> tuple[list[str], list[dict[str, Any]], bool]:
        relation = _textual(relation)
        columns = list(relation.columns)
        rows = relation.limit(max_rows + 1).fetchall()
        page = [dict(zip(columns, row, strict=True)) for row in rows[:max_rows]]
        return columns, page, len(rows) > max_rows

    return _run(cfg, sql, limits, fetch)


STREAM_BATCH = 10_000


def stream_query(
    cfg: PipelineConfig,
    sql: str,
    limits: QueryLimits | None,
    write: Callable[[list[str], list[tuple]], bool],
) -> int:
    """Every row, handed to `write` a batch at a time while the time limit still runs: the
    limits cover fetching and writing, and memory stays one batch. `write` returns False to
    stop (the reader went away). Returns the row count written."""

    def fetch(relation: duckdb.DuckDBPyRelation) -> int:
        relation = _textual(relation)
        columns = list(relation.columns)
        write(columns, [])  # the header, even for no rows
        count = 0
        for batch in relation.fetch_arrow_reader(STREAM_BATCH):
            rows = list(zip(*(column.to_pylist() for column in batch.columns), strict=True))
            if not write(columns, rows):
                break
            count += len(rows)
        return count

    return _run(cfg, sql, limits, fetch)


def _run(
    cfg: PipelineConfig,
    sql: str,
    limits: QueryLimits | None,
    fetch: Callable[[duckdb.DuckDBPyRelation], T],
) -> T:
    import duckdb

    check_read_only(sql)
    limits = limits or QueryLimits()
    con = connect(cfg, limits, wanted=_mentioned(sql))
    timer = None
    if limits.timeout_s > 0:
        timer = threading.Timer(limits.timeout_s, con.interrupt)
        timer.daemon = True
        timer.start()
    try:
        relation = con.sql(sql)
        if relation is None:
            raise QueryRefused("refused: the statement returns no rows")
        return fetch(relation)
    except (duckdb.InterruptException, OSError) as exc:
        # an interrupt while streaming surfaces through Arrow's reader as an OSError
        if isinstance(exc, OSError) and "INTERRUPT" not in str(exc):
            raise
        raise QueryLimitExceeded(
            f"query stopped after {limits.timeout_s:g} s, its time limit; raise it with "
            "--timeout SECONDS or JOBFORGE_QUERY_TIMEOUT (0 = no limit)"
        ) from exc
    except duckdb.OutOfMemoryException as exc:
        raise QueryLimitExceeded(
            f"query needs more than its memory limit of {limits.memory_limit}; raise it with "
            "--memory-limit SIZE or JOBFORGE_QUERY_MEMORY_LIMIT"
        ) from exc
    except duckdb.PermissionException as exc:
        raise QueryRefused(
            "refused: SQL can read only the store's tables and views, no other file "
            f"({one_line(exc)})"
        ) from exc
    except duckdb.CatalogException as exc:
        raise QueryRefused(_catalog_error(cfg, sql, limits, exc)) from exc
    except duckdb.Error as exc:
        raise QueryRefused(engine_error(exc)) from exc
    finally:
        if timer is not None:
            timer.cancel()
        con.close()


def _catalog_error(cfg: PipelineConfig, sql: str, limits: QueryLimits, exc: duckdb.Error) -> str:
    """An unknown table, said with DuckDB's own suggestion among every table of the store:
    the connection that failed opened only the tables the SQL names, so its suggestion was
    drawn from those (`Did you mean "duckdb_indexes"?` for a mistyped `dim_nco`)."""
    import duckdb

    every = connect(cfg, limits, wanted=None)
    try:
        every.sql(sql)
    except duckdb.Error as again:
        return engine_error(again)
    finally:
        every.close()
    return engine_error(exc)


def resolve_table(cfg: PipelineConfig, name: str) -> TableMetadata:
    """The catalog entry for a user-typed table name, or a clear refusal."""
    from jobforge_core.catalog.entries import catalog_tables

    tables = catalog_tables(cfg)
    if not is_identifier(name) or name not in tables:
        gold = sorted(n for n, m in tables.items() if m.layer is Layer.GOLD)
        raise QueryRefused(f"unknown table {name!r}; gold tables: {', '.join(gold) or '(none)'}")
    return tables[name]


def _source_of(cfg: PipelineConfig, meta: TableMetadata) -> str:
    if meta.layer is not Layer.GOLD:
        return split_name(meta.table_name)[1]
    schema = json.loads((cfg.catalog_schemas_path() / "model.json").read_text(encoding="utf-8"))
    return schema["tables"][meta.table_name]["source"]


def _batch_of(cfg: PipelineConfig, meta: TableMetadata) -> str | None:
    """The batch of the table's first row, read with pyarrow (no polars import for a lookup)."""
    import pyarrow.parquet as pq

    from jobforge_core.common.models import ProvenanceColumns

    batch_column = ProvenanceColumns.COLUMN_NAMES[3]  # _batch_id, named without polars
    parquet = pq.ParquetFile(_table_file(cfg, meta))
    for group in range(parquet.num_row_groups):
        column = parquet.read_row_group(group, columns=[batch_column]).column(0)
        if len(column):
            return str(column[0].as_py())
    return None


def lineage_chain(
    cfg: PipelineConfig, name: str, *, restores: bool = False
) -> list[LayerTransitionLog]:
    """source file -> ... -> this table: the latest successful transition of each layer for the
    batch the table holds now. A `restore` moved a kept file back and built nothing: the chain
    is the batch's own transitions (its source file and SHA-256, not the history file), a
    restore only where a layer has none. `restores`: the restore transitions instead."""
    meta = resolve_table(cfg, name)
    source, batch = _source_of(cfg, meta), _batch_of(cfg, meta)
    order = list(Layer)[: list(Layer).index(meta.layer) + 1]
    from jobforge_core.common.models import TransitionStatus
    from jobforge_core.history.transition_logs import read_logs

    latest: dict[tuple[bool, Layer], LayerTransitionLog] = {}
    for log in read_logs(cfg):
        if log.source_name != source or log.batch_id != batch:
            continue
        if log.status is TransitionStatus.FAILED or log.target_layer not in order:
            continue
        key = (log.source_layer == "restore", log.target_layer)
        held = latest.get(key)
        if held is None or (log.completed_at and held.completed_at < log.completed_at):
            latest[key] = log
    if restores:
        return [latest[(True, layer)] for layer in order if (True, layer) in latest]
    own = [latest.get((False, layer)) or latest.get((True, layer)) for layer in order]
    return [log for log in own if log is not None]


def row_lineage(
    cfg: PipelineConfig, name: str, where: str, limit: int = 20
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Matching rows of the table, and the staged (original) records they came from."""
    import polars as pl

    from jobforge_core.common.provenance import BATCH_ID, SOURCE_ROW

    meta = resolve_table(cfg, name)
    from jobforge_core.common.sql_expression import NotAnExpression, check_expression

    try:
        check_expression(where, "--where")
    except NotAnExpression as exc:
        raise QueryRefused(str(exc)) from None
    try:
        predicate = pl.sql_expr(where)
    except Exception as exc:  # polars raises several types for bad SQL
        reason = re.split(r": [A-Z][A-Za-z]*\(", one_line(exc, 1000))[0]  # no parser dump
        raise QueryRefused(f"--where {where!r} is not a filter expression: {reason}") from exc
    table = pl.scan_parquet(_table_file(cfg, meta))
    try:
        rows = table.filter(predicate).head(limit).collect()
    except (pl.exceptions.ColumnNotFoundError, pl.exceptions.PolarsError) as exc:
        columns = [c.name for c in meta.columns]
        # polars lists the valid columns itself (as a Python list): said once, ours
        reason = re.split(r"; valid columns: ", one_line(exc, 1000))[0]
        raise QueryRefused(
            f"--where {where!r} does not apply to {name}: {reason}; columns: {', '.join(columns)}"
        ) from exc
    source = _source_of(cfg, meta)
    staged_path = cfg.table_path(Layer.STAGED, source)
    # Batch ids are stored as one-value Enums (provenance.constant): joined as text.
    keys = rows.select(SOURCE_ROW, pl.col(BATCH_ID).cast(pl.String)).unique()
    staged = (
        pl.scan_parquet(staged_path)
        .with_columns(pl.col(BATCH_ID).cast(pl.String))
        .join(keys.lazy(), on=[SOURCE_ROW, BATCH_ID], how="semi")
        .sort(SOURCE_ROW)
        .collect()
        if len(keys) and staged_path.is_file()
        else pl.DataFrame()
    )
    return rows, staged


def quarantine_report(
    cfg: PipelineConfig, name: str | None = None, sample: int = 5
) -> list[dict[str, Any]]:
    """Per quarantined table and reason: the row count and a few rows.

    `name` is a gold table, `<layer>.<source>`, or a source name (its rows in every layer).
    """
    import polars as pl

    from jobforge_core.catalog.quarantine_index import quarantine_files

    files = quarantine_files(cfg)
    wanted: tuple[Layer, str] | None = None
    if name is not None:
        if not is_identifier(name):
            raise QueryRefused(f"not a table name: {name!r}")
        from jobforge_core.catalog.entries import catalog_tables

        tables = catalog_tables(cfg)
        known = set(tables) | {
            table if layer is Layer.GOLD else f"{layer.value}.{table}"
            for layer, table, _, _ in files
        }
        sources = {n.split(".", 1)[1] for n in known if "." in n}
        if name not in known and name not in sources:
            gold = sorted(n for n in known if "." not in n)
            raise QueryRefused(
                f"unknown table {name!r}; use a gold table ({', '.join(gold) or 'none'}), "
                "<layer>.<source> with layer staged, bronze or silver, or a source name"
            )
        if name not in sources:
            wanted = split_name(name)
    report = []
    for layer, table, batch, rel in files:
        if wanted and (layer, table) != wanted:
            continue
        if name and not wanted and table != name:
            continue
        frame = pl.read_parquet(under_root(cfg.data_root, rel, "quarantine file"))
        for (reason,), rows in frame.group_by("_quarantine_reason", maintain_order=True):
            report.append(
                {
                    "table": table if layer is Layer.GOLD else f"{layer.value}.{table}",
                    "batch_id": batch,
                    "reason": reason,
                    "rows": len(rows),
                    "file": rel,
                    "sample": rows.head(sample),
                }
            )
    return report


def file_quarantine(cfg: PipelineConfig) -> list[dict[str, Any]]:
    base = cfg.quarantine_path() / "files"
    return [
        json.loads(inside(p, [base], "file quarantine report").read_text(encoding="utf-8"))
        | {"dir": str(p.parent)}
        for p in sorted(base.glob("*/error.json"))
    ]

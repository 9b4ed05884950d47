"""`query`, `catalog`, `lineage`, `quarantine`: read what runs built, as `Result`s.

No Prefect here (start time: these commands answer in well under a second); polars and
DuckDB are imported by the functions that need them.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

from flows.render import jobforge_command
from flows.results import NothingBuilt, Result, Section, UsageError
from jobforge_core.common.config import PipelineConfig


def missing_root(root: Path) -> str:
    """Why a data root cannot be read: absent, or a file where a directory should be."""
    what = "is not a directory" if root.exists() else "does not exist"
    return f"data root {root} {what} (--data-root or $JOBFORGE_DATA_ROOT)"


def config(data_root: str | None, quarantine_is_enough: bool = False) -> PipelineConfig:
    """The data root of a read command: it must exist and hold a built catalog (or, for
    `quarantine`, a quarantine: a first run whose every file was refused has one)."""
    cfg = PipelineConfig.from_settings(data_root=Path(data_root) if data_root else None)
    root = cfg.data_root
    if not root.is_dir():
        raise UsageError(missing_root(root))
    built = cfg.catalog_tables_path()
    quarantined = quarantine_is_enough and any(cfg.quarantine_path().rglob("*.*"))
    if not (built.is_dir() and any(built.glob("*.json"))) and not quarantined:
        raise NothingBuilt(
            f"nothing has been built yet in {root}: run "
            f"`{jobforge_command()} run --data-root {root}` first"
        )
    return cfg


def did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def catalog_tables(cfg: PipelineConfig) -> dict[str, Any]:
    """Imported on use: `query` needs none of the catalog models (bench/cli_startup.py)."""
    from jobforge_core.catalog.entries import catalog_tables as entries

    return entries(cfg)


def _check_table(cfg: PipelineConfig, name: str) -> None:
    """A clear refusal with a suggestion; `jobforge_core.query.sql` checks again on its own."""
    tables = catalog_tables(cfg)
    if name not in tables:
        gold = sorted(n for n, m in tables.items() if m.layer.value == "gold")
        raise UsageError(
            f"unknown table {name!r}{did_you_mean(name, sorted(tables))} "
            f"(gold tables: {', '.join(gold) or 'none'})"
        )


def _records(frame: Any) -> list[dict[str, Any]]:
    return frame.to_dicts()


DEFAULT_MAX_ROWS = 1000


def query(
    data_root: str | None,
    sql: str,
    timeout_s: float | None = None,
    memory_limit: str | None = None,
    fmt: str = "table",
    max_rows: int | None = None,
) -> Result:
    """A table for people shows at most `max_rows` rows and says when there are more; csv
    and json stream every row to stdout as DuckDB hands them over, under the same limits."""
    from jobforge_core.common.settings import load_settings
    from jobforge_core.query.sql import QueryLimits, query_page

    settings = load_settings()
    limits = QueryLimits(
        timeout_s=settings.query_timeout_s if timeout_s is None else timeout_s,
        memory_limit=memory_limit or settings.query_memory_limit,
    )
    if max_rows is not None and max_rows < 1:
        raise UsageError(f"--max-rows must be 1 or more, got {max_rows}")
    cfg = config(data_root)
    if fmt in ("csv", "json"):
        return _stream(cfg, sql, limits, fmt)
    cap = max_rows or DEFAULT_MAX_ROWS
    columns, rows, more = query_page(cfg, sql, limits, cap)
    section = Section("rows", rows, columns=columns, max_width=60)
    notes = [f"{len(rows)} row(s)"]
    if more:
        notes = [
            f"first {cap} row(s) shown; the result has more: add LIMIT, raise --max-rows, "
            "or --format csv for every row"
        ]
    return Result([section], notes=notes)


def _stream(cfg: PipelineConfig, sql: str, limits: Any, fmt: str) -> Result:
    import csv
    import json

    from flows.render import _csv_cell, _plain, drop_stdout
    from jobforge_core.query.sql import stream_query

    out = sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    state = {"rows": 0, "gone": False}

    def write(columns: list[str], batch: list[tuple]) -> bool:
        if state["gone"]:
            return False
        try:
            if fmt == "csv":
                if not batch:
                    writer.writerow(columns)
                writer.writerows([_csv_cell(v) for v in row] for row in batch)
            else:
                for row in batch:
                    record = dict(zip(columns, row, strict=True))
                    text = json.dumps(_plain(record), ensure_ascii=False, allow_nan=False)
                    out.write(("[\n  " if state["rows"] == 0 else ",\n  ") + text)
                    state["rows"] += 1
            out.flush()
        except BrokenPipeError:  # the reader stopped (`| head`): quietly, as elsewhere
            drop_stdout()
            state["gone"] = True
        return not state["gone"]

    count = stream_query(cfg, sql, limits, write)
    if fmt == "json" and not state["gone"]:
        try:
            out.write("[]\n" if count == 0 else "\n]\n")
            out.flush()
        except BrokenPipeError:
            drop_stdout()
    return Result([], notes=[f"{count} row(s)"], printed=True)


def catalog(data_root: str | None, table: str | None) -> Result:
    cfg = config(data_root)
    if table is None:
        metas = sorted(
            catalog_tables(cfg).values(), key=lambda m: (m.layer != "gold", m.table_name)
        )
        rows = [
            {
                "table": m.table_name,
                "layer": m.layer.value,
                "rows": m.row_count,
                "columns": m.column_count,
                "description": m.description,
            }
            for m in metas
        ]
        notes = [f"one table in full: {jobforge_command()} catalog TABLE"]
        return Result([Section("tables", rows, max_width=70)], notes=notes)
    _check_table(cfg, table)
    meta = catalog_tables(cfg)[table]
    whole = meta.model_dump(mode="json")
    fields = {k: v for k, v in whole.items() if k != "columns"}
    columns = [
        {
            "column": c.name,
            "type": c.data_type,
            "nullable": c.nullable,
            "glossary": c.glossary_term_id,
            "examples": c.example_values,
            "description": c.description,
            "source_columns": c.source_columns,
        }
        for c in meta.columns
    ]
    view = ["column", "type", "nullable", "glossary", "examples", "description"]
    people = ("table", "csv")
    return Result(
        [
            # json: the catalog entry itself (a TableMetadata document)
            Section("table", [whole], kind="fields", formats=("json",)),
            Section("table", [fields], kind="fields", max_width=None, formats=people),
            Section(
                "columns", columns, title="columns", columns=view, max_width=40, formats=people
            ),
        ]
    )


def lineage(data_root: str | None, table: str, where: str | None, limit: int) -> Result:
    from jobforge_core.query.sql import lineage_chain

    if limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    cfg = config(data_root)
    _check_table(cfg, table)
    if where is not None:
        return _row_lineage(cfg, table, where, limit)
    chain = lineage_chain(cfg, table)
    if not chain:
        raise NothingBuilt(f"no transition logs for {table} in {cfg.data_root}")
    first = chain[0]
    rows = []
    for log in chain:
        gold = log.target_layer.value == "gold"
        outputs = log.rows_by_table if gold else {}
        rows.append(
            {
                "transition": f"{log.source_layer} -> {log.target_layer.value}",
                "transition_id": log.transition_id,
                "rows_in": log.row_count_in,
                # A gold step may write several tables: this table's own count, and each
                # table of the step under `outputs`.
                "rows_out": outputs.get(table, log.row_count_out) if gold else log.row_count_out,
                "quarantined": log.row_count_quarantined,
                "status": log.status.value,
                "outputs": outputs,
                "started": log.started_at.isoformat(timespec="seconds"),
                "completed": log.completed_at.isoformat(timespec="seconds")
                if log.completed_at
                else None,
            }
        )
    from jobforge_core.query.sql import resolve_table

    header = {
        "table": table,
        "file": resolve_table(cfg, table).file_path,
        "source_file": first.source_files[0] if first.source_files else None,
        "sha256": first.source_sha256,
        "batch": first.batch_id,
    }
    restored = lineage_chain(cfg, table, restores=True)
    last = chain[-1].completed_at
    if restored and restored[-1].completed_at and (not last or restored[-1].completed_at >= last):
        header["restored_at"] = restored[-1].completed_at.isoformat(timespec="seconds")
    return Result(
        [
            Section.fields("lineage", header),
            Section("transitions", rows, title="transitions", max_width=None),
        ]
    )


def _row_lineage(cfg: PipelineConfig, table: str, where: str, limit: int) -> Result:
    import polars as pl

    from jobforge_core.query.sql import resolve_table, row_lineage

    rows, staged = row_lineage(cfg, table, where, limit)
    # row_lineage has validated the expression against the table; count every match.
    path = cfg.data_root / resolve_table(cfg, table).file_path
    matched = pl.scan_parquet(path).filter(pl.sql_expr(where)).select(pl.len()).collect().item()
    header = {"table": table, "where": where, "matched": matched, "shown": len(rows)}
    notes = [f"{matched} row(s) of {table} match; showing {len(rows)}"]
    if matched > len(rows):
        notes[0] += " (--limit N shows more)"
    return Result(
        [
            Section.fields("match", header),
            Section("rows", _records(rows), title=f"rows of {table}", columns=rows.columns),
            Section(
                "source_records",
                _records(staged),
                title="from these source records (staged layer, original values as text)",
                columns=staged.columns,
            ),
        ],
        notes=notes,
    )


def quarantine(data_root: str | None, table: str | None, sample: int) -> Result:
    from jobforge_core.query.sql import file_quarantine, quarantine_report

    if sample < 0:
        raise UsageError(f"--sample must be 0 or more, got {sample}")
    from jobforge_core.query.sql import QueryRefused

    cfg = config(data_root, quarantine_is_enough=True)
    files = file_quarantine(cfg)
    if table:  # the files of the table's source: a whole batch refused never reached a table
        source = _source_of_name(cfg, table)
        files = [f for f in files if f.get("source") == source]
    try:
        entries = quarantine_report(cfg, table, sample)
    except QueryRefused:
        if not files:  # a source whose every file was refused has no table, only its files
            raise
        entries = []
    groups = []
    samples = []
    for entry in entries:
        rows = _records(entry["sample"])
        groups.append({k: v for k, v in entry.items() if k != "sample"} | {"sample": rows})
        title = f"{entry['table']}  reason={entry['reason']}  rows={entry['rows']}"
        samples.append(Section("sample", rows, title=title, max_width=40, formats=("table",)))
    view = ["table", "reason", "rows", "batch_id", "file"]
    sections = [Section("groups", groups, title="rows in quarantine", columns=view)]
    sections += samples
    file_view = ["source", "layer", "message", "dir"]
    sections.append(
        Section("files", files, title="files in quarantine", columns=file_view, max_width=None)
    )
    notes = []
    if not groups:
        notes.append("no rows in quarantine" + (f" for {table}" if table else ""))
    if not files:
        notes.append("no files in quarantine" + (f" for {table}'s source" if table else ""))
    return Result(sections, notes=notes)


def _source_of_name(cfg: PipelineConfig, name: str) -> str:
    """The source behind a name `quarantine` accepts: `layer.source`, a gold table (the
    model's source), or a source name itself."""
    import json

    if "." in name:
        return name.split(".", 1)[1]
    model = cfg.catalog_schemas_path() / "model.json"
    try:
        tables = json.loads(model.read_text(encoding="utf-8"))["tables"]
        return str(tables[name]["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return name

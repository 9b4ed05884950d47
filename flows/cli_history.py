"""`history`, `diff`, `restore`: a table's batches over time, as `Result`s.

No Prefect here: these read (or, for `restore`, move) files under the data root and rebuild
the store with the core's own functions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flows.results import Result, Section, UsageError

COMMANDS = ("history", "diff", "restore")


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    history = sub.add_parser(
        "history",
        parents=[common],
        help="the batches of a table, newest first",
        description="Every batch that wrote the table: when, from which file (SHA-256), rows, "
        "rows quarantined by rule, schema changes, flow run, and whether it is still kept.",
    )
    history.add_argument("table", help="a table name (fact_cops_employment, silver.noc_structure)")

    diff = sub.add_parser(
        "diff",
        parents=[common],
        help="rows added, removed and changed between two batches of a table",
        description="Compare two kept batches of a table by its grain key (default: the "
        "previous batch and the current one).",
    )
    diff.add_argument("table", help="a table name, e.g. fact_cops_employment")
    diff.add_argument("--from", dest="from_batch", metavar="BATCH", help="older batch id")
    diff.add_argument("--to", dest="to_batch", metavar="BATCH", help="newer batch id")
    diff.add_argument(
        "--key",
        action="append",
        metavar="COLUMN",
        help="key column (repeatable); default: the gold table's declared grain",
    )
    diff.add_argument(
        "--sample", type=int, default=5, metavar="N", help="sample rows of each kind (default 5)"
    )

    restore = sub.add_parser(
        "restore",
        parents=[common],
        help="put every layer table of a source back to a kept batch",
        description="Every layer table of the source back to BATCH, atomically per table, "
        "logged as a transition; the next plain run reprocesses the source file.",
    )
    restore.add_argument("source", help="a source name, e.g. cops_employment")
    restore.add_argument("--batch", required=True, metavar="BATCH", help="the batch to restore")
    restore.add_argument(
        "--specs", action="append", metavar="DIR", help="extra or overriding spec directories"
    )


def dispatch(args: argparse.Namespace) -> Result:
    if args.command == "history":
        return history(args.data_root, args.table)
    if args.command == "diff":
        return diff(
            args.data_root, args.table, args.from_batch, args.to_batch, args.key, args.sample
        )
    if args.command == "restore":
        return restore(args.data_root, args.source, args.batch, args.specs)
    raise AssertionError(args.command)


def history(data_root: str | None, table: str) -> Result:
    from flows.cli_read import config
    from jobforge_core.run.audit import table_history

    cfg = config(data_root)
    rows = table_history(cfg, table)
    view = [
        "batch_id",
        "status",
        "ingested_at",
        "rows",
        "quarantined",
        "schema_changes",
        "source_file",
        "source_sha256",
        "flow_run_id",
    ]
    notes = [f"{len(rows)} batch(es) of {table}; compare two: jobforge diff {table}"]
    return Result([Section("batches", rows, columns=view, max_width=40)], notes=notes)


def diff(
    data_root: str | None,
    table: str,
    from_batch: str | None,
    to_batch: str | None,
    key: list[str] | None,
    sample: int,
) -> Result:
    from flows.cli_read import config
    from jobforge_core.run.audit import diff_table

    if sample < 0:
        raise UsageError(f"--sample must be 0 or more, got {sample}")
    cfg = config(data_root)
    d = diff_table(cfg, table, from_batch, to_batch, key, sample)
    summary = {
        "table": table,
        "key": d.key,
        "from_batch": d.from_batch,
        "to_batch": d.to_batch,
        "rows_from": d.rows_from,
        "rows_to": d.rows_to,
        "added": d.added,
        "removed": d.removed,
        "changed": d.changed,
        "unchanged": d.unchanged,
        "columns_added": d.columns_added,
        "columns_removed": d.columns_removed,
    }
    by_column = [{"column": c, "rows_changed": n} for c, n in d.changes_by_column.items()]
    return Result(
        [
            Section.fields("diff", summary),
            Section("changes_by_column", by_column, title="rows changed per column"),
            Section("added", d.sample_added, title="sample of added rows", max_width=40),
            Section("removed", d.sample_removed, title="sample of removed rows", max_width=40),
            Section("changed", d.sample_changed, title="sample of changed values", max_width=40),
        ],
        notes=[
            f"{d.added} added, {d.removed} removed, {d.changed} changed, "
            f"{d.unchanged} unchanged (by {', '.join(d.key)})"
        ],
    )


def restore(data_root: str | None, source: str, batch: str, spec_dirs: list[str] | None) -> Result:
    from flows.cli_read import config
    from jobforge_core.common.settings import load_settings
    from jobforge_core.run.audit import restore_source
    from jobforge_core.site.refresh import refresh_catalog
    from jobforge_core.sources.spec import load_specs

    cfg = config(data_root)
    specs = load_specs([*load_settings().spec_dirs, *(Path(d) for d in spec_dirs or [])])
    if source not in specs:
        raise UsageError(f"unknown source {source!r}; declared: {', '.join(sorted(specs))}")
    logs = restore_source(cfg, specs[source], batch)
    refresh_catalog(cfg, specs)
    rows = [
        {
            "layer": log.target_layer.value,
            "tables": [Path(t).stem for t in log.target_files],
            "rows": log.row_count_out,
            "replaced": log.replaced_batches,
            "transition_id": log.transition_id,
        }
        for log in logs
    ]
    return Result(
        [Section("restored", rows, title=f"{source} restored to {batch}", max_width=None)],
        notes=[f"{source} is at batch {batch}; the next `jobforge run` reprocesses its file"],
    )

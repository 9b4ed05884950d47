"""`jobforge` command line: run the pipeline locally, query the store, inspect the catalog."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

# Prefect's embedded server needs more than the default 20 s on a cold 2-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    line = "  ".join(c.ljust(widths[c]) for c in columns)
    out = [line, "  ".join("-" * widths[c] for c in columns)]
    out += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(out)


def print_run_summary(result: dict[str, Any]) -> None:
    rows = []
    for s in result["sources"]:
        rows.append(
            {
                "source": s["source"],
                "status": s["status"],
                **{layer: s["rows"].get(layer, "") for layer in ("staged", "bronze", "silver")},
                "gold": s["rows"].get("gold", ""),
                "quarantined": s["quarantined"] or "",
                "batch": s["batch_id"],
            }
        )
    columns = ["source", "status", "staged", "bronze", "silver", "gold", "quarantined", "batch"]
    print(_table(rows, columns))
    for s in result["sources"]:
        if s["error"]:
            print(f"\nFAILED {s['source']}: {s['error']}", file=sys.stderr)
        for reason, n in s["reasons"].items():
            print(f"  {s['source']}: {n} row(s) {reason}")
    for problem in result.get("problems", []):
        print(f"\nFAILED {problem}", file=sys.stderr)
    print(f"\ndata root: {result['data_root']}")


def cmd_run(args: argparse.Namespace) -> int:
    from flows.adhoc import foreground_run
    from flows.pipeline import jobforge_flow
    from flows.runners import make_task_runner

    flow = jobforge_flow
    if args.runner != "default":
        flow = jobforge_flow.with_options(
            task_runner=make_task_runner(args.runner, args.dask_address)
        )
    with foreground_run():
        state = flow(
            sources=args.source or None,
            data_root=args.data_root,
            source_dir=args.source_dir,
            spec_dirs=args.specs or None,
            force=args.force,
            return_state=True,
        )
    result = state.result(raise_on_failure=False)
    if not isinstance(result, dict):
        print(f"jobforge run failed: {state.message}", file=sys.stderr)
        return 2
    print_run_summary(result)
    return 0 if state.is_completed() else 1


def _cfg(args: argparse.Namespace):
    from jobforge_core.config import PipelineConfig

    return PipelineConfig.from_settings(data_root=Path(args.data_root) if args.data_root else None)


def _frame_out(frame: pl.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return frame.write_csv()
    if fmt == "json":
        return json.dumps(frame.to_dicts(), default=str, ensure_ascii=False, indent=2)
    with pl.Config(
        tbl_rows=200,
        tbl_cols=30,
        fmt_str_lengths=40,
        tbl_width_chars=240,
        tbl_hide_dataframe_shape=True,
    ):
        return str(frame)


def cmd_query(args: argparse.Namespace) -> int:
    from jobforge_core.query import run_query

    print(_frame_out(run_query(_cfg(args), args.sql), args.format))
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from jobforge_core.query import catalog_tables, resolve_table

    cfg = _cfg(args)
    if args.table:
        meta = resolve_table(cfg, args.table)
        if args.format == "json":
            print(meta.model_dump_json(indent=2))
            return 0
        fields = meta.model_dump(mode="json", exclude={"columns"})
        print("\n".join(f"{k:>18}: {v}" for k, v in fields.items()))
        columns = [
            {
                "column": c.name,
                "type": c.data_type,
                "nullable": c.nullable,
                "glossary": c.glossary_term_id or "",
                "examples": ", ".join(v[:24] for v in c.example_values)[:60],
                "description": c.description,
            }
            for c in meta.columns
        ]
        print()
        print(_table(columns, list(columns[0]) if columns else []))
        return 0
    rows = [
        {
            "table": m.table_name,
            "layer": m.layer.value,
            "rows": m.row_count,
            "columns": m.column_count,
            "description": m.description,
        }
        for m in sorted(
            catalog_tables(cfg).values(), key=lambda m: (m.layer != "gold", m.table_name)
        )
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print(_table(rows, ["table", "layer", "rows", "columns", "description"]))
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    from jobforge_core.query import lineage_chain, resolve_table, row_lineage

    cfg = _cfg(args)
    if args.where:
        rows, staged = row_lineage(cfg, args.table, args.where, args.limit)
        print(f"{len(rows)} row(s) of {args.table} where {args.where}:")
        print(_frame_out(rows, args.format))
        print("\nfrom these source records (staged layer, original values as text):")
        print(_frame_out(staged, args.format))
        return 0
    chain = lineage_chain(cfg, args.table)
    if not chain:
        print(f"no transition logs for {args.table}", file=sys.stderr)
        return 1
    first = chain[0]
    print(f"source file: {first.source_files[0]}")
    print(f"sha256:      {first.source_sha256}")
    print(f"batch:       {first.batch_id}")
    rows = [
        {
            "transition": f"{log.source_layer} -> {log.target_layer.value}",
            "transition_id": log.transition_id,
            "rows_in": log.row_count_in,
            "rows_out": log.row_count_out,
            "quarantined": log.row_count_quarantined,
            "status": log.status.value,
            "started": log.started_at.isoformat(timespec="seconds"),
            "completed": log.completed_at.isoformat(timespec="seconds") if log.completed_at else "",
        }
        for log in chain
    ]
    print(_table(rows, list(rows[0])))
    print(f"table:       {args.table} ({resolve_table(cfg, args.table).file_path})")
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    from jobforge_core.query import file_quarantine, quarantine_report

    cfg = _cfg(args)
    entries = quarantine_report(cfg, args.table, args.sample)
    if not entries:
        print("no rows in quarantine" + (f" for {args.table}" if args.table else ""))
    for e in entries:
        print(f"\n{e['table']}  reason={e['reason']}  rows={e['rows']}  batch={e['batch_id']}")
        print(f"  file: {e['file']}")
        print(_frame_out(e["sample"], args.format))
    if not args.table:
        for f in file_quarantine(cfg):
            print(f"\nFILE {f['source']} ({f['layer']}): {f['message']}\n  copy in {f['dir']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobforge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline on the declared sources (local Prefect)")
    run.add_argument("--data-root", help="data root (default $JOBFORGE_DATA_ROOT or ./data)")
    run.add_argument("--source-dir", help="where source files are (default <data-root>/source)")
    run.add_argument("--specs", action="append", metavar="DIR", help="extra/overriding specs")
    run.add_argument("--source", action="append", metavar="NAME", help="run only this source")
    run.add_argument("--force", action="store_true", help="reprocess unchanged sources")
    run.add_argument(
        "--runner",
        choices=["default", "thread", "dask"],
        default="default",
        help="task runner (default: $JOBFORGE_TASK_RUNNER or thread); dask needs the [dask] extra",
    )
    run.add_argument("--dask-address", help="existing Dask scheduler (default: a local cluster)")
    run.set_defaults(func=cmd_run)

    def with_root(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data-root", help="data root (default $JOBFORGE_DATA_ROOT or ./data)")
        p.add_argument("--format", choices=["table", "csv", "json"], default="table")
        return p

    query = with_root(sub.add_parser("query", help="read-only SQL on gold views and catalog"))
    query.add_argument("sql")
    query.set_defaults(func=cmd_query)
    catalog = with_root(sub.add_parser("catalog", help="list tables, or show one in full"))
    catalog.add_argument("table", nargs="?")
    catalog.set_defaults(func=cmd_catalog)
    lineage = with_root(sub.add_parser("lineage", help="source file -> ... -> table"))
    lineage.add_argument("table")
    lineage.add_argument("--where", help="rows to trace, e.g. \"noc_code = '21232'\"")
    lineage.add_argument("--limit", type=int, default=20)
    lineage.set_defaults(func=cmd_lineage)
    quarantine = with_root(sub.add_parser("quarantine", help="quarantined rows and files"))
    quarantine.add_argument("table", nargs="?")
    quarantine.add_argument("--sample", type=int, default=5)
    quarantine.set_defaults(func=cmd_quarantine)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from jobforge_core.errors import JobForgeError

    try:
        return args.func(args)
    except JobForgeError as exc:
        print(f"jobforge: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

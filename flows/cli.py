"""`jobforge` command line: run the pipeline locally, query the store, inspect the catalog."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

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
    print(f"\ndata root: {result['data_root']}")


def cmd_run(args: argparse.Namespace) -> int:
    from flows.pipeline import jobforge_flow

    state = jobforge_flow(
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobforge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline on the declared sources (local Prefect)")
    run.add_argument("--data-root", help="data root (default $JOBFORGE_DATA_ROOT or ./data)")
    run.add_argument("--source-dir", help="where source files are (default <data-root>/source)")
    run.add_argument("--specs", action="append", metavar="DIR", help="extra/overriding specs")
    run.add_argument("--source", action="append", metavar="NAME", help="run only this source")
    run.add_argument("--force", action="store_true", help="reprocess unchanged sources")
    run.set_defaults(func=cmd_run)
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

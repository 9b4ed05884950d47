"""Child-process entry points: one measurement per fresh interpreter.

`python -m bench.measure flow ...` runs `jobforge_flow` (Prefect: embedded server, or the one
PREFECT_API_URL names); `python -m bench.measure core ...` runs the same sources through
`jobforge_core.run.pipeline.run_source` with no orchestrator, plus the catalog rebuild the flow also
does, so that flow minus core is the orchestration cost. Each writes a JSON of epoch
timestamps to --result; the parent reads peak RSS from the OS when the child exits.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

STARTED = time.time()


def _flow(args: argparse.Namespace) -> dict[str, Any]:
    from flows import jobforge_flow
    from flows.adhoc import foreground_run

    imported = time.time()
    with foreground_run():  # as `jobforge run` does
        state = jobforge_flow(
            sources=args.sources,
            data_root=str(args.data_root),
            source_dir=str(args.source_dir),
            spec_dirs=[str(args.spec_dir)],
            force=True,
            return_state=True,
        )
    done = time.time()
    return {
        "imported": imported,
        "flow_start": imported,
        "flow_end": done,
        "ok": bool(state.is_completed()),
        "state": state.name,
        "message": state.message,
    }


def _core(args: argparse.Namespace) -> dict[str, Any]:
    from jobforge_core.common.config import PipelineConfig
    from jobforge_core.run.pipeline import plan_sources, run_source
    from jobforge_core.site.refresh import refresh_catalog
    from jobforge_core.sources.spec import load_specs

    imported = time.time()
    cfg = PipelineConfig(data_root=args.data_root, source_dir=args.source_dir)
    specs = load_specs([args.spec_dir])
    plans = plan_sources(specs, cfg, args.sources, force=True)
    planned = time.time()
    for plan in plans.values():
        run_source(plan, cfg)
    ran = time.time()
    if args.catalog:
        refresh_catalog(cfg, specs)
    return {
        "imported": imported,
        "flow_start": imported,
        "planned": planned,
        "ran": ran,
        "flow_end": time.time(),
        "ok": True,
        "state": "Completed",
        "message": "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["flow", "core"])
    parser.add_argument("--sources", type=lambda s: s.split(","), required=True)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--source-dir", type=Path, required=True)
    parser.add_argument("--spec-dir", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--catalog", action="store_true", help="core: also rebuild the catalog")
    args = parser.parse_args(argv)
    result = (_flow if args.mode == "flow" else _core)(args)
    result["process_start"] = STARTED
    args.result.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

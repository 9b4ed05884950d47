"""Where JobForge's time and memory go, per layer, on the plain `run_source` path (no Prefect).

`python -m bench.profile --rows 10000000` generates the generic source (if absent), then runs
each layer with `run_transition`, printing wall time and peak RSS per layer. The peak is reset
before each layer (Linux: writing 5 to /proc/self/clear_refs resets VmHWM), so each figure is
that layer's own high-water mark. With --pyinstrument (pip install pyinstrument) the call tree
of the whole run is written beside the data, to see which polars call inside a layer costs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jobforge_core  # noqa: F401 - first, so polars starts with JobForge's settings, as in the CLI
from bench.generate import generate
from bench.machine import git_commit
from bench.specs import SOURCE_NAMES


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_layers(work: Path, rows: int, key: str) -> list[dict[str, object]]:
    from jobforge_core.common.config import Layer, PipelineConfig
    from jobforge_core.run.pipeline import plan_sources, run_transition
    from jobforge_core.sources.spec import load_specs

    source_dir, spec_dir = work / "source", work / "specs"
    if not (source_dir / "done").exists() or (source_dir / "done").read_text() != str(rows):
        generate(key, rows, source_dir, spec_dir)
        (source_dir / "done").write_text(str(rows))
    cfg = PipelineConfig(data_root=work / "data", source_dir=source_dir)
    started = time.perf_counter()
    plan = plan_sources(load_specs([spec_dir]), cfg, [SOURCE_NAMES[key]], force=True)
    report = [{"step": "plan (load specs, sha256 of the file)", "seconds": 0.0}]
    report[0]["seconds"] = time.perf_counter() - started
    for layer in Layer:
        _reset_peak()
        t0 = time.perf_counter()
        log = run_transition(plan[SOURCE_NAMES[key]], cfg, layer)
        report.append(
            {
                "step": layer.value,
                "seconds": time.perf_counter() - t0,
                "peak_rss_mib": _peak_rss_mib(),
                "rows_in": log.row_count_in,
                "rows_out": log.row_count_out,
                "quarantined": log.row_count_quarantined,
            }
        )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dataset", default="generic", choices=sorted(SOURCE_NAMES))
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/jobforge-bench/profile"))
    parser.add_argument("--pyinstrument", action="store_true")
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.01)
        profiler.start()
    report = run_layers(args.work_dir, args.rows, args.dataset)
    if args.pyinstrument:
        profiler.stop()
        text = profiler.output_text(unicode=False, color=False, show_all=False)
        (args.work_dir / "pyinstrument.txt").write_text(text, encoding="utf-8")
    summary = {"rows": args.rows, "commit": git_commit(), "layers": report}
    (args.work_dir / "layers.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    for row in report:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

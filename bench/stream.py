"""Does a big source stream? JobForge's flow on a 100M-row source against the same flow at 10M.

`python -m bench.stream --rows 100000000 --reference-rows 10000000` generates the generic
source at each size (streamed, seeded), runs JobForge's flow on it once in a fresh child
(`bench.measure flow`, embedded server, as `python -m bench` does), smallest first, and
reports the pipeline time (first transition start to last end), per-layer seconds, the
child's peak RSS (wait4) and the ratio of the pipeline times. No baseline: the plain-polars
baseline does not stream its dedupe (2.2 GiB at 10M rows), so at 100M it only measures the
memory ceiling. Checks the free disk first (the source, its snapshot and four layers need
about 3.5x the CSV size) and refuses with the measured figures if it is short.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.generate import generate
from bench.lineage import read_transitions, summarise
from bench.machine import git_commit
from bench.procs import child_env, run_child
from bench.sections import RESULTS_MD, write_section
from bench.specs import SOURCE_NAMES

SECTION = "stream"
BYTES_PER_ROW = 57  # the generic source (bench/datasets.py)


def _source(rows: int, work: Path) -> tuple[Path, Path, Path, float]:
    """The generated source (reused when an earlier `--generate-only` left it complete)."""
    src, specs = work / f"r{rows}" / "source", work / f"r{rows}" / "specs"
    done = work / f"r{rows}" / "generated"
    started = time.perf_counter()
    if not done.is_file():
        generate("generic", rows, src, specs)
        done.write_text(str(rows))
    return src, specs, next(src.glob("*.csv")), time.perf_counter() - started


def _one(rows: int, work: Path, ceiling: float) -> dict[str, Any]:
    src, specs, source, gen_s = _source(rows, work)
    root, result = work / f"r{rows}" / "data", work / f"r{rows}.json"
    shutil.rmtree(root, ignore_errors=True)
    cmd = ["bench.measure", "flow", "--sources", SOURCE_NAMES["generic"]]
    cmd += ["--data-root", str(root), "--source-dir", str(src), "--spec-dir", str(specs)]
    cmd += ["--result", str(result)]
    commit = git_commit()
    child = run_child(
        cmd, child_env(work / "prefect-home"), work / "logs" / f"r{rows}.log", ceiling
    )
    timings = json.loads(result.read_text()) if result.exists() else {}
    lineage = summarise(read_transitions(root))
    entry = {
        "rows": rows,
        "csv_bytes": source.stat().st_size,
        "generate_s": gen_s,
        "returncode": child.returncode,
        "killed_for_memory": child.killed_for_memory,
        "wall_s": child.wall_s,
        "flow_s": timings["flow_end"] - timings["flow_start"] if timings else None,
        "peak_rss": child.peak_rss_bytes,
        "peak_tree_rss": child.peak_tree_rss_bytes,
        "load_before": child.load_before,
        "commit": commit,
        "lineage": lineage,
    }
    shutil.rmtree(work / f"r{rows}", ignore_errors=True)
    return entry


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def report(runs: list[dict[str, Any]], command: str) -> str:
    gib = 2**30
    lines = [
        "## A 100M-row source: does it stream? (issue 23 item 2)",
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, JobForge "
        f"commit {runs[0]['commit']}. JobForge's flow (embedded server) on the generic source, "
        "one fresh child per size, smallest first (bench/stream.py says why no baseline). "
        "Target: peak RSS <= 1 GiB and pipeline time <= 10x the 10M time.",
        "",
        "| rows | CSV GB | exit | pipeline s | flow s | staged / bronze / silver / gold s | "
        "peak RSS GiB | process tree GiB | load before |",
        "| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in runs:
        layers = r["lineage"].get("layers", {})
        per = " / ".join(
            f"{layers[k]['seconds']:.1f}" if k in layers else "n/a"
            for k in ("staged", "bronze", "silver", "gold")
        )
        pipe = r["lineage"].get("pipeline_s")
        lines.append(
            f"| {r['rows']:,} | {r['csv_bytes'] / 1e9:.2f} | {r['returncode']} | "
            f"{_f(pipe)} | "
            f"{_f(r['flow_s'])} | {per} | "
            f"{r['peak_rss'] / gib:.2f} | {r['peak_tree_rss'] / gib:.2f} | "
            f"{r['load_before']:.1f} |"
        )
    if len(runs) > 1:
        small, big = runs[0], runs[-1]
        a, b = small["lineage"].get("pipeline_s"), big["lineage"].get("pipeline_s")
        if a and b:
            lines += [
                "",
                f"Pipeline time {big['rows']:,} / {small['rows']:,} rows: {b / a:.2f} "
                f"(rows x{big['rows'] / small['rows']:.0f}).",
            ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000_000)
    p.add_argument("--reference-rows", type=int, default=10_000_000, help="0: none")
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/jobforge-bench/stream"))
    p.add_argument("--memory-ceiling-gib", type=float, default=8.0)
    p.add_argument("--results", type=Path, default=RESULTS_MD)
    p.add_argument(
        "--generate-only", action="store_true", help="write the sources and stop (not timed)"
    )
    args = p.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    need = 3.5 * args.rows * BYTES_PER_ROW
    free = shutil.disk_usage(args.work_dir).free
    if free < need:
        print(f"[stream] skipped: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed")
        return 1
    sizes = sorted({args.reference_rows, args.rows} - {0})
    if args.generate_only:
        for rows in sizes:
            _source(rows, args.work_dir)
        return 0
    runs = []
    for rows in sizes:
        runs.append(_one(rows, args.work_dir, args.memory_ceiling_gib))
        print(f"[stream] {rows}: {runs[-1]['wall_s']:.1f} s, exit {runs[-1]['returncode']}")
        (args.work_dir / "stream.json").write_text(json.dumps(runs, indent=2, default=str))
    given = sys.argv[1:] if argv is None else argv
    command = "python -m bench.stream " + " ".join(given)
    write_section(SECTION, report(runs, command.strip()), args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

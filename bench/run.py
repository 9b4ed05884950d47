"""The benchmark runner behind `python -m bench`.

For each size and dataset: generate the source (streamed), run the plain-polars baseline and
JobForge's flow (embedded Prefect server), each in a fresh child process, `--repeats` times
interleaved (the median run is reported, every run's times are kept), then delete the data.
Then the fixed overhead: a 10-row source and 20 small sources, through the flow against a
running `prefect server` and against the embedded one, and through plain `run_source`.
Raw figures go to <work>/results.json, the tables to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.generate import generate, generate_small
from bench.lineage import read_transitions, summarise
from bench.machine import git_commit
from bench.procs import ChildResult, child_env, run_child
from bench.report import write_results
from bench.sections import RESULTS_MD
from bench.server import prefect_server
from bench.specs import SOURCE_NAMES

TINY, SMALL_COUNT, SMALL_ROWS = "bench_tiny", 20, 10


def _sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s]


def _repeats(text: str) -> int:
    """At least one pair: zero would leave the entry without the runs the report reads."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError("--repeats must be at least 1")
    return n


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=_sizes, default=[1_000_000, 5_000_000, 10_000_000])
    p.add_argument(
        "--wide-sizes",
        type=_sizes,
        default=None,
        help="rows of the COPS-like and OaSIS-like files (default: --sizes)",
    )
    p.add_argument("--datasets", default="generic,cops,oasis")
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/jobforge-bench"))
    p.add_argument("--overhead-repeats", type=int, default=3)
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--core", action="store_true", help="also time plain run_source per size")
    p.add_argument(
        "--repeats",
        type=_repeats,
        default=1,
        help="run the baseline/JobForge pair N times per size, interleaved; the median run "
        "is reported (default 1)",
    )
    p.add_argument("--keep-data", action="store_true", help="keep generated files and outputs")
    p.add_argument("--memory-ceiling-gib", type=float, default=20.0)
    p.add_argument("--results", type=Path, default=RESULTS_MD)
    p.add_argument(
        "--append",
        action="store_true",
        help="add to <work-dir>/results.json (same dataset and size: replaced) instead of "
        "starting afresh, e.g. to add sizes to an earlier run",
    )
    return p.parse_args(argv)


def _measure_jobforge(
    mode: str,
    sources: list[str],
    dirs: dict[str, Path],
    env: dict[str, str],
    label: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One child running `bench.measure <mode>`; returns its timings, lineage and peak RSS."""
    data_root = dirs["runs"] / label
    shutil.rmtree(data_root, ignore_errors=True)
    result_file = dirs["runs"] / f"{label}.json"
    result_file.unlink(missing_ok=True)
    cmd = ["bench.measure", mode, "--sources", ",".join(sources), "--data-root", str(data_root)]
    cmd += ["--source-dir", str(dirs["source_dir"]), "--spec-dir", str(dirs["spec_dir"])]
    cmd += ["--result", str(result_file)] + (["--catalog"] if mode == "core" else [])
    commit = git_commit()
    child = run_child(cmd, env, dirs["logs"] / f"{label}.log", args.memory_ceiling_gib)
    entry = _child_fields(child)
    entry["commit"] = commit if commit == git_commit() else f"{commit} -> {git_commit()}"
    timings = json.loads(result_file.read_text()) if result_file.exists() else {}
    lineage = summarise(read_transitions(data_root))
    entry.update(lineage=lineage, ok=child.returncode == 0 and bool(timings.get("ok")))
    if timings:
        entry["flow_s"] = timings["flow_end"] - timings["flow_start"]
        entry["import_s"] = timings["imported"] - timings["process_start"]
        entry["state"] = timings.get("state")
        entry["message"] = timings.get("message")
        if lineage["first_start"] is not None:
            entry["before_first_transition_s"] = lineage["first_start"] - timings["flow_start"]
            entry["after_last_transition_s"] = timings["flow_end"] - lineage["last_end"]
    if not entry["ok"]:
        entry["error_tail"] = _tail(child.log)
    if not args.keep_data:
        shutil.rmtree(data_root, ignore_errors=True)
    return entry


def _child_fields(child: ChildResult) -> dict[str, Any]:
    return {
        "returncode": child.returncode,
        "wall_s": child.wall_s,
        "peak_rss": child.peak_rss_bytes,
        "peak_tree_rss": child.peak_tree_rss_bytes,
        "killed_for_memory": child.killed_for_memory,
        "log": str(child.log),
        "load_before": child.load_before,
    }


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _measure_baseline(
    key: str, source: Path, dirs: dict[str, Path], label: str, args: argparse.Namespace
) -> dict[str, Any]:
    out, result_file = dirs["runs"] / label, dirs["runs"] / f"{label}.json"
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["bench.baseline", "--dataset", key, "--source", str(source), "--out", str(out)]
    cmd += ["--result", str(result_file)]
    env = child_env(dirs["prefect_home"])
    child = run_child(cmd, env, dirs["logs"] / f"{label}.log", args.memory_ceiling_gib)
    entry = _child_fields(child)
    entry["ok"] = child.returncode == 0
    if entry["ok"]:
        raw = json.loads(result_file.read_text())
        marks, names = raw["marks"], list(raw["marks"])
        entry["pipeline_s"] = marks["gold"] - marks["start"]
        entry["layers"] = {
            layer: {"seconds": marks[layer] - marks[prev], "rows_out": raw["rows"][layer]}
            for prev, layer in zip(names, names[1:], strict=False)
        }
    else:
        entry["error_tail"] = _tail(child.log)
    if not args.keep_data:
        shutil.rmtree(out, ignore_errors=True)
    return entry


def _own_dirs(dirs: dict[str, Path], name: str) -> dict[str, Path]:
    """A source and spec directory per case: JobForge hashes every declared file it can see."""
    return {**dirs, "source_dir": dirs["source"] / name, "spec_dir": dirs["specs"] / name}


def _run_label(label: str, who: str, repeat: int, repeats: int) -> str:
    """One label per run; a single run keeps the old label so earlier logs and paths match."""
    return f"{label}-{who}" if repeats == 1 else f"{label}-{who}-r{repeat}"


def _jobforge_pipeline(run: dict[str, Any]) -> float | None:
    """A failed run's transitions stop at the failure, so it has no pipeline time to compare."""
    return run["lineage"]["pipeline_s"] if run["ok"] else None


def _baseline_pipeline(run: dict[str, Any]) -> float | None:
    return run.get("pipeline_s") if run["ok"] else None


def _median_run(
    runs: list[dict[str, Any]], pipeline: Callable[[dict[str, Any]], float | None]
) -> dict[str, Any]:
    """The run the report shows: a failed one if any (so the failure is reported), else the
    run with the median pipeline time (the lower middle one for an even count), so a whole
    run's figures stay together instead of mixing medians of different runs."""
    timed = [(t, r) for r in runs if (t := pipeline(r)) is not None]
    if len(timed) < len(runs):
        return next(r for r in runs if pipeline(r) is None)
    timed.sort(key=lambda pair: pair[0])
    return timed[(len(timed) - 1) // 2][1]


def _repeat_figures(
    baselines: list[dict[str, Any]], jobforges: list[dict[str, Any]]
) -> dict[str, Any]:
    """Every run's pipeline time and peak RSS, and per back-to-back pair the JobForge /
    baseline ratio: the pair shares the machine's load at that moment, so its ratio is less
    noisy than either time alone."""
    bl = [_baseline_pipeline(r) for r in baselines]
    jf = [_jobforge_pipeline(r) for r in jobforges]
    pairs = zip(bl, jf, strict=True)
    return {
        "repeats": {
            "baseline": bl,
            "jobforge": jf,
            "baseline_peak_rss": [r["peak_rss"] for r in baselines],
            "jobforge_peak_rss": [r["peak_rss"] for r in jobforges],
        },
        "paired_ratios": [j / b if j is not None and b else None for b, j in pairs],
    }


def _measure_pairs(
    key: str, source: Path, label: str, dirs: dict[str, Path], args: argparse.Namespace
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Baseline then JobForge, N times, interleaved so slow spells of a shared machine hit
    both sides alike; the source stays until the last pair (outputs go after each run)."""
    env = child_env(dirs["prefect_home"])
    baselines, jobforges = [], []
    for n in range(args.repeats):
        tag = "" if args.repeats == 1 else f" r{n}"
        bl_label = _run_label(label, "baseline", n, args.repeats)
        baselines.append(_measure_baseline(key, source, dirs, bl_label, args))
        print(f"[bench] {label}{tag}: baseline {baselines[-1]['wall_s']:.1f} s", flush=True)
        jf_label = _run_label(label, "jobforge", n, args.repeats)
        names = [SOURCE_NAMES[key]]
        jobforges.append(_measure_jobforge("flow", names, dirs, env, jf_label, args))
        print(f"[bench] {label}{tag}: jobforge {jobforges[-1]['wall_s']:.1f} s", flush=True)
    return baselines, jobforges


def measure_size(
    key: str, rows: int, dirs: dict[str, Path], args: argparse.Namespace
) -> dict[str, Any]:
    """Generate one source, measure the pairs (and `core` once), then delete the source.

    With --repeats 1 the entry has the same keys as before repeats existed."""
    dirs = _own_dirs(dirs, key)
    started = time.perf_counter()
    source = generate(key, rows, dirs["source_dir"], dirs["spec_dir"])
    entry: dict[str, Any] = {
        "dataset": key,
        "rows": rows,
        "source_bytes": source.stat().st_size,
        "generate_s": time.perf_counter() - started,
    }
    label = f"{key}-{rows}"
    print(f"[bench] {label}: {entry['source_bytes'] / 1e6:.0f} MB generated", flush=True)
    baselines, jobforges = _measure_pairs(key, source, label, dirs, args)
    entry["baseline"] = _median_run(baselines, _baseline_pipeline)
    entry["jobforge"] = _median_run(jobforges, _jobforge_pipeline)
    if args.repeats > 1:
        entry.update(_repeat_figures(baselines, jobforges))
    if args.core:
        env = child_env(dirs["prefect_home"])
        names = [SOURCE_NAMES[key]]
        entry["core"] = _measure_jobforge("core", names, dirs, env, f"{label}-core", args)
    if not args.keep_data:
        source.unlink(missing_ok=True)
    return entry


def measure_overhead(dirs: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """10-row source and 20 small sources: plain core, embedded server, running server."""
    dirs = _own_dirs(dirs, "small")
    tiny = generate_small(1, SMALL_ROWS, dirs["source_dir"], dirs["spec_dir"], TINY)
    small = generate_small(
        SMALL_COUNT, SMALL_ROWS, dirs["source_dir"], dirs["spec_dir"], "bench_small"
    )
    cases = {"tiny": tiny, "small20": small}
    embedded = child_env(dirs["prefect_home"])
    out: dict[str, Any] = {name: {"sources": len(srcs)} for name, srcs in cases.items()}

    def repeat(case: str, mode: str, env: dict[str, str], tag: str) -> list[dict[str, Any]]:
        runs = []
        for n in range(args.overhead_repeats):
            label = f"overhead-{case}-{tag}-{n}"
            runs.append(_measure_jobforge(mode, cases[case], dirs, env, label, args))
        return runs

    _measure_jobforge("flow", tiny, dirs, embedded, "warmup-embedded", args)
    for case in cases:
        out[case]["core"] = repeat(case, "core", embedded, "core")
        out[case]["embedded"] = repeat(case, "flow", embedded, "embedded")
    server_home = dirs["work"] / "prefect-server-home"
    with prefect_server(server_home, dirs["logs"] / "prefect-server.log") as url:
        served = child_env(dirs["prefect_home"], api_url=url)
        _measure_jobforge("flow", tiny, dirs, served, "warmup-server", args)
        for case in cases:
            out[case]["server"] = repeat(case, "flow", served, "server")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work_dir
    dirs = {
        "work": work,
        "source": work / "source",
        "specs": work / "specs",
        "runs": work / "runs",
        "logs": work / "logs",
        "prefect_home": work / "prefect-home",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    command = ("python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    results: dict[str, Any] = {"command": command, "sizes": [], "overhead": None}
    raw_file = work / "results.json"
    if args.append and raw_file.exists():
        results = json.loads(raw_file.read_text(encoding="utf-8"))
        results["command"] = f"{results['command']}` then `{command}"

    def save() -> None:
        profile = work / "profile" / "layers.json"  # from `python -m bench.profile`, if run
        if profile.exists():
            results["profile"] = json.loads(profile.read_text(encoding="utf-8"))
        raw_file.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
        write_results(results, args.results)

    datasets = [d for d in args.datasets.split(",") if d]
    if not args.skip_overhead:
        print("[bench] fixed overhead", flush=True)
        results["overhead"] = measure_overhead(dirs, args)
        save()
    for key in datasets:  # dataset by dataset, so the generic table's sizes come first
        sizes = args.sizes if key == "generic" or args.wide_sizes is None else args.wide_sizes
        for rows in sorted(sizes):
            entry = measure_size(key, rows, dirs, args)
            results["sizes"] = [
                e for e in results["sizes"] if (e["dataset"], e["rows"]) != (key, rows)
            ] + [entry]
            save()
    save()
    print(f"[bench] results: {args.results} (raw: {raw_file})", flush=True)
    return 0

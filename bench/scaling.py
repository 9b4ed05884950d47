"""How `jobforge run` time grows with the number of sources (issue 23 item 4).

`python -m bench.scaling --counts 10,100,300 --runners thread,dask` writes N small declared
sources (`bench.many_sources`: 5 rows each, one gold dimension each, every other one with a
foreign key to the one before), then for each count and runner runs `jobforge run --force`
over exactly those sources in a fresh child process with its own PREFECT_HOME (the embedded
server, as a user runs it), interleaved: every runner at one count before the next count.

Inside the child (`python -m bench.scaling child ...`) the command is the real `main()` of
`flows.cli`, with timers wrapped around:
- every HTTP request of the process to the Prefect API (httpx `send`), counted and timed by
  kind (artifacts, task runs, flow runs, logs, other); requests overlap (one per task thread),
  so their seconds are a sum of latencies, not a share of the wall time. With `--runner dask`
  the tasks run in Dask worker processes, whose requests are not seen (parent only);
- planning (`plan_sources`), the source chains (`run_chains`: submitting the tasks and
  waiting for them), the catalog task (`rebuild_catalog`, with its DuckDB store and site
  build inside it), the foreign-key check, and the wait for task runs to be recorded.
Prefect and the flow are imported before the command starts (so the timers can be put in
place), where the command imports them while its server starts: the fixed start cost is
about 1.5 s higher than a plain `jobforge run`; the per-source slope is unaffected.

Then, on the data root of each thread run, the catalog rebuild alone (a fresh process,
`python -m bench.scaling catalog ...`): total, DuckDB store build and site build, against the
number of tables, to see how they grow.

Seconds per source = (time at the largest count - time at the smallest) / (difference in
sources): the fixed costs (interpreter, server start, imports) cancel out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.machine import git_commit
from bench.sections import RESULTS_MD, write_section

SECTION = "scaling"


def _kind(path: str) -> str:
    for kind in ("artifacts", "task_runs", "flow_runs", "logs", "events", "deployments"):
        if f"/{kind}" in path:
            return kind
    return "other"


class _Clock:
    """Seconds and calls per label; thread-safe enough for sums (one += per call)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.first_api: float | None = None  # when the first API request was answered

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] += seconds
        self.calls[label] += 1
        if self.first_api is None and label.startswith("api:"):
            self.first_api = time.time()

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.add(label, time.perf_counter() - started)

        setattr(owner, name, timed)


def _api_label(request: Any) -> str:
    return f"api:{request.method} {_kind(request.url.path)}"


def _patch_http(clock: _Clock) -> None:
    import httpx

    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return sync_send(self, request, *args, **kwargs)
        finally:
            clock.add(_api_label(request), time.perf_counter() - started)

    async def asend(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await async_send(self, request, *args, **kwargs)
        finally:
            clock.add(_api_label(request), time.perf_counter() - started)

    httpx.Client.send, httpx.AsyncClient.send = send, asend


def child(args: argparse.Namespace) -> int:
    """`jobforge run` in this process, with the timers in place; writes args.result."""
    started = time.time()
    clock = _Clock()
    _patch_http(clock)
    import flows.pipeline as pipeline
    import jobforge_core.catalog.rebuild as rebuild
    import jobforge_core.site.refresh as refresh
    import tasks.catalog as catalog_task

    clock.wrap(pipeline, "plan_sources", "plan_sources")
    clock.wrap(pipeline, "run_chains", "run_chains (tasks submitted and awaited)")
    clock.wrap(pipeline, "publish", "publish (foreign keys of the snapshot, commit)")
    clock.wrap(pipeline, "await_recorded", "await_recorded (task runs recorded)")
    clock.wrap(pipeline, "_finish", "finish (run artifacts)")
    clock.wrap(catalog_task, "refresh_catalog", "catalog rebuild (in the task)")
    clock.wrap(rebuild, "build_store", "catalog: DuckDB store")
    clock.wrap(refresh, "build_site", "catalog: site build")
    names = json.loads(Path(args.names).read_text())
    sys.argv = ["jobforge", "run", "--force", "--format", "json", "--runner", args.runner]
    sys.argv += ["--data-root", args.data_root, "--source-dir", args.source_dir]
    sys.argv += ["--specs", args.spec_dir] + [a for n in names for a in ("--source", n)]
    imported = time.time()
    from flows.cli import main

    code = 1
    try:
        code = main()
    finally:
        Path(args.result).write_text(
            json.dumps(
                {
                    "returncode": code,
                    "imports_s": imported - started,
                    "command_s": time.time() - imported,
                    "server_up_s": clock.first_api - imported if clock.first_api else None,
                    "seconds": dict(clock.seconds),
                    "calls": dict(clock.calls),
                }
            )
        )
    return code


def catalog(args: argparse.Namespace) -> int:
    """The catalog rebuild alone on a data root a run left, timed in parts."""
    clock = _Clock()
    import jobforge_core.catalog.rebuild as rebuild
    import jobforge_core.site.refresh as refresh
    from jobforge_core.common.config import PipelineConfig
    from jobforge_core.sources.spec import load_specs

    clock.wrap(rebuild, "build_store", "store")
    clock.wrap(refresh, "build_site", "site")  # the site is built after the catalog
    from flows.pipeline import _spec_dirs

    specs = load_specs(_spec_dirs([args.spec_dir]))
    cfg = PipelineConfig(data_root=Path(args.data_root), source_dir=Path(args.source_dir))
    totals = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        report = refresh.refresh_catalog(cfg, specs)
        totals.append(time.perf_counter() - started)
    Path(args.result).write_text(
        json.dumps(
            {
                "tables": len(report.tables),
                "total_s": min(totals),
                "store_s": clock.seconds["store"] / args.repeats,
                "site_s": clock.seconds["site"] / args.repeats,
            }
        )
    )
    return 0


def _env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        PYTHONUNBUFFERED="1",
    )
    return env


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from bench.many_sources import write_sources
    from bench.procs import run_child

    work: Path = args.work_dir
    runs: list[dict[str, Any]] = []
    for count in args.counts:
        src, specs = work / f"n{count}" / "source", work / f"n{count}" / "specs"
        shutil.rmtree(work / f"n{count}", ignore_errors=True)
        names = write_sources(src, specs, count)
        names_file = work / f"n{count}" / "names.json"
        names_file.write_text(json.dumps(names))
        for runner in args.runners:
            label = f"n{count}-{runner}"
            root, result = work / label / "data", work / f"{label}.json"
            shutil.rmtree(work / label, ignore_errors=True)
            result.unlink(missing_ok=True)
            cmd = ["bench.scaling", "child", "--runner", runner, "--data-root", str(root)]
            cmd += ["--source-dir", str(src), "--spec-dir", str(specs), "--names", str(names_file)]
            cmd += ["--result", str(result)]
            commit = git_commit()
            done = run_child(cmd, _env(work / label / "prefect"), work / "logs" / f"{label}.log")
            entry: dict[str, Any] = {
                "sources": count,
                "runner": runner,
                "wall_s": done.wall_s,
                "returncode": done.returncode,
                "peak_rss": done.peak_rss_bytes,
                "peak_tree_rss": done.peak_tree_rss_bytes,
                "load_before": done.load_before,
                "commit": commit,
                "gold_tables": len(list((root / "gold").glob("*.parquet"))),
            }
            if result.exists():
                entry.update(json.loads(result.read_text()))
            print(f"[scaling] {label}: {done.wall_s:.1f} s, exit {done.returncode}", flush=True)
            if runner == args.runners[0] and done.returncode == 0:
                cat_result = work / f"{label}-catalog.json"
                cmd = ["bench.scaling", "catalog", "--data-root", str(root)]
                cmd += ["--source-dir", str(src), "--spec-dir", str(specs)]
                cmd += ["--result", str(cat_result), "--repeats", "2"]
                run_child(cmd, _env(work / label / "prefect"), work / "logs" / f"{label}-cat.log")
                if cat_result.exists():
                    entry["catalog_alone"] = json.loads(cat_result.read_text())
            runs.append(entry)
            (work / "scaling.json").write_text(json.dumps(runs, indent=2))
            if not args.keep_data:
                shutil.rmtree(work / label, ignore_errors=True)
    return {"runs": runs}


def _f(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def report(results: dict[str, Any], command: str) -> str:
    runs = results["runs"]
    counts = sorted({r["sources"] for r in runs})
    runners = list(dict.fromkeys(r["runner"] for r in runs))
    by = {(r["sources"], r["runner"]): r for r in runs}
    lo, hi = counts[0], counts[-1]
    lines = [
        "## Many small sources in one run (issue 23 item 4)",
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPU(s), JobForge commit {runs[0]['commit']}. Each run: `jobforge run "
        "--force` over exactly N declared sources of 5 rows (`bench.many_sources`), a fresh "
        "process with its own PREFECT_HOME (embedded server); the load average before each "
        "run is in the table. The module docstring (`bench/scaling.py`) says how each part is "
        "timed. Target: 300 sources <= 180 s; catalog rebuild and site build no worse than "
        "linear in tables.",
        "",
        "| sources | runner | exit | wall s | s per source (wall / N) | gold tables | peak RSS "
        "MiB (process tree) | load before |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in counts:
        for runner in runners:
            r = by.get((n, runner))
            if r is None:
                continue
            lines.append(
                f"| {n} | {runner} | {r['returncode']} | {_f(r['wall_s'])} | "
                f"{_f(r['wall_s'] / n, 2)} | {r['gold_tables']} | "
                f"{r['peak_tree_rss'] / 2**20:.0f} | {r['load_before']:.1f} |"
            )
    lines += [
        "",
        "Server up = from the command's start to the first answered API request (Prefect's "
        "temporary server start, mostly): "
        + ", ".join(
            f"{r['sources']} {r['runner']}: {_f(r.get('server_up_s'))} s"
            for r in runs
            if r.get("server_up_s") is not None
        )
        + ". Task-run state changes travel over Prefect's events websocket, not HTTP, so they "
        "are not in the API rows below.",
    ]
    lines += ["", f"Marginal seconds per source, from {lo} to {hi} sources:", ""]
    for runner in runners:
        a, b = by.get((lo, runner)), by.get((hi, runner))
        if a and b and hi > lo:
            slope = (b["wall_s"] - a["wall_s"]) / (hi - lo)
            lines.append(f"- {runner}: {slope:.3f} s per source (wall)")
    labels = sorted({k for r in runs for k in r.get("seconds", {})})
    lines += [
        "",
        "Where the time goes (seconds summed over calls; API requests overlap, so their sum "
        "can exceed the wall time; with dask only the parent process is seen):",
        "",
        "| part | " + " | ".join(f"{n} {rn}: s (calls)" for n in counts for rn in runners) + " |",
        "| --- |" + " ---: |" * (len(counts) * len(runners)),
    ]
    for label in labels:
        cells = []
        for n in counts:
            for runner in runners:
                r = by.get((n, runner), {})
                s, c = r.get("seconds", {}).get(label), r.get("calls", {}).get(label)
                cells.append("" if s is None else f"{s:.1f} ({c})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Catalog rebuild alone on the data root the thread run left (fresh process, best of 2):",
        "",
        "| sources | tables | rebuild s | DuckDB store s | site s | rebuild ms per table |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in counts:
        r = by.get((n, runners[0]), {})
        c = r.get("catalog_alone")
        if c:
            lines.append(
                f"| {n} | {c['tables']} | {c['total_s']:.2f} | {c['store_s']:.2f} | "
                f"{c['site_s']:.2f} | {1000 * c['total_s'] / max(c['tables'], 1):.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("child", "catalog"):
        p = argparse.ArgumentParser(prog=f"python -m bench.scaling {argv[0]}")
        p.add_argument("--runner", default="thread")
        p.add_argument("--data-root", required=True)
        p.add_argument("--source-dir", required=True)
        p.add_argument("--spec-dir", required=True)
        p.add_argument("--names")
        p.add_argument("--result", required=True)
        p.add_argument("--repeats", type=int, default=1)
        args = p.parse_args(argv[1:])
        return child(args) if argv[0] == "child" else catalog(args)
    p = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    p.add_argument("--counts", default="10,100,300")
    p.add_argument("--runners", default="thread,dask")
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/jobforge-bench/scaling"))
    p.add_argument("--results", type=Path, default=RESULTS_MD)
    p.add_argument("--keep-data", action="store_true")
    args = p.parse_args(argv)
    args.counts = [int(c) for c in args.counts.split(",") if c]
    args.runners = [r for r in args.runners.split(",") if r]
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results = measure(args)
    command = "python -m bench.scaling " + " ".join(argv)
    write_section(SECTION, report(results, command.strip()), args.results)
    print(f"[scaling] results: {args.results}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

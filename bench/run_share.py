"""Where the time of a small `jobforge run` goes, and JobForge's own share of it (issue 12).

    python -m bench.run_share [--repeats 3] [--rows 10] [--write]

A source of `--rows` rows (declared in a spec of its own, as a user would) runs through
`jobforge run` with Prefect's embedded server, in a fresh interpreter each time. The child is
this module's `_child`: it times Prefect's imports, starts the same temporary server the CLI
would start (`SubprocessASGIServer`, which `jobforge run` uses when no API URL is set), runs
`flows.cli.main(["run", ...])` against it, and stops it, so each phase is measured where it
happens rather than guessed from logs. Each run has its own PREFECT_HOME and data root.

JobForge's own share = total - Prefect's server start and stop (the issue's definition); the
table also gives it without Prefect's imports, and the interpreter start as a baseline.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.sections import write_section
from flows.embedded import drain_queues

REPO = Path(__file__).resolve().parents[1]
SPEC = """name: tiny
domain: bench
file: tiny.csv
types: {value: int}
keys: [code]
gold:
  - table: fact_tiny
    model: fact
    columns: [code, label, value]
    keys: [code]
"""
SECTION = "run-share"


def _args(work: Path) -> list[str]:
    args = ["run", "--data-root", str(work / "data"), "--source-dir", str(work / "source")]
    return args + ["--specs", str(work / "specs"), "--source", "tiny", "--format", "json"]


def _child_sequential(work: Path) -> None:
    """Before: Prefect and the flow imported, then Prefect's temporary server started (what
    Prefect does itself when the flow opens its first client), then the run."""
    t0 = time.perf_counter()
    import prefect  # noqa: F401
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import flows.pipeline  # noqa: F401 (the flow module `jobforge run` imports)

    t1 = time.perf_counter()
    server = SubprocessASGIServer()
    server.start()
    t2 = time.perf_counter()
    from flows.cli import main

    with temporary_settings({PREFECT_API_URL: server.api_url}):
        code = main(_args(work))
    drain_queues()  # what `jobforge run` does before its server stops
    t3 = time.perf_counter()
    server.stop()
    t4 = time.perf_counter()
    phases = {"imports": t1 - t0, "start": t2 - t1, "run": t3 - t2, "stop": t4 - t3}
    print("\n" + json.dumps({"code": code, **phases}), flush=True)


def _child(work: Path) -> None:
    """Now: the steps of `jobforge run` (flows/cli.py `dispatch`), each timed. The server
    is spawned before Prefect's imports, which run while it starts: `start` (spawn to
    healthy) contains `imports`."""
    t0 = time.perf_counter()
    from flows.cli import build_parser, skip_final_collection
    from flows.cli_run import _import_while_server_starts, preflight, run
    from flows.embedded import start_early, startup_timeout
    from flows.render import emit

    skip_final_collection()  # as `main` does for the `jobforge` command
    args = build_parser().parse_args(_args(work))
    request = preflight(
        args.data_root, args.source_dir, args.specs, args.source, None, None, False, "default", None
    )
    server = start_early()
    assert server is not None, "no early server: is an API URL configured?"
    t1 = time.perf_counter()
    import flows.pipeline  # noqa: F401 (what `run` imports first)

    _import_while_server_starts()  # as `run` does before it waits for the server
    t_imported = time.perf_counter()
    server.wait_ready(startup_timeout())
    t2 = time.perf_counter()
    result = run(request, verbose=False, owns_process=True, server=server)
    code = emit(result, "json")
    drain_queues()  # what `jobforge run` does before its server stops
    t3 = time.perf_counter()
    server.stop()
    t4 = time.perf_counter()
    phases = {
        "preflight": t1 - t0,
        "imports": t_imported - t1,
        "start": t2 - t1,
        "run": t3 - t2,
        "stop": t4 - t3,
    }
    print("\n" + json.dumps({"code": code, **phases}), flush=True)


def _child_floor(work: Path) -> None:
    """Prefect's own floor: what a run of the same shape costs with no work in it. The same
    start as `_child`, then a flow of five tasks in a chain (the four transitions and the
    catalog), each with its artifact, and the flow's two, heartbeats off as in `jobforge run`;
    no file is read or written."""
    from flows.cli import skip_final_collection
    from flows.embedded import start_early, startup_timeout

    skip_final_collection()
    server = start_early()
    assert server is not None, "no early server: is an API URL configured?"
    t1 = time.perf_counter()
    from prefect import flow, task
    from prefect.artifacts import create_markdown_artifact, create_table_artifact
    from prefect.cache_policies import NO_CACHE

    from flows.adhoc import foreground_run

    @task(cache_policy=NO_CACHE)
    def step(i: int) -> int:
        create_table_artifact(table=[{"step": i}], key=f"floor-{i}")
        return i

    @flow
    def floor() -> None:
        previous = None
        for i in range(5):
            previous = step.submit(i, wait_for=[previous] if previous else None)
        previous.result()
        create_table_artifact(table=[{"sources": 1}], key="floor-summary")
        create_markdown_artifact(markdown="floor", key="floor-report")

    t_imported = time.perf_counter()
    server.wait_ready(startup_timeout())
    t2 = time.perf_counter()
    with foreground_run(api_url=server.api_url):
        floor()
    drain_queues()  # what `jobforge run` does before its server stops
    t3 = time.perf_counter()
    server.stop()
    t4 = time.perf_counter()
    phases = {
        "preflight": 0.0,
        "imports": t_imported - t1,
        "start": t2 - t1,
        "run": t3 - t2,
        "stop": t4 - t3,
    }
    print("\n" + json.dumps({"code": 0, **phases}), flush=True)


def _prepare(work: Path, rows: int) -> None:
    (work / "specs").mkdir(parents=True)
    (work / "source").mkdir()
    (work / "specs" / "tiny.yaml").write_text(SPEC, encoding="utf-8")
    lines = ["code,label,value", *(f"{i:05d},row {i},{i}" for i in range(rows))]
    (work / "source" / "tiny.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


# The phases of each child that follow one another (the others overlap them).
SERIAL = {
    "_child_sequential": ("imports", "start", "run", "stop"),
    "_child": ("preflight", "start", "run", "stop"),
    "_child_floor": ("start", "run", "stop"),
}


def measure_once(rows: int, child: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="jobforge-run-share-") as tmp:
        work = Path(tmp)
        _prepare(work, rows)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
        env |= {"PREFECT_HOME": str(work / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "0"}
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
        code = f"from bench.run_share import {child}; {child}(__import__('pathlib').Path({tmp!r}))"
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
        )
        total = time.perf_counter() - start
        base_start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        interpreter = time.perf_counter() - base_start
    if done.returncode != 0:
        raise SystemExit(f"run failed: {done.stderr[-2000:]}")
    phases = json.loads(done.stdout.strip().splitlines()[-1])
    if phases.pop("code") != 0:
        raise SystemExit(f"jobforge run exited non-zero: {done.stderr[-2000:]}")
    phases["total"] = total
    # interpreter start before the first timer, and exit after the last (atexit hooks)
    phases["outside"] = total - sum(phases[k] for k in SERIAL[child])
    phases["interpreter"] = interpreter
    phases["own"] = total - phases["start"] - phases["stop"]
    return phases


KEYS = [
    ("total", "process, exec to exit"),
    ("interpreter", "baseline: `python -c pass`"),
    ("preflight", "arguments and specs checked, server spawned (now only)"),
    ("imports", "Prefect and the flow module imported (now: while the server starts)"),
    ("start", "Prefect's temporary server start (now: from its spawn to healthy)"),
    ("run", "`jobforge run` (plan, 4 transitions, catalog, site, artifacts, API calls)"),
    ("stop", "Prefect's temporary server stop"),
    ("outside", "interpreter start and exit, outside the timed phases"),
    ("own", "JobForge's own share: total - server start - server stop"),
]


def _cell(runs: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in runs if key in r]
    return f"{statistics.median(values):.2f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="put the table in bench/RESULTS.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    before: list[dict[str, float]] = []
    now: list[dict[str, float]] = []
    floor: list[dict[str, float]] = []
    for _ in range(args.repeats):  # interleaved, so all three see the same machine
        before.append(measure_once(args.rows, "_child_sequential"))
        now.append(measure_once(args.rows, "_child"))
        floor.append(measure_once(args.rows, "_child_floor"))
    lines = [
        "| phase | what | before: median s | now: median s | now / before "
        "| Prefect's floor: median s |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for key, what in KEYS:
        b, n, f = _cell(before, key), _cell(now, key), _cell(floor, key)
        ratio = f"{float(n) / float(b):.2f}" if "-" not in (b, n) and float(b) else "-"
        lines.append(f"| {key} | {what} | {b} | {n} | {ratio} | {f} |")
    beyond = statistics.median(r["own"] for r in now) - statistics.median(r["own"] for r in floor)
    command = f"python -m bench.run_share --repeats {args.repeats} --rows {args.rows}"
    section = "\n".join(
        [
            "## A small run's time, and JobForge's own share",
            "",
            f"`{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{os.cpu_count()} CPU(s), load average {load:.1f} at the start; a {args.rows}-row "
            "source through `jobforge run` with the embedded server and a fresh PREFECT_HOME, "
            f"median of {args.repeats} fresh processes each way, interleaved. *Before*: Prefect "
            "and the flow imported, then Prefect's temporary server started (as Prefect does "
            "by itself), and the interpreter's full teardown at exit. *Now*: the server spawned "
            "first, the imports done while it starts, its API routes built by a request sent "
            "meanwhile (flows/embedded.py), and no final cycle collection at exit (flows/cli.py). "
            "*Prefect's floor*: the same start, then a flow of the same shape with no work in it "
            "(five chained tasks and seven artifacts, `_child_floor`): what any Prefect flow of "
            "this shape costs on this machine. The module docstring says how each phase is "
            "timed. Target: own share <= 1 s.",
            "",
            *lines,
            "",
            f"JobForge's own share beyond Prefect's floor (now - floor, own): {beyond:.2f} s.",
        ]
    )
    print(section)
    if args.write:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()

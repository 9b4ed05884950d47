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
SECTION_START, SECTION_END = "<!-- run-share -->", "<!-- /run-share -->"


def _child(work: Path) -> None:
    """Runs in the measured interpreter; prints one JSON line of phase times."""
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

    args = ["run", "--data-root", str(work / "data"), "--source-dir", str(work / "source")]
    args += ["--specs", str(work / "specs"), "--source", "tiny", "--format", "json"]
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        code = main(args)
    # What `jobforge run` does before its embedded server stops at exit: Prefect's log and
    # event workers drain first (else they retry against a stopped server after the timers).
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)
    EventsWorker.drain_all(timeout=30)
    t3 = time.perf_counter()
    server.stop()
    t4 = time.perf_counter()
    phases = {"imports": t1 - t0, "start": t2 - t1, "run": t3 - t2, "stop": t4 - t3}
    print("\n" + json.dumps({"code": code, **phases}), flush=True)


def _prepare(work: Path, rows: int) -> None:
    (work / "specs").mkdir(parents=True)
    (work / "source").mkdir()
    (work / "specs" / "tiny.yaml").write_text(SPEC, encoding="utf-8")
    lines = ["code,label,value", *(f"{i:05d},row {i},{i}" for i in range(rows))]
    (work / "source" / "tiny.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def measure_once(rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="jobforge-run-share-") as tmp:
        work = Path(tmp)
        _prepare(work, rows)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
        env |= {"PREFECT_HOME": str(work / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "0"}
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
        code = f"from bench.run_share import _child; _child(__import__('pathlib').Path({tmp!r}))"
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
    phases["outside"] = total - sum(phases[k] for k in ("imports", "start", "run", "stop"))
    phases["interpreter"] = interpreter
    phases["own"] = total - phases["start"] - phases["stop"]
    phases["own_without_imports"] = phases["own"] - phases["imports"]
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="put the table in bench/RESULTS.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    runs = [measure_once(args.rows) for _ in range(args.repeats)]
    keys = [
        ("total", "process, exec to exit"),
        ("interpreter", "baseline: `python -c pass`"),
        ("imports", "Prefect and the flow module imported"),
        ("start", "Prefect's temporary server start"),
        ("run", "`jobforge run` (plan, 4 transitions, catalog, site, artifacts, API calls)"),
        ("stop", "Prefect's temporary server stop"),
        ("outside", "interpreter start and exit, outside the timed phases"),
        ("own", "JobForge's own share: total - server start - server stop"),
        ("own_without_imports", "the same without Prefect's imports"),
    ]
    lines = [
        "| phase | what | median s | min s | share of total |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    total = statistics.median(r["total"] for r in runs)
    for key, what in keys:
        values = [r[key] for r in runs]
        median = statistics.median(values)
        lines.append(
            f"| {key} | {what} | {median:.2f} | {min(values):.2f} | {median / total:.2f} |"
        )
    command = f"python -m bench.run_share --repeats {args.repeats} --rows {args.rows}"
    section = "\n".join(
        [
            "## A small run's time, and JobForge's own share",
            "",
            f"`{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{os.cpu_count()} CPU(s), load average {load:.1f} at the start; a {args.rows}-row "
            f"source through `jobforge run` with the embedded server, median of {args.repeats} "
            "fresh processes (see the module docstring for how each phase is timed). Target: "
            "own share <= 1 s.",
            "",
            *lines,
        ]
    )
    print(section)
    if args.write:
        from bench.cli_startup import RESULTS_MD

        text = RESULTS_MD.read_text(encoding="utf-8")
        block = f"{SECTION_START}\n{section}\n{SECTION_END}\n"
        if SECTION_START in text:
            head, rest = text.split(SECTION_START, 1)
            text = head + block + rest.split(SECTION_END, 1)[1].lstrip("\n")
        else:
            text = text.rstrip("\n") + "\n\n" + block
        RESULTS_MD.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

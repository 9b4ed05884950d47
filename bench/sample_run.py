"""A whole run of the bundled samples, orchestration included, for one or more checkouts.

    python -m bench.sample_run [--repeats 3] --src DIR [--src DIR ...] [--write]

Each repeat starts, per checkout in turn (interleaved, so all see the same machine), a fresh
interpreter with that checkout first on `sys.path` and this venv's packages. The child starts
Prefect's temporary server as `jobforge run` does (flows/embedded.py), runs every bundled
sample once to warm the server and the client, then times `jobforge run --force` (all sources
through the four layers, the catalog, the artifacts): wall seconds of that run, and the CPU
seconds the server process and the command's process spent in it (the run ends when Prefect's
log and event queues have drained into the server). It measures what a user's run of many
sources pays to Prefect's orchestration and to JobForge's own work. Asserts nothing.
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
SECTION = "sample-run"


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _child(work: Path) -> None:
    """In the measured checkout: warm run, then the timed forced run."""
    import contextlib
    import io

    from flows.cli import main
    from flows.embedded import shutdown, start_early, startup_timeout

    server = start_early()
    assert server is not None, "no early server: is an API URL configured?"
    server.wait_ready(startup_timeout())
    args = ["run", "--data-root", str(work / "data"), "--source-dir", str(REPO / "data/source")]
    args += ["--format", "json"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(args) == 0, "the warm-up run failed"
    # flows.embedded.drain_queues, written out below: the checkout measured may predate it
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    server_cpu, own_cpu, start = _cpu(server.process.pid), _cpu(os.getpid()), time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main([*args, "--force"])
    APILogWorker.drain_all(timeout=60)
    EventsWorker.drain_all(timeout=60)
    wall = time.perf_counter() - start
    phases = {
        "code": code,
        "wall": wall,
        "server_cpu": _cpu(server.process.pid) - server_cpu,
        "own_cpu": _cpu(os.getpid()) - own_cpu,
    }
    shutdown(server)
    print("\n" + json.dumps(phases), flush=True)


def measure_once(src: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="jobforge-sample-run-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
        env |= {"PREFECT_HOME": str(Path(tmp) / "prefect"), "PYTHONPATH": str(src)}
        env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        # This file as a script: the checkout measured comes first on the path for
        # `flows` and `jobforge_core`, even when it predates this benchmark.
        done = subprocess.run(
            [sys.executable, __file__, "--child", tmp],
            cwd=src,
            env=env,
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise SystemExit(f"{src}: {done.stderr[-2000:]}")
    phases = json.loads(done.stdout.strip().splitlines()[-1])
    if phases.pop("code") != 0:
        raise SystemExit(f"{src}: jobforge run exited non-zero: {done.stderr[-2000:]}")
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--src", type=Path, action="append", required=True)
    parser.add_argument("--write", action="store_true", help="put the table in bench/RESULTS.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results: dict[Path, list[dict[str, float]]] = {src: [] for src in args.src}
    for _ in range(args.repeats):
        for src in args.src:
            results[src].append(measure_once(src))
    first = args.src[0]
    lines = [
        "| checkout | wall s median (min) | ratio to the first | server CPU s | command CPU s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    base = statistics.median(r["wall"] for r in results[first])
    for src, runs in results.items():
        wall = [r["wall"] for r in runs]
        lines.append(
            f"| `{src}` | {statistics.median(wall):.2f} ({min(wall):.2f}) | "
            f"{statistics.median(wall) / base:.2f} | "
            f"{statistics.median(r['server_cpu'] for r in runs):.2f} | "
            f"{statistics.median(r['own_cpu'] for r in runs):.2f} |"
        )
    sources = len(list((REPO / "data" / "source").iterdir()))
    srcs = " ".join(f"--src {s}" for s in args.src)
    section = "\n".join(
        [
            "## A run of the bundled samples, orchestration included",
            "",
            f"`python -m bench.sample_run --repeats {args.repeats} {srcs}` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPU(s), "
            f"load average {load:.1f} at the start: `jobforge run --force` over the "
            f"{sources} files of data/source (the second run of a process, against the "
            "temporary server the command starts), median of "
            f"{args.repeats} fresh processes per checkout, interleaved. The module docstring "
            "says what is timed.",
            "",
            *lines,
        ]
    )
    print(section)
    if args.write:
        from bench.sections import write_section

        write_section(SECTION, section)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.path.remove(str(Path(__file__).parent))  # not this folder: the checkout's packages
        _child(Path(sys.argv[2]))
    else:
        main()

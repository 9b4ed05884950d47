"""Wall time of the read commands of `jobforge`, from process start to exit.

    python -m bench.cli_startup [--repeats 7] [--src DIR ...]

Each command runs in a fresh interpreter (as a user's shell runs it), `--repeats` times; the
median and the minimum are reported, with whether Prefect got imported. `--src` measures
another checkout of JobForge (for example the commit before a change, made with
`git worktree add /tmp/jf-before <commit>`) with this venv's packages, for a before/after
ratio. A data root with the bundled samples is built once, without Prefect, under
`--work-dir`. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.sections import write_section

REPO = Path(__file__).resolve().parents[1]
PROBE = (
    "import sys\n"
    "from flows.cli import main\n"
    "try:\n    code = main()\nexcept SystemExit as exc:\n    code = exc.code\n"
    "sys.stderr.write('\\n<prefect imported>' if 'prefect' in sys.modules else '')\n"
    "sys.exit(code)\n"
)


BASELINE = "python -c pass"  # the interpreter alone: the floor every command stands on


def commands(root: Path) -> dict[str, list[str] | None]:
    r = ["--data-root", str(root)]
    return {
        BASELINE: None,
        "--help": ["--help"],
        "query": ["query", "SELECT count(*) AS n FROM dim_noc", *r],
        "catalog": ["catalog", *r],
        "catalog TABLE": ["catalog", "dim_noc", *r],
        "lineage TABLE": ["lineage", "dim_noc", *r],
        "lineage --where": ["lineage", "dim_noc", "--where", "teer = 0", *r],
        "quarantine": ["quarantine", *r],
    }


def build(root: Path) -> None:
    """The bundled samples through the four layers and the catalog, in this process."""
    from jobforge_core.common.config import PipelineConfig
    from jobforge_core.run.pipeline import plan_sources, run_source
    from jobforge_core.site.refresh import refresh_catalog
    from jobforge_core.sources.spec import load_specs

    cfg = PipelineConfig(data_root=root, source_dir=REPO / "data" / "source")
    specs = load_specs()
    for plan in plan_sources(specs, cfg, None, force=True).values():
        run_source(plan, cfg)
    refresh_catalog(cfg, specs)


def measure(
    src: Path, args: list[str] | None, repeats: int
) -> tuple[list[float], list[float], bool]:
    """Wall seconds and CPU seconds (user + system of the child) per run, and whether Prefect
    was imported. CPU time barely moves with other load on the machine; wall time does."""
    env = dict(os.environ, PYTHONPATH=str(src))
    times, cpu, imported = [], [], False
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        argv = [sys.executable, "-c", "pass"] if args is None else [sys.executable, "-c", PROBE]
        done = subprocess.run(argv + (args or []), cwd=src, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{args} failed in {src}: {done.stderr[-500:]}")
        imported = done.stderr.endswith("<prefect imported>")
    return times, cpu, imported


SECTION = "cli-startup"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per command (default 7)")
    parser.add_argument(
        "--src",
        action="append",
        type=Path,
        help="a JobForge checkout to measure (repeatable; default: this one); with two, the "
        "ratio second/first is given",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("/tmp/jobforge-bench/cli"),
        help="where the sample data root is built",
    )
    parser.add_argument(
        "--write", action="store_true", help="put the table in bench/RESULTS.md (section CLI)"
    )
    args = parser.parse_args()
    root = args.work_dir / "data"
    if not (root / "jobforge.duckdb").is_file():
        build(root)
    sources = args.src or [REPO]
    load = os.getloadavg()[0]
    header = ["command"]
    header += [f"`{s}` wall s median (min) / CPU s median" for s in sources]
    header.append("Prefect imported")
    if len(sources) == 2:
        header.insert(-1, "ratio (median)")
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * len(header)) + " |"]
    for name, argv in commands(root).items():
        medians, cells, imports = [], [], []
        for src in sources:  # interleaved per command: both see the same machine load
            times, cpu, imported = measure(src, argv, args.repeats)
            medians.append(statistics.median(times))
            cells.append(f"{medians[-1]:.2f} ({min(times):.2f}) / {statistics.median(cpu):.2f}")
            imports.append("yes" if imported else "no")
        row = [f"`{name}`" if argv is None else f"`jobforge {name}`"]
        row += cells
        if len(sources) == 2:
            row.append(f"{medians[1] / medians[0]:.2f}")
        row.append(" / ".join(imports))
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    command = "python -m bench.cli_startup " + " ".join(
        [f"--repeats {args.repeats}", *(f"--src {s}" for s in args.src or [])]
    )
    section = "\n".join(
        [
            "## CLI start time (read commands)",
            "",
            f"`{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), load average "
            f"{load:.1f} at the start. Each figure: a fresh interpreter running `main()` of "
            "`flows.cli` from process start to exit, on the bundled samples' data root; median "
            f"of {args.repeats} (minimum in brackets).",
            "",
            *lines,
        ]
    )
    print(section)
    if args.write:
        write_section(SECTION, section)


if __name__ == "__main__":
    main()

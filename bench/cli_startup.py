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
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = (
    "import sys\n"
    "from flows.cli import main\n"
    "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
    "sys.stderr.write('\\n<prefect imported>' if 'prefect' in sys.modules else '')\n"
    "sys.exit(code)\n"
)


def commands(root: Path) -> dict[str, list[str]]:
    r = ["--data-root", str(root)]
    return {
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
    from jobforge_core.catalog import rebuild_catalog
    from jobforge_core.config import PipelineConfig
    from jobforge_core.pipeline import plan_sources, run_source
    from jobforge_core.spec import load_specs

    cfg = PipelineConfig(data_root=root, source_dir=REPO / "data" / "source")
    specs = load_specs()
    for plan in plan_sources(specs, cfg, None, force=True).values():
        run_source(plan, cfg)
    rebuild_catalog(cfg, specs)


def measure(src: Path, args: list[str], repeats: int) -> tuple[list[float], bool]:
    env = dict(os.environ, PYTHONPATH=str(src))
    times, imported = [], False
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PROBE, *args], cwd=src, env=env, capture_output=True, text=True
        )
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{args} failed in {src}: {done.stderr[-500:]}")
        imported = done.stderr.endswith("<prefect imported>")
    return times, imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per command (default 7)")
    parser.add_argument(
        "--src",
        action="append",
        type=Path,
        help="a JobForge checkout to measure (repeatable; default: this one)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("/tmp/jobforge-bench/cli"),
        help="where the sample data root is built",
    )
    args = parser.parse_args()
    root = args.work_dir / "data"
    if not (root / "jobforge.duckdb").is_file():
        build(root)
    sources = args.src or [REPO]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s), load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'command':<17} " + "  ".join(f"{str(s)[-28:]:>40}" for s in sources))
    for name, argv in commands(root).items():
        cells = []
        for src in sources:
            times, imported = measure(src, argv, args.repeats)
            prefect = "prefect" if imported else "no prefect"
            cells.append(
                f"median {statistics.median(times):5.2f} s, min {min(times):5.2f} s, {prefect:>10}"
            )
        print(f"{name:<17} " + "  ".join(f"{c:>40}" for c in cells))


if __name__ == "__main__":
    main()

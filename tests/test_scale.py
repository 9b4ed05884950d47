"""Issue 23: hundreds of declared sources in one `jobforge run`.

A run of more than ~50 sources failed after all its work (a read of every task run asked the
server for more than its 200-record limit). This runs 300 small declared sources through the
installed command, as a user would, with its own embedded Prefect server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from bench.many_sources import table_name, write_sources

SOURCES = 300

pytestmark = pytest.mark.slow


def test_three_hundred_declared_sources_reach_gold_and_the_catalog(tmp_path: Path):
    names = write_sources(tmp_path / "src", tmp_path / "specs", SOURCES)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PREFECT_API_URL", "PREFECT_RESULTS_LOCAL_STORAGE_PATH"}
    }
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    data_root = tmp_path / "data"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "jobforge"), "run", "--format", "json"]
        + ["--specs", str(tmp_path / "specs"), "--source-dir", str(tmp_path / "src")]
        + ["--data-root", str(data_root)]
        + [a for n in names for a in ("--source", n)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    bad = [line for line in done.stderr.splitlines() if "ERROR" in line or "Traceback" in line]
    assert not bad, "\n".join(bad)
    wanted = {table_name(i) for i in range(SOURCES)}
    built = {p.stem for p in (data_root / "gold").glob("*.parquet")}
    assert wanted <= built
    with duckdb.connect(str(data_root / "jobforge.duckdb"), read_only=True) as con:
        in_catalog = {r[0] for r in con.execute("SELECT table_name FROM catalog.tables").fetchall()}
        assert wanted <= in_catalog
    query = subprocess.run(
        [str(Path(sys.executable).parent / "jobforge"), "query", "--data-root", str(data_root)]
        + ["--format", "csv", f"SELECT count(*) AS n FROM {table_name(SOURCES - 1)}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert query.returncode == 0, query.stderr
    assert query.stdout.split() == ["n", "5"]

"""SIGTERM during `jobforge run` (a `kill`, a service manager, a cancelled CI job) stops it
as Ctrl-C does, and the next run completes.

Before: SIGTERM ended the process on the spot: no word on the console, exit 143, and the
Prefect server the command had started kept running as an orphan (parent pid 1).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

BIN = Path(sys.executable).parent / "jobforge"
COMMAND = [str(BIN)] if BIN.is_file() else [sys.executable, "-m", "flows.cli"]
SPEC = """
name: big
file: big.csv
renames: {Code: code}
types: {code: str}
default_type: int
keys: [code]
gold:
  - table: fact_big
"""


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found |= {int(c) for c in task.read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.is_file() and "\nState:\tZ" in status.read_text())


def test_sigterm_stops_the_run_and_its_server_and_a_rerun_completes(tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    n = 2_000_000
    numbers = pl.int_range(0, n, eager=True)
    pl.DataFrame(
        {"Code": numbers.cast(pl.String).str.zfill(7), "2030": numbers, "2031": numbers * 2}
    ).write_csv(source / "big.csv")
    specs = tmp_path / "my-specs"
    specs.mkdir()
    (specs / "big.yaml").write_text(SPEC, encoding="utf-8")
    root = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "JOBFORGE_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["JOBFORGE_PROGRESS"] = "never"
    args = [*COMMAND, "run", "--data-root", str(root), "--source-dir", str(source)]
    args += ["--specs", str(specs), "--source", "big"]

    run = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not list((root / "logs").glob("*.log")) and time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()
        time.sleep(0.2)
    time.sleep(1)  # the flow run is under way: the run log exists
    children = _children(run.pid)
    assert children, "the command started no server"
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert "jobforge run: interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 30
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [c for c in children if _alive(c)], "a child of the command outlived it"

    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert (
        pl.scan_parquet(root / "gold" / "fact_big.parquet").select(pl.len()).collect().item() == n
    )
    assert not [p for p in root.rglob("*.tmp*")], "a temporary file was left behind"

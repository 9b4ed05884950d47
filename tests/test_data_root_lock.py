"""One command at a time per data root, decided before anything starts (issues 25 and 26)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import SAMPLES

from jobforge_core.common.config import PipelineConfig
from jobforge_core.run.housekeeping import RunInProgress, exclusive_run

JOBFORGE = Path(sys.executable).parent / "jobforge"


def _hold(root: Path, holder: str, seconds: float) -> subprocess.Popen:
    """Another process holding the data root, as `holder` would, for `seconds`."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from jobforge_core.common.config import PipelineConfig
        from jobforge_core.run.housekeeping import exclusive_run
        with exclusive_run(PipelineConfig(data_root=Path({str(root)!r})), holder={holder!r}):
            print("held", flush=True)
            time.sleep({seconds})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_is_refused_with_exit_2_before_any_server_starts(tmp_path: Path):
    root = tmp_path / "data"
    holder = _hold(root, "jobforge run", 120)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
        env["PREFECT_HOME"] = str(tmp_path / "prefect")
        done = subprocess.run(
            [str(JOBFORGE), "run", "--data-root", str(root), "--source-dir", str(SAMPLES)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2, done.stderr
    line = f"another JobForge run holds {root.resolve()} (process {holder.pid}, jobforge run)"
    assert line in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    # Refused before Prefect's server: its database was never created.
    assert not (tmp_path / "prefect" / "prefect.db").exists()


def test_a_run_waits_for_a_short_lived_holder_and_names_a_long_one(tmp_path: Path):
    cfg = PipelineConfig(data_root=tmp_path / "data")
    docs = _hold(cfg.data_root, "jobforge docs", 1.5)
    started = time.monotonic()
    with exclusive_run(cfg, wait_short=60):
        waited = time.monotonic() - started
    docs.wait()
    assert docs.returncode == 0 and waited > 0.5  # it waited for the docs build to end
    docs = _hold(cfg.data_root, "jobforge docs", 30)
    try:
        with (
            pytest.raises(RunInProgress, match=r"process \d+, jobforge docs"),
            exclusive_run(cfg, wait_short=0.3),
        ):
            pass
    finally:
        docs.kill()
        docs.wait()


def _try_from_another_process(root: Path) -> str:
    code = (
        "from pathlib import Path\n"
        "from jobforge_core.common.config import PipelineConfig\n"
        "from jobforge_core.run.housekeeping import RunInProgress, exclusive_run\n"
        "try:\n"
        f"    with exclusive_run(PipelineConfig(data_root=Path({str(root)!r})), wait_short=0):\n"
        "        print('got it')\n"
        "except RunInProgress:\n"
        "    print('refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


def test_the_lock_is_reentrant_in_one_process_and_released_at_the_end(tmp_path: Path):
    cfg = PipelineConfig(data_root=tmp_path / "data")
    (cfg.data_root / "gold").mkdir(parents=True)
    stale = cfg.data_root / "gold" / ".dim_x.parquet.0123456789ab.tmp"
    stale.write_text("left by a killed run")
    with exclusive_run(cfg) as outer:
        with exclusive_run(cfg) as inner:  # the flow inside `jobforge run`
            assert inner == outer == [stale]
        assert _try_from_another_process(cfg.data_root) == "refused"  # still held
    assert not stale.exists()
    assert _try_from_another_process(cfg.data_root) == "got it"


def test_restore_is_refused_while_a_run_holds_the_data_root(tmp_path: Path, capsys):
    """Issue 26 item 2: a restore started 1 s into `jobforge run --force` moved layers under
    the run (gold on the old batch, state on the new, then "unchanged" forever)."""
    from helpers import run_plain

    from flows.cli import main
    from jobforge_core.site.refresh import refresh_catalog
    from jobforge_core.sources.spec import load_specs

    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=SAMPLES)
    run_plain(cfg, ["noc_structure"])
    refresh_catalog(cfg, load_specs())
    holder = _hold(cfg.data_root, "jobforge run", 120)
    try:
        code = main(["restore", "noc_structure", "--batch", "x", "--data-root", str(cfg.data_root)])
    finally:
        holder.kill()
        holder.wait()
    assert code == 2
    assert f"(process {holder.pid}, jobforge run)" in capsys.readouterr().err

"""Retries (invariant 7): I/O and lock faults retry three times with exponential backoff and
jitter; a DuckDB lock held by another process is such a fault, other DuckDB I/O errors are not."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from prefect_api import flow_run_id, task_runs

from jobforge_core.common.config import Layer
from jobforge_core.common.errors import (
    ExpectationFailed,
    ReconciliationError,
    TransientError,
    is_transient,
)
from jobforge_core.run import pipeline

HOLD_LOCK = (
    "import duckdb, sys, time\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"  # holds the file lock until the test closes stdin
)


@pytest.fixture(scope="module")
def lock_error(tmp_path_factory) -> duckdb.Error:
    """The real error DuckDB raises when another process holds the store's write lock."""
    db = tmp_path_factory.mktemp("lock") / "store.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(duckdb.Error) as err:
            duckdb.connect(str(db))
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    return err.value


def test_a_lock_held_by_another_process_is_transient(lock_error, tmp_path: Path):
    assert is_transient(lock_error), repr(lock_error)
    with pytest.raises(duckdb.Error) as missing:  # the same DuckDB error class, no lock...
        duckdb.connect(str(tmp_path / "blocked" / "absent.duckdb"), read_only=True)
    assert "lock" in str(missing.value)  # ...although its path says "lock"
    assert type(missing.value) is type(lock_error)
    assert not is_transient(missing.value)
    for permanent in (
        FileNotFoundError("x.csv"),
        IsADirectoryError("data"),
        ExpectationFailed("bad row", file="x.csv"),
        ReconciliationError("lost a row"),
        ValueError("bug"),
    ):
        assert not is_transient(permanent), permanent
    for transient in (
        TransientError("x"),
        TimeoutError(),
        ConnectionResetError(),
        OSError(5, "EIO"),
    ):
        assert is_transient(transient), transient


def _run(data_root: Path, **kwargs):
    from conftest import SAMPLES

    from flows import jobforge_flow

    return jobforge_flow(
        data_root=str(data_root), source_dir=str(SAMPLES), return_state=True, **kwargs
    )


@pytest.mark.usefixtures("prefect_harness")
def test_a_lock_error_in_a_task_is_retried_and_the_run_succeeds(tmp_path, monkeypatch, lock_error):
    real = pipeline.TRANSITIONS[Layer.SILVER]
    calls = {"n": 0}
    lock = threading.Lock()

    def locked_once(ctx):
        with lock:
            calls["n"] += 1
            first = calls["n"] == 1
        if first:
            raise lock_error
        return real(ctx)

    monkeypatch.setitem(pipeline.TRANSITIONS, Layer.SILVER, locked_once)
    state = _run(tmp_path / "data", sources=["noc_structure"])
    assert state.is_completed(), state.message
    runs = {r.name: r for r in task_runs(flow_run_id(state))}
    assert runs["silver-noc_structure"].run_count == 2


@pytest.mark.usefixtures("prefect_harness")
def test_a_persistent_fault_is_tried_four_times_with_growing_delays(tmp_path, monkeypatch):
    """Three retries; delays 0.5, 1 and 2 s with a jitter factor of 0.5, as Prefect clamps it:
    each in [0.63 x, 1.5 x] its base, so the last is always longer than the first."""
    from prefect.client.orchestration import get_client

    def always_busy(ctx):
        raise TransientError("storage busy (injected)")

    monkeypatch.setitem(pipeline.TRANSITIONS, Layer.BRONZE, always_busy)
    state = _run(tmp_path / "data", sources=["noc_structure"])
    assert state.is_failed()
    runs = {r.name: r for r in task_runs(flow_run_id(state))}
    bronze = runs["bronze-noc_structure"]
    assert bronze.run_count == 4 and bronze.state.is_failed()
    with get_client(sync_client=True) as client:
        states = client.read_task_run_states(bronze.id)
    waits = sorted((s for s in states if s.name == "AwaitingRetry"), key=lambda s: s.timestamp)
    delays = [(s.state_details.scheduled_time - s.timestamp).total_seconds() for s in waits]
    assert len(delays) == 3, delays
    for delay, base in zip(delays, (0.5, 1.0, 2.0), strict=True):
        assert 0.6 * base <= delay <= 1.5 * base + 0.05, delays
    assert "silver-noc_structure" not in runs  # nothing ran after it, nothing left pending

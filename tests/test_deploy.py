"""Issue 5: a real `prefect server`, the work pool, `prefect deploy --all`, a worker run.

Everything started here is stopped here; each step has a time bound.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from conftest import REPO, SAMPLES
from helpers import run_plain

from jobforge_core.config import PipelineConfig

SERVER_START = 120
STEP = 180
WORKER = 420


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prefect(env: dict[str, str], *args: str, timeout: float = STEP) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group twice (a Prefect worker wants two), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "jobforge",
        "JOBFORGE_HOME": str(REPO),
    }
    env.pop("PREFECT_RESULTS_LOCAL_STORAGE_PATH", None)
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + SERVER_START
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (home / "server.log").read_text()
            assert time.monotonic() < deadline, "prefect server did not start in time"
            time.sleep(0.5)
        yield env
    finally:
        _stop(proc)
        log.close()


def _api(env: dict[str, str], path: str, body: dict) -> list | dict:
    req = urllib.request.Request(
        env["PREFECT_API_URL"] + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_deploy_and_run_the_full_pipeline_on_a_worker(server, tmp_path):
    env = server
    _prefect(env, "work-pool", "create", "jobforge-process", "--type", "process")
    out = _prefect(env, "--no-prompt", "deploy", "--all")
    assert "jobforge/nightly" in out and "medallion/single-source" in out
    deployments = _api(env, "/deployments/filter", {})
    by_name = {d["name"]: d for d in deployments}
    assert set(by_name) == {"nightly", "single-source", "catalog"}
    nightly = by_name["nightly"]
    assert nightly["work_pool_name"] == "jobforge-process"
    assert [s["active"] for s in nightly["schedules"]] == [False]  # nightly, inactive by default
    schedule = nightly["schedules"][0]["schedule"]
    assert (schedule["cron"], schedule["timezone"]) == ("0 3 * * *", "America/Toronto")
    assert "full-pipeline" in nightly["tags"]

    # One worker poll runs the three deployments: the full pipeline, one source, the catalog
    # (on a data root whose tables were built without it).
    params = {"data_root": str(tmp_path / "data"), "source_dir": str(SAMPLES)}
    run_out = _prefect(env, "deployment", "run", "jobforge/nightly", "--params", json.dumps(params))
    assert "Created flow run" in run_out
    single = {"source": "noc_structure", "data_root": str(tmp_path / "single")}
    single["source_dir"] = str(SAMPLES)
    _prefect(env, "deployment", "run", "medallion/single-source", "--params", json.dumps(single))
    catalog_root = tmp_path / "cat"
    run_plain(PipelineConfig(data_root=catalog_root, source_dir=SAMPLES), ["noc_structure"])
    assert not (catalog_root / "jobforge.duckdb").exists()
    catalog = {"data_root": str(catalog_root)}
    _prefect(env, "deployment", "run", "catalog/catalog", "--params", json.dumps(catalog))
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            "jobforge-process",
            "--run-once",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = worker.communicate(timeout=WORKER)
    finally:
        _stop(worker)
    runs = {}
    for name in ("nightly", "single-source", "catalog"):
        deployment = {"deployments": {"id": {"any_": [by_name[name]["id"]]}}}
        (runs[name],) = _api(env, "/flow_runs/filter", deployment)
        assert runs[name]["state_type"] == "COMPLETED", (name, output[-4000:])
    run = runs["nightly"]
    artifacts = _api(env, "/artifacts/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    keys = {a["key"] for a in artifacts}
    assert "transition-noc-structure-gold" in keys and "jobforge-summary" in keys
    assert len([k for k in keys if k and k.startswith("transition-")]) == 48
    logs = _api(env, "/logs/filter", {"logs": {"flow_run_id": {"any_": [run["id"]]}}, "limit": 200})
    messages = [entry["message"] for entry in logs]
    assert any("event='transition_completed'" in m and "rows_in=" in m for m in messages)
    assert (tmp_path / "data" / "gold" / "dim_noc.parquet").is_file()
    assert (tmp_path / "data" / "jobforge.duckdb").is_file()

    assert runs["single-source"]["name"] == "jobforge-noc_structure"
    built = sorted(p.name for p in (tmp_path / "single" / "gold").glob("*.parquet"))
    assert built == ["dim_noc.parquet", "dim_noc_structure.parquet"]  # that source only
    assert (catalog_root / "jobforge.duckdb").is_file()
    meta = json.loads((catalog_root / "catalog" / "tables" / "dim_noc.json").read_text())
    assert meta["row_count"] == 8

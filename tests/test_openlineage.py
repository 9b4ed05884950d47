"""OpenLineage: every transition is a START + COMPLETE/FAIL run, valid against the published
JSON Schemas, kept as JSON lines when no transport is configured, and never a run failure."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from helpers import run_plain
from openlineage_schema import read_jsonl, validate_events

from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.errors import DataError
from jobforge_core.common.logs import listening
from jobforge_core.history.transition_logs import read_logs
from jobforge_core.openlineage.emitter import events_file
from jobforge_core.openlineage.naming import run_id

BIN = Path(sys.executable).parent / "jobforge"
JOBFORGE = [str(BIN)] if BIN.is_file() else [sys.executable, "-m", "flows.cli"]
OL_ENV = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_NAMESPACE")


@pytest.fixture(autouse=True)
def no_openlineage_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test states its own configuration: none from the developer's environment; and
    none left behind for later tests (the client must not add variables of its own)."""
    before = {n for n in os.environ if n.startswith("OPENLINEAGE")}
    for name in list(os.environ):
        if name in OL_ENV or name.startswith("OPENLINEAGE__"):
            monkeypatch.delenv(name)
    # HOME stays: changing it under a running Prefect makes Prefect set its logging up again
    # (every jobforge record then reaches the root logger twice, for the rest of the session).
    assert not (Path.home() / ".openlineage" / "openlineage.yml").exists()
    assert not Path("openlineage.yml").exists()
    yield
    monkeypatch.undo()
    leaked = {n for n in os.environ if n.startswith("OPENLINEAGE")} - before
    assert not leaked, f"OpenLineage variables left in the environment: {leaked}"


def by_run(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        runs[event["run"]["runId"]].append(event)
    return runs


def assert_pairs(events: list[dict[str, Any]], logs: list[Any]) -> None:
    """One START then one COMPLETE (or FAIL) per transition log, under the log's run id."""
    runs = by_run(events)
    assert set(runs) == {run_id(log.transition_id) for log in logs}
    for log in logs:
        pair = runs[run_id(log.transition_id)]
        ending = "FAIL" if log.status == "failed" else "COMPLETE"
        assert [e["eventType"] for e in pair] == ["START", ending], log.transition_id
        assert {e["job"]["name"] for e in pair} == {f"{log.source_name}.{log.target_layer}"}
        assert {e["job"]["namespace"] for e in pair} == {"jobforge"}


def test_sample_run_events_validate(sample_flow_run) -> None:
    """`jobforge run` on every sample, nothing configured: the events are JSON lines under the
    data root, each valid against the OpenLineage schemas, paired per transition, and each
    run's parent is the Prefect flow run the transition log names."""
    data_root, code, flow_run = sample_flow_run
    assert code == 0
    events = read_jsonl(data_root / "openlineage" / "events.jsonl")
    validate_events(events)
    logs = list(read_logs(PipelineConfig(data_root=data_root)))
    assert_pairs(events, logs)
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in events}
    assert parents == {str(flow_run)}
    assert {e["run"]["facets"]["parent"]["job"]["name"] for e in events} == {"jobforge"}
    job_types = {json.dumps(e["job"]["facets"]["jobType"], sort_keys=True) for e in events}
    assert len(job_types) == 1
    assert json.loads(job_types.pop())["integration"] == "JOBFORGE"


def test_plain_run_keeps_events_and_facets(cfg: PipelineConfig) -> None:
    """The core alone (no Prefect) emits too: the source file with its SHA-256, each layer's
    parquet with schema, statistics and null counts, the silver expectations as assertions."""
    logs = run_plain(cfg, ["noc_structure"])["noc_structure"]
    events = read_jsonl(events_file(cfg))
    validate_events(events)
    assert_pairs(events, logs)
    staged_end = next(
        e
        for e in events
        if e["job"]["name"] == "noc_structure.staged" and e["eventType"] == "COMPLETE"
    )
    (source,) = staged_end["inputs"]
    assert source["namespace"] == "file"
    assert source["name"] == str(cfg.resolved_source_dir() / "noc_structure_en.csv")
    assert source["facets"]["version"]["datasetVersion"] == logs[0].source_sha256
    (staged,) = staged_end["outputs"]
    assert staged["name"] == str(cfg.table_path("staged", "noc_structure"))
    assert staged["outputFacets"]["outputStatistics"]["rowCount"] == logs[0].row_count_out
    assert staged["facets"]["symlinks"]["identifiers"][0]["name"] == "staged.noc_structure"
    silver_end = next(
        e
        for e in events
        if e["job"]["name"] == "noc_structure.silver" and e["eventType"] == "COMPLETE"
    )
    assertions = silver_end["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert {a["name"] for a in assertions} >= {"null_key", "duplicate_key", "regex_code"}
    assert all(a["success"] for a in assertions)
    out = silver_end["outputs"][0]
    metrics = out["facets"]["dataQualityMetrics"]
    assert metrics["rowCount"] == logs[2].row_count_out
    assert set(metrics["columnMetrics"]) == {f["name"] for f in out["facets"]["schema"]["fields"]}
    assert out["facets"]["ownership"]["owners"][0]["type"] == "OWNER"


def test_disabled_writes_nothing(cfg: PipelineConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    run_plain(cfg, ["noc_structure"])
    assert not events_file(cfg).exists()


def test_quarantined_file_is_a_fail_event(cfg: PipelineConfig, source_copy: Path) -> None:
    """An empty file: START then FAIL at staged, with the error message and the file
    quarantine as an output carrying the custom quarantine facet."""
    (source_copy / "noc_structure_en.csv").write_bytes(b"")
    cfg = cfg.model_copy(update={"source_dir": source_copy})
    with pytest.raises(DataError):
        run_plain(cfg, ["noc_structure"])
    events = read_jsonl(events_file(cfg))
    validate_events(events)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    fail = events[1]
    assert "file is empty" in fail["run"]["facets"]["errorMessage"]["message"]
    quarantine = [o for o in fail["outputs"] if "jobforge_quarantine" in o["facets"]]
    assert [o["name"] for o in quarantine] == [str(cfg.quarantine_path() / "files")]
    facet = quarantine[0]["facets"]["jobforge_quarantine"]
    assert facet["fileQuarantined"] is True
    assert facet["_schemaURL"].startswith("https://jobforge.invalid/spec/facets/1-0-0/")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_is_a_warning(
    cfg: PipelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens at the configured URL: the run succeeds, the log says it once as a
    warning, and every event is kept in the JSON lines file (valid, replayable)."""
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY", '{"total": 0, "connect": 0}')
    seen: list[dict[str, Any]] = []
    with listening(seen.append):
        logs = run_plain(cfg, ["noc_structure"])["noc_structure"]
    assert all(log.status == "success" for log in logs)
    warnings = [e for e in seen if e["event"] == "openlineage_not_delivered"]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert str(events_file(cfg)) in warnings[0]["hint"]
    events = read_jsonl(events_file(cfg))
    validate_events(events)
    assert_pairs(events, logs)


class LineageServer:
    """A real HTTP server on 127.0.0.1 that accepts OpenLineage events (as Marquez does)."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []
        paths = self.paths = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                paths.append(self.path)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def lineage_server() -> Iterator[LineageServer]:
    server = LineageServer()
    yield server
    server.close()


def _field(lineage: dict[str, Any], column: str) -> set[tuple[str, str, str]]:
    return {
        (Path(f["name"]).name, f["field"], f["transformations"][0]["subtype"])
        for f in lineage["fields"][column]["inputFields"]
    }


def test_http_transport_pipeline_run(
    prefect_harness,
    tmp_path: Path,
    source_copy: Path,
    lineage_server: LineageServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`jobforge run` with OPENLINEAGE_URL at a real server: a START/COMPLETE pair per
    transition, the datasets of each layer, the column lineage of fact_cops_employment, and a
    FAIL event for a quarantined (empty) file; then `jobforge openlineage export` replays the
    kept logs as the very same events."""
    from flows.cli import main

    (source_copy / "retirements_retraites_2024_2033_noc2021.csv").write_bytes(b"")
    monkeypatch.setenv("OPENLINEAGE_URL", lineage_server.url)
    data_root = tmp_path / "data"
    sources = ["noc_structure", "cops_employment", "cops_retirements"]
    args = ["run", "--data-root", str(data_root), "--source-dir", str(source_copy)]
    code = main([*args, *(a for s in sources for a in ("--source", s))])
    assert code == 1  # cops_retirements is quarantined; the others succeed
    events = list(lineage_server.received)
    assert set(lineage_server.paths) == {"/api/v1/lineage"}
    assert not (data_root / "openlineage" / "events.jsonl").exists()  # all delivered
    validate_events(events)
    cfg = PipelineConfig(data_root=data_root, source_dir=source_copy)
    logs = list(read_logs(cfg))
    assert_pairs(events, logs)
    jobs = {(e["job"]["name"], e["eventType"]) for e in events}
    for source in ("noc_structure", "cops_employment"):
        for layer in ("staged", "bronze", "silver", "gold"):
            assert {(f"{source}.{layer}", "START"), (f"{source}.{layer}", "COMPLETE")} <= jobs
    assert ("cops_retirements.staged", "FAIL") in jobs
    assert not any(name.startswith("cops_retirements.bronze") for name, _ in jobs)

    def ending(job: str) -> dict[str, Any]:
        (event,) = [e for e in events if e["job"]["name"] == job and e["eventType"] != "START"]
        return event

    fail = ending("cops_retirements.staged")
    assert fail["eventType"] == "FAIL"
    assert "file is empty" in fail["run"]["facets"]["errorMessage"]["message"]
    (quarantine,) = [o for o in fail["outputs"] if "jobforge_quarantine" in o["facets"]]
    assert quarantine["name"] == str(cfg.quarantine_path() / "files")
    assert quarantine["facets"]["jobforge_quarantine"]["fileQuarantined"] is True

    gold = ending("cops_employment.gold")
    assert [i["name"] for i in gold["inputs"]] == [
        str(cfg.table_path("silver", "cops_employment")),
        str(cfg.table_path("gold", "dim_noc")),
    ]
    outputs = {o["name"]: o for o in gold["outputs"]}
    fact = outputs[str(cfg.table_path("gold", "fact_cops_employment"))]
    assert str(cfg.table_path("gold", "agg_cops_employment")) in outputs
    rows = next(
        log for log in logs if log.source_name == "cops_employment" and log.target_layer == "gold"
    )
    assert (
        fact["outputFacets"]["outputStatistics"]["rowCount"]
        == rows.rows_by_table["fact_cops_employment"]
    )
    assert [f["name"] for f in fact["facets"]["schema"]["fields"]][:3] == [
        "noc_code",
        "year",
        "employment",
    ]
    lineage = fact["facets"]["columnLineage"]
    silver_columns = pq.read_schema(cfg.table_path("silver", "cops_employment")).names
    years = {c for c in silver_columns if re.fullmatch(r"\d{4}", c)}
    assert len(years) == 11  # 2023 (the base year) to 2033
    silver = "cops_employment.parquet"
    assert _field(lineage, "noc_code") == {(silver, "code", "IDENTITY")}
    assert _field(lineage, "employment") == {(silver, y, "IDENTITY") for y in years}
    assert _field(lineage, "year") == {(silver, y, "TRANSFORMATION") for y in years}
    whole = {
        (Path(f["name"]).name, f["field"], f["transformations"][0]["subtype"])
        for f in lineage["dataset"]
    }
    assert {(silver, "code", "FILTER"), ("dim_noc.parquet", "noc_code", "FILTER")} <= whole
    parent = {e["run"]["facets"]["parent"]["run"]["runId"] for e in events}
    assert parent == {log.flow_run_id for log in logs}

    # Replay: the kept logs give back the events the run sent, byte for byte as JSON.
    lineage_server.received.clear()
    env = {**os.environ, "OPENLINEAGE_URL": lineage_server.url}
    done = subprocess.run(
        [*JOBFORGE, "openlineage", "export", "--data-root", str(data_root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    replayed = list(lineage_server.received)
    key = lambda e: (e["run"]["runId"], e["eventType"])  # noqa: E731
    assert sorted(replayed, key=key) == sorted(events, key=key)


def test_export_to_file_and_refusals(cfg: PipelineConfig, tmp_path: Path) -> None:
    """`jobforge openlineage export --output -` gives back the events the run kept (same
    JSON, START times included); without a transport or --output it refuses (exit 2)."""
    run_plain(cfg, ["noc_structure"])
    kept = read_jsonl(events_file(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    base = [*JOBFORGE, "openlineage", "export", "--data-root", str(cfg.data_root)]
    done = subprocess.run(
        [*base, "--output", "-"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    replayed = [json.loads(line) for line in done.stdout.splitlines()]
    assert replayed == kept
    assert "8 events of 4 transitions" in done.stderr
    refused = subprocess.run(base, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert "no OpenLineage transport configured" in refused.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = subprocess.run(
        [*JOBFORGE, "openlineage", "export", "--data-root", str(empty), "--output", "-"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert nothing.returncode == 1 and "no transition logs" in nothing.stderr


def test_client_not_imported_until_an_event_is_built() -> None:
    """The CLI and the core load without the OpenLineage client (start time)."""
    probe = (
        "import sys, flows.cli, jobforge_core.run.pipeline, jobforge_core.openlineage.emitter\n"
        "flows.cli.build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith('openlineage')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_broken_client_configuration_never_fails_a_run(
    cfg: PipelineConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An openlineage.yml naming a transport the client does not know: the run succeeds, one
    warning says so, and the events are kept in the JSON lines file."""
    config = tmp_path / "openlineage.yml"
    config.write_text("transport:\n  type: no-such-transport\n", encoding="utf-8")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    seen: list[dict[str, Any]] = []
    with listening(seen.append):
        logs = run_plain(cfg, ["noc_structure"])["noc_structure"]
    assert all(log.status == "success" for log in logs)
    assert [e["event"] for e in seen if e.get("level") == "warning"] == [
        "openlineage_config_invalid"
    ]
    events = read_jsonl(events_file(cfg))
    validate_events(events)
    assert_pairs(events, logs)

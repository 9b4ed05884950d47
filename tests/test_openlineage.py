"""OpenLineage: every transition is a START + COMPLETE/FAIL run, valid against the published
JSON Schemas, kept as JSON lines when no transport is configured, and never a run failure."""

from __future__ import annotations

import json
import socket
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from helpers import run_plain
from openlineage_schema import read_jsonl, validate_events

from jobforge_core.config import PipelineConfig
from jobforge_core.errors import DataError
from jobforge_core.lineage import read_logs
from jobforge_core.logs import listening
from jobforge_core.openlineage.emitter import events_file
from jobforge_core.openlineage.naming import run_id

OL_ENV = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_NAMESPACE")


@pytest.fixture(autouse=True)
def no_openlineage_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test states its own configuration: none from the developer's environment."""
    import os

    for name in list(os.environ):
        if name in OL_ENV or name.startswith("OPENLINEAGE__"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.openlineage/openlineage.yml
    monkeypatch.chdir(tmp_path)  # no ./openlineage.yml


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

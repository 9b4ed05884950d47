"""The pipeline as Prefect flows: artifacts, file quarantine, skip, retries, CLI exit codes."""

from __future__ import annotations

import json
import threading
from datetime import UTC
from pathlib import Path

import polars as pl
import pytest
from prefect_api import artifacts, events, flow_run_id, logs, task_artifacts, task_runs

from flows.summary import RunFailed, run_outcome
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import TransientError
from jobforge_core.run import pipeline
from jobforge_core.sources.spec import load_specs

pytestmark = pytest.mark.usefixtures("prefect_harness")

SOME = ["noc_structure", "cops_employment"]


def _run(data_root: Path, source_dir: Path, **kwargs):
    from flows import jobforge_flow

    return jobforge_flow(
        data_root=str(data_root), source_dir=str(source_dir), return_state=True, **kwargs
    )


def test_flow_publishes_one_artifact_per_transition_and_the_summaries(sample_flow_run):
    from prefect.client.orchestration import get_client

    data_root, code, run_id = sample_flow_run
    assert code == 0
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    assert run.state.is_completed()
    stamp = run.expected_start_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run.name == f"jobforge-all-sources-{stamp}"  # what ran, and when
    # What kind of run it is, readable on the run's page whatever the number of sources.
    assert {"jobforge", "all-sources", "domain:oasis"} <= set(run.tags)
    assert len(run.tags) <= 6 and not any(t.startswith("source:") for t in run.tags)
    top = {a.key: a for a in artifacts(run_id)}
    assert set(top) == {"jobforge-summary", "jobforge-transitions", "jobforge-catalog"}
    found = top | {a.key: a for a in task_artifacts(run_id)}
    sources = sorted(load_specs())
    assert len(sources) >= 12
    # Posted by the tasks (tasks/artifacts.py), each on the page of the task run that made it.
    made_by = {r.id: r.name for r in task_runs(run_id)}
    for source in sources:
        for lyr in Layer:
            key = f"transition-{source.replace('_', '-')}-{lyr.value}"
            assert key in found, key
            row = json.loads(found[key].data)[0]
            assert row["source"] == source and row["status"] == "success"
            prefix = "stage" if lyr is Layer.STAGED else lyr.value
            assert made_by[found[key].task_run_id] == f"{prefix}-{source}", key
    table = json.loads(found["jobforge-transitions"].data)
    assert len(table) == 4 * len(sources)
    summary = found["jobforge-summary"]
    assert summary.type == "markdown"
    assert "| noc_structure | success | 21 | 21 | 21 | 2 table(s) | 0 |" in summary.data
    assert "- `noc_structure`: dim_noc_structure 21, dim_noc 8" in summary.data
    assert found["jobforge-transitions"].type == "table"
    assert "dim_noc" in found["jobforge-catalog"].data
    messages = logs(run_id)
    assert any(
        "event='transition_completed'" in m and "source='noc_structure'" in m for m in messages
    )


def test_unreadable_source_is_quarantined_and_the_others_reach_gold(tmp_path, source_copy):
    from flows.cli import main

    (source_copy / "employment_emploi_2024_2033_noc2021.csv").write_bytes(b"\x00\x01garbage" * 100)
    code = main(
        ["run", "--data-root", str(tmp_path / "data"), "--source-dir", str(source_copy)]
        + [a for s in [*SOME, "cops_retirements"] for a in ("--source", s)]
    )
    assert code == 1
    cfg = PipelineConfig(data_root=tmp_path / "data")
    assert cfg.table_path(Layer.GOLD, "fact_cops_retirements").exists()
    assert cfg.table_path(Layer.GOLD, "dim_noc").exists()
    assert not cfg.table_path(Layer.GOLD, "fact_cops_employment").exists()
    (report,) = (cfg.quarantine_path() / "files").glob("*/error.json")
    body = json.loads(report.read_text())
    assert body["source"] == "cops_employment" and "binary" in body["message"]
    assert "employment_emploi_2024_2033_noc2021.csv" in body["message"]


def test_rerun_of_unchanged_sources_is_skipped_and_force_reprocesses(tmp_path):
    from conftest import SAMPLES
    from prefect.client.orchestration import get_client

    first = _run(tmp_path / "data", SAMPLES, sources=SOME)
    cfg = PipelineConfig(data_root=tmp_path / "data")
    gold = pl.read_parquet(cfg.table_path(Layer.GOLD, "fact_cops_employment"))
    second = _run(tmp_path / "data", SAMPLES, sources=SOME)
    statuses = {s["source"]: s["status"] for s in second.result()["sources"]}
    assert statuses == dict.fromkeys(SOME, "unchanged")
    assert not task_runs(flow_run_id(second))
    again = pl.read_parquet(cfg.table_path(Layer.GOLD, "fact_cops_employment"))
    assert again.equals(gold)  # nothing duplicated, nothing rewritten
    forced = _run(tmp_path / "data", SAMPLES, sources=SOME, force=True)
    assert {s["status"] for s in forced.result()["sources"]} == {"success"}
    with get_client(sync_client=True) as client:
        name = client.read_flow_run(flow_run_id(forced)).name
    assert name.startswith("jobforge-noc_structure+cops_employment-forced-20")
    names = sorted(r.name for r in task_runs(flow_run_id(forced)))
    assert len(names) == 9 and names.count("catalog") == 1
    after = pl.read_parquet(cfg.table_path(Layer.GOLD, "fact_cops_employment"))
    assert len(after) == len(gold)
    assert first.result()["sources"][0]["batch_id"] == forced.result()["sources"][0]["batch_id"]


def test_transient_error_is_retried_and_the_run_succeeds(tmp_path, monkeypatch):
    from conftest import SAMPLES

    real = pipeline.TRANSITIONS[Layer.BRONZE]
    calls = {"n": 0}
    lock = threading.Lock()

    def flaky(ctx):
        with lock:
            calls["n"] += 1
            first = calls["n"] == 1
        if first:
            raise TransientError("storage briefly unavailable (injected)")
        return real(ctx)

    monkeypatch.setitem(pipeline.TRANSITIONS, Layer.BRONZE, flaky)
    state = _run(tmp_path / "data", SAMPLES, sources=["noc_structure"])
    assert state.is_completed(), state.message
    runs = {r.name: r for r in task_runs(flow_run_id(state))}
    assert runs["bronze-noc_structure"].run_count == 2
    assert runs["stage-noc_structure"].run_count == 1


def test_data_error_is_not_retried(tmp_path, source_copy):
    (source_copy / "noc_structure_en.csv").write_bytes(b"")
    state = _run(tmp_path / "data", source_copy, sources=["noc_structure"])
    assert state.is_failed()
    assert "noc_structure" in state.message
    runs = {r.name: r for r in task_runs(flow_run_id(state))}
    assert runs["stage-noc_structure"].run_count == 1
    assert runs["stage-noc_structure"].state.is_failed()
    summary = run_outcome(state)["sources"][0]
    assert summary["status"] == "failed" and "empty" in summary["error"]


def test_a_failed_run_raises_a_prefect_style_failure_carrying_its_summary(tmp_path, source_copy):
    """Issue 12 item 2: the Python call raises the run's exception (was a bare TypeError)."""
    from flows import jobforge_flow

    (source_copy / "noc_structure_en.csv").write_bytes(b"")
    with pytest.raises(RunFailed) as info:
        jobforge_flow(
            data_root=str(tmp_path / "data"), source_dir=str(source_copy), sources=["noc_structure"]
        )
    assert str(info.value) == "1 source(s) failed: noc_structure"
    (summary,) = info.value.summary["sources"]
    assert summary["status"] == "failed" and summary["error"].startswith("staged: ")


def test_a_failed_dimension_skips_its_dependents_once_and_every_task_run_ends(
    tmp_path, source_copy
):
    """Issue 12 items 2 and 5: no task run left Pending/NotReady, no four second-hand errors."""
    (source_copy / "labels_oasis_2023_v1.0.csv").write_bytes(b"\x00\x01garbage" * 100)
    names = ["noc_structure", "oasis_labels", "oasis_interests", "oasis_main_duties"]
    state = _run(tmp_path / "data", source_copy, sources=names)
    assert state.is_failed()
    assert state.message == (
        "1 source(s) failed: oasis_labels; 2 skipped: oasis_interests, oasis_main_duties"
    )
    by_source = {s["source"]: s for s in run_outcome(state)["sources"]}
    assert by_source["noc_structure"]["status"] == "success"
    assert by_source["noc_structure"]["gold_tables"] == {"dim_noc_structure": 21, "dim_noc": 8}
    assert by_source["oasis_labels"]["status"] == "failed"
    assert "binary" in by_source["oasis_labels"]["error"]
    for name in ("oasis_interests", "oasis_main_duties"):
        skipped = by_source[name]
        assert skipped["status"] == "skipped" and skipped["error"] is None
        assert skipped["skipped"] == "depends on oasis_labels, which failed"
        assert set(skipped["rows"]) == {"staged", "bronze", "silver"}
    runs = task_runs(flow_run_id(state))
    assert all(r.state.is_final() for r in runs), [(r.name, r.state.name) for r in runs]
    ran = {r.name for r in runs}
    assert {"silver-oasis_interests", "gold-noc_structure", "stage-oasis_labels"} <= ran
    assert not ran & {"bronze-oasis_labels", "gold-oasis_labels", "gold-oasis_interests"}
    (summary,) = artifacts(flow_run_id(state), "jobforge-summary")
    assert "- **SKIPPED `oasis_interests`**: depends on oasis_labels, which failed" in summary.data
    assert not any("has not been built" in m for m in logs(flow_run_id(state)))


def test_quarantine_emits_an_event_readable_through_the_api(tmp_path, source_copy):
    from tasks.layers import QUARANTINE_EVENT

    (source_copy / "guide_oasis_2023_v1.0.csv").write_text("Code,Nom\nA,B\n")
    state = _run(tmp_path / "data", source_copy, sources=["oasis_guide"])
    assert state.is_failed()
    batch = run_outcome(state)["sources"][0]["batch_id"]
    found = events(QUARANTINE_EVENT, lambda e: e.payload.get("batch_id") == batch)
    assert len(found) == 1
    event = found[0]
    assert event.resource.id == "jobforge.source.oasis_guide"
    assert (
        event.payload["layer"] == "staged" and "missing required column" in event.payload["message"]
    )


@pytest.mark.usefixtures("prefect_harness")
def test_task_arguments_are_quoted_only_on_the_in_process_runner():
    """The default (thread) runner gets plans and configs quoted, so Prefect does not walk
    them per task run; a runner that pickles them gets them as they are (quoted, the Dask
    test below failed: a quote arrives on a Dask worker as a bare tuple)."""
    from prefect import flow
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.chains import unwalked
    from flows.pipeline import jobforge_flow

    assert isinstance(jobforge_flow.task_runner, ThreadPoolTaskRunner)

    @flow(task_runner=ThreadPoolTaskRunner())
    def kinds() -> list[str]:
        return [type(unwalked({"spec": 1})).__name__]

    assert kinds() == ["quote"]
    assert unwalked({"spec": 1}) == {"spec": 1}  # outside a flow


def test_dask_runner_gives_the_same_gold_tables_as_the_default_runner(tmp_path, monkeypatch):
    """`jobforge run --runner dask`: the transitions run in the Dask workers, not in this
    process (a spy on this process's transitions sees none of them), with the same result."""
    from conftest import SAMPLES

    from flows.cli import main

    names = ["noc_structure", "cops_summary", "oasis_lead_statements", "oasis_labels"]
    names.append("oasis_interests")
    default = _run(tmp_path / "threads", SAMPLES, sources=names)
    here: list[str] = []
    for lyr, real in list(pipeline.TRANSITIONS.items()):

        def spy(ctx, real=real):
            here.append(ctx.spec.name)
            return real(ctx)

        monkeypatch.setitem(pipeline.TRANSITIONS, lyr, spy)
    args = ["run", "--data-root", str(tmp_path / "dask"), "--source-dir", str(SAMPLES)]
    code = main([*args, "--runner", "dask", *[a for n in names for a in ("--source", n)]])
    assert default.is_completed() and code == 0
    assert here == []
    tables = sorted(p.name for p in (tmp_path / "threads" / "gold").glob("*.parquet"))
    assert tables == sorted(p.name for p in (tmp_path / "dask" / "gold").glob("*.parquet"))
    assert len(tables) == 7
    for name in tables:
        a = pl.read_parquet(tmp_path / "threads" / "gold" / name).drop("_ingested_at")
        b = pl.read_parquet(tmp_path / "dask" / "gold" / name).drop("_ingested_at")
        assert a.sort(a.columns).equals(b.sort(b.columns)), name

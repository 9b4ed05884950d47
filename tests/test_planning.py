"""Batch planning (DESIGN invariants 5 and 11) and the failed-source quarantine, tested directly.

A small dimension and a fact whose gold checks a foreign key against it and looks a label up
in it, built once with the plain pipeline; each test then changes one thing and reads what
`plan_sources` decides. Each condition of the unchanged-source skip has its own test, so a
mutation that drops or inverts one of them fails here in about a second (tests/MUTATION.md).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from helpers import run_plain

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import SpecError, ThresholdExceeded
from jobforge_core.common.models import RunOrigin, TransitionStatus
from jobforge_core.common.provenance import batch_id_for
from jobforge_core.history.transition_logs import read_logs
from jobforge_core.run.pipeline import (
    gold_batch,
    plan_sources,
    quarantine_failed_source,
    record_success,
    release,
    select_specs,
    source_file,
    upstream_batches,
    with_snapshot,
)
from jobforge_core.run.state import read_state
from jobforge_core.sources.spec import load_specs

DIM = """
name: dim
file: dim.csv
keys: [code]
gold:
  - table: dim_code
    model: dimension
"""
FACT = """
name: fact
file: fact_*.csv
gold:
  - table: fact_rows
    foreign_keys:
      - {column: code, references: dim_code}
    lookups:
      - {table: dim_code, key: code, ref_key: code, columns: {label: name}}
      - {table: self, key: code, ref_key: code, columns: {same: v}}
"""
OTHER = """
name: other
file: other.csv
gold:
  - table: other_rows
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dim, fact (reads dim_code) and an unrelated source, each built once per module."""
    base = tmp_path_factory.mktemp("model")
    source, specs_dir = base / "source", base / "specs"
    source.mkdir()
    specs_dir.mkdir()
    (specs_dir / "dim.yaml").write_text(DIM)
    (specs_dir / "fact.yaml").write_text(FACT)
    (specs_dir / "other.yaml").write_text(OTHER)
    (source / "dim.csv").write_text("code,name\na,Alpha\nb,Beta\n")
    (source / "fact_2024.csv").write_text("code,v\na,1\nb,2\n")
    (source / "other.csv").write_text("x\n1\n")
    cfg = PipelineConfig(data_root=base / "data", source_dir=source)
    run_plain(cfg, ["dim", "fact", "other"], [specs_dir])
    return base


@pytest.fixture
def built(model: Path, tmp_path: Path):
    """A private copy of the built model: each test may change it."""
    base = tmp_path / "model"
    shutil.copytree(model, base, symlinks=True)
    cfg = PipelineConfig(data_root=base / "data", source_dir=base / "source")
    return cfg, base / "specs"


def _plan(cfg: PipelineConfig, specs_dir: Path, names=None, **kw):
    plans = plan_sources(load_specs([specs_dir]), cfg, names, **kw)
    for plan in plans.values():
        release(plan)  # the snapshots are not needed to read the decisions
    return plans


def _ours(plans) -> dict[str, bool]:
    return {n: p.unchanged for n, p in plans.items() if n in {"dim", "fact", "other"}}


def test_an_untouched_model_is_planned_unchanged_and_not_snapshotted(built):
    cfg, specs_dir = built
    plans = plan_sources(load_specs([specs_dir]), cfg, ["dim", "fact", "other"])
    assert _ours(plans) == {"dim": True, "fact": True, "other": True}
    assert all(p.snapshot is None for p in plans.values())
    names = list(plans)
    assert names.index("dim") < names.index("fact")  # a dimension is planned before its facts
    assert len({p.ingested_at for p in plans.values()}) == 1  # one run, one ingestion time
    state = read_state(cfg, "fact")
    assert plans["fact"].batch_id == state.batch_id
    assert plans["fact"].content_sha256 == state.content_sha256
    assert plans["fact"].source_path == cfg.resolved_source_dir() / "fact_2024.csv"


def test_force_replans_everything_and_snapshots_what_will_run(built):
    cfg, specs_dir = built
    plans = plan_sources(load_specs([specs_dir]), cfg, ["dim", "other"], force=True)
    try:
        assert set(plans) == {"dim", "fact", "other"}  # a forced dimension brings its facts
        for plan in plans.values():
            assert not plan.unchanged and plan.snapshot is not None and plan.snapshot.is_file()
            assert plan.snapshot.read_bytes() == plan.source_path.read_bytes()
            assert plan.batch_id == read_state(cfg, plan.name).batch_id  # same bytes, same id
    finally:
        for plan in plans.values():
            release(plan)
    assert not list(cfg.staged_path().glob(".*snapshot*"))


def test_a_missing_gold_table_replans_its_source(built):
    cfg, specs_dir = built
    cfg.table_path(Layer.GOLD, "other_rows").unlink()
    assert _ours(_plan(cfg, specs_dir, ["other", "dim"])) == {"dim": True, "other": False}


def test_an_incomplete_state_replans_its_source(built):
    from jobforge_core.run.state import mark_incomplete

    cfg, specs_dir = built
    mark_incomplete(cfg, "other")
    assert _ours(_plan(cfg, specs_dir, ["other", "dim"])) == {"dim": True, "other": False}


def test_a_source_never_built_is_planned_changed(built):
    cfg, specs_dir = built
    (cfg.state_path() / "other.json").unlink()
    assert _ours(_plan(cfg, specs_dir, ["other", "dim"])) == {"dim": True, "other": False}


def test_a_missing_file_is_planned_changed_with_its_error(built):
    cfg, specs_dir = built
    (cfg.resolved_source_dir() / "other.csv").unlink()
    plans = _plan(cfg, specs_dir, ["other"])
    assert not plans["other"].unchanged
    assert plans["other"].content_sha256 == "missing" and "not found" in plans["other"].error


def test_a_changed_dimension_brings_its_built_dependents_along(built):
    cfg, specs_dir = built
    (cfg.resolved_source_dir() / "dim.csv").write_text("code,name\na,Alpha\nb,Beta\nc,Gamma\n")
    plans = _plan(cfg, specs_dir, ["dim"])
    assert _ours(plans) == {"dim": False, "fact": False}  # fact follows; other does not
    # naming both gives the same; naming only the fact leaves the dimension out
    assert _ours(_plan(cfg, specs_dir, ["fact"])) == {"fact": False}


def test_a_dependent_never_built_does_not_follow_a_named_dimension(built):
    cfg, specs_dir = built
    (cfg.state_path() / "fact.json").unlink()
    (cfg.resolved_source_dir() / "dim.csv").write_text("code,name\na,Alpha\n")
    assert _ours(_plan(cfg, specs_dir, ["dim"])) == {"dim": False}


def test_a_dependent_built_against_an_older_dimension_batch_follows_and_reruns(built):
    cfg, specs_dir = built
    state_path = cfg.state_path() / "fact.json"
    state = json.loads(state_path.read_text())
    assert state["upstream"] == {"dim_code": gold_batch(cfg, "dim_code")}
    state["upstream"] = {"dim_code": "dim-older"}
    state_path.write_text(json.dumps(state))
    # the dimension itself is unchanged, and the fact still follows it and re-runs
    assert _ours(_plan(cfg, specs_dir, ["dim"])) == {"dim": True, "fact": False}
    assert _ours(_plan(cfg, specs_dir, ["fact"])) == {"fact": False}


def test_an_unchanged_dependent_of_an_unchanged_dimension_stays_out(built):
    cfg, specs_dir = built
    (cfg.resolved_source_dir() / "other.csv").write_text("x\n2\n")
    assert _ours(_plan(cfg, specs_dir, ["dim", "other"])) == {"dim": True, "other": False}


def test_file_overrides_are_checked_and_used(built, tmp_path):
    cfg, specs_dir = built
    specs = load_specs([specs_dir])
    release_file = tmp_path / "fact_release.csv"
    release_file.write_text("code,v\na,7\n")
    plans = plan_sources(specs, cfg, ["fact"], files={"fact": release_file})
    try:
        assert plans["fact"].source_path == release_file and not plans["fact"].unchanged
    finally:
        release(plans["fact"])
    with pytest.raises(SpecError) as unknown:
        plan_sources(specs, cfg, ["fact"], files={"nope": release_file, "zz": release_file})
    assert str(unknown.value) == (
        f"--file for unknown source(s) ['nope', 'zz']; declared: {sorted(specs)}"
    )
    with pytest.raises(SpecError) as absent:
        plan_sources(specs, cfg, ["fact"], files={"fact": tmp_path / "gone.csv"})
    assert str(absent.value) == f"--file names no file: fact={tmp_path / 'gone.csv'}"
    with pytest.raises(SpecError) as both:
        plan_sources(specs, cfg, None, files={"other": tmp_path / "b", "fact": tmp_path / "a"})
    assert str(both.value) == f"--file names no file: fact={tmp_path / 'a'}, other={tmp_path / 'b'}"
    assert plan_sources(specs, cfg, ["other"], files={})["other"].unchanged


def test_a_spec_file_outside_the_source_directory_is_refused_naming_spec_and_file(built):
    from jobforge_core.common.fence import SourceOutsideFence

    cfg, specs_dir = built
    specs = load_specs([specs_dir])
    outside = cfg.resolved_source_dir().parent / "outside.csv"
    outside.write_text("x\n1\n")
    specs["other"] = specs["other"].model_copy(update={"file": "../outside.csv"})
    with pytest.raises(SourceOutsideFence) as refused:
        plan_sources(specs, cfg, ["other"])
    assert str(refused.value).startswith(
        f"spec 'other': file '../outside.csv' resolves to {outside}, outside the source directory"
    )
    # the operator lists its directory (JOBFORGE_ALLOWED_ROOTS): it is planned, by its path
    allowed = cfg.model_copy(update={"allowed_roots": (outside.parent,)})
    plans = plan_sources(specs, allowed, ["other"])
    try:
        assert plans["other"].source_path == outside and plans["other"].error is None
    finally:
        release(plans["other"])


def test_a_deferred_foreign_key_is_no_input_of_the_gold_step(built):
    """The back edge of a cycle is checked after the run: the table it names is not one this
    source's gold reads, so a rebuild of that table must not make this source changed."""
    from jobforge_core.sources.spec import GoldOutput

    cfg, specs_dir = built
    spec = load_specs([specs_dir])["other"]
    back = {"column": "x", "references": "dim_code", "deferred": True}
    gold = [GoldOutput.model_validate({"table": "other_rows", "foreign_keys": [back]})]
    assert upstream_batches(cfg, spec.model_copy(update={"gold": gold})) == {}


def test_select_specs_keeps_order_drops_repeats_and_names_unknowns(built):
    _, specs_dir = built
    specs = load_specs([specs_dir])
    ours = [n for n in specs if n in {"dim", "fact", "other"}]
    assert [n for n in select_specs(specs, None) if n in ours] == ours
    assert select_specs(specs, []) == list(specs)
    assert select_specs(specs, ["other", "dim", "other"]) == ["other", "dim"]
    with pytest.raises(SpecError) as unknown:
        select_specs(specs, ["zz", "dim", "aa"])
    assert str(unknown.value) == f"unknown source(s) ['aa', 'zz']; declared: {sorted(specs)}"


def test_a_glob_picks_the_newest_file_by_name_and_no_match_is_the_pattern(built):
    cfg, specs_dir = built
    spec = load_specs([specs_dir])["fact"]
    base = cfg.resolved_source_dir()
    (base / "fact_2025.csv").write_text("code,v\na,1\n")
    (base / "fact_2099.csv").mkdir()  # a directory is not a release
    (base / "fact_2010.csv").write_text("code,v\n")
    assert source_file(cfg, spec) == base / "fact_2025.csv"
    for path in base.glob("fact_*.csv"):
        if path.is_file():
            path.unlink()
    # only a directory matches: named, so that the source's error says what it is
    assert source_file(cfg, spec) == base / "fact_2099.csv"
    (base / "fact_2099.csv").rmdir()
    assert source_file(cfg, spec) == base / "fact_*.csv"
    plain = load_specs([specs_dir])["dim"]
    assert source_file(cfg, plain) == base / "dim.csv"


def test_upstream_batches_name_each_read_gold_table_but_its_own(built):
    cfg, specs_dir = built
    specs = load_specs([specs_dir])
    dim_batch = gold_batch(cfg, "dim_code")
    assert dim_batch == read_state(cfg, "dim").batch_id
    assert upstream_batches(cfg, specs["fact"]) == {"dim_code": dim_batch}
    assert upstream_batches(cfg, specs["dim"]) == {}
    assert gold_batch(cfg, "no_such_table") == "missing"
    empty = cfg.table_path(Layer.GOLD, "empty_table")
    pl.DataFrame({"_batch_id": []}, schema={"_batch_id": pl.String}).write_parquet(empty)
    assert gold_batch(cfg, "empty_table") == "unknown"


def test_record_success_writes_what_the_next_plan_compares(built):
    cfg, specs_dir = built
    plans = _plan(cfg, specs_dir, ["fact"], force=True)
    (cfg.state_path() / "fact.json").unlink()
    record_success(plans["fact"], cfg)
    state = read_state(cfg, "fact")
    spec = load_specs([specs_dir])["fact"]
    assert state.source == "fact" and state.batch_id == plans["fact"].batch_id
    assert state.content_sha256 == plans["fact"].content_sha256
    assert state.spec_fingerprint == spec.fingerprint()
    assert state.source_file == str(plans["fact"].source_path)
    assert state.gold_tables == ["fact_rows"] and state.complete
    assert state.upstream == {"dim_code": gold_batch(cfg, "dim_code")}


def test_with_snapshot_rekeys_on_the_copied_bytes_or_reports_why_not(built):
    cfg, specs_dir = built
    (plan,) = _plan(cfg, specs_dir, ["other"]).values()
    snap = with_snapshot(plan, cfg)
    try:
        assert snap.snapshot is not None and snap.snapshot.read_bytes() == b"x\n1\n"
        assert snap.batch_id == batch_id_for("other", snap.content_sha256, plan.spec.fingerprint())
        assert with_snapshot(snap, cfg) is snap  # taken once
    finally:
        release(snap)
    assert snap.snapshot.parent.name.startswith(".other.snapshot.")  # names its source
    # the file changed since it was hashed at planning: the copied bytes re-key the plan
    stale = plan.__class__(plan.spec, plan.source_path, "stale-sha", "stale-batch", False)
    fresh = with_snapshot(stale, cfg)
    try:
        assert (fresh.content_sha256, fresh.batch_id) == (snap.content_sha256, snap.batch_id)
    finally:
        release(fresh)
    broken = plan.__class__(plan.spec, plan.source_path, "h", "b", False, error="gone")
    assert with_snapshot(broken, cfg) is broken
    directory = plan.__class__(plan.spec, cfg.resolved_source_dir(), "h", "b", False)
    unreadable = with_snapshot(directory, cfg)
    assert unreadable.error == "cannot read the file: Is a directory"
    assert unreadable.snapshot is None and unreadable.fault is None
    # the staged layer cannot take the copy (here: a file where its directory should be; a
    # full disk in production): a storage fault, not a file to quarantine
    staged = cfg.staged_path()
    shutil.rmtree(staged)
    staged.write_text("not a directory")
    faulty = with_snapshot(plan, cfg)
    assert faulty.fault.startswith(f"cannot write the snapshot of other.csv under {staged}: ")
    assert faulty.snapshot is None and faulty.error is None
    assert (faulty.name, faulty.batch_id) == (plan.name, plan.batch_id)


def test_a_failed_source_gets_a_file_quarantine_a_failed_log_and_a_forced_rerun(built, tmp_path):
    cfg, specs_dir = built
    plans = plan_sources(load_specs([specs_dir]), cfg, ["other"], force=True)
    plan = plans["other"]
    kept = cfg.quarantine_path() / "silver" / "other" / "kept.parquet"
    kept.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"x": [1]}).write_parquet(kept)
    counts = {
        "row_count_in": 3,
        "row_count_out": 1,
        "row_count_quarantined": 2,
        "quarantine_files": [str(kept), str(tmp_path / "never-written.parquet")],
    }
    exc = ThresholdExceeded("too much", file="other.csv", layer="silver", rule="r", counts=counts)
    origin = RunOrigin(flow_run_id="f1", task_run_id="t1", flow_run_url="http://ui/f1")
    try:
        log = quarantine_failed_source(plan, cfg, Layer.SILVER, exc, origin)
    finally:
        release(plan)
    target = cfg.file_quarantine_dir(plan.batch_id)
    assert (target / "other.csv").read_bytes() == b"x\n1\n"  # the snapshot's bytes
    error = json.loads((target / "error.json").read_text())
    assert error["layer"] == "silver" and error["message"] == str(exc)
    assert error["source"] == "other" and error["batch_id"] == plan.batch_id
    assert log.source_name == "other" and log.batch_id == plan.batch_id
    assert (log.source_layer, log.target_layer) == ("bronze", Layer.SILVER)
    assert log.source_files == [str(plan.source_path)]
    assert (log.row_count_in, log.row_count_out, log.row_count_quarantined) == (3, 1, 2)
    assert log.quarantine_file == str(target)
    assert log.quarantine_files == [str(target), str(kept)]
    assert log.started_at == plan.ingested_at and log.completed_at >= plan.ingested_at
    assert log.status is TransitionStatus.FAILED and log.errors == [str(exc)]
    assert [(c.table_name, c.rule, c.action, c.rows) for c in log.rule_checks] == [
        ("other", "r", "fail", 2)
    ]
    assert (log.flow_run_id, log.task_run_id, log.flow_run_url) == ("f1", "t1", "http://ui/f1")
    assert [x.transition_id for x in read_logs(cfg) if x.status is TransitionStatus.FAILED] == [
        log.transition_id
    ]
    assert read_state(cfg, "other").complete is False


def test_a_plain_data_error_logs_zero_counts_and_no_rule_check(built):
    from jobforge_core.common.errors import SourceFileError

    cfg, specs_dir = built
    (plan,) = _plan(cfg, specs_dir, ["other"]).values()
    log = quarantine_failed_source(plan, cfg, Layer.STAGED, SourceFileError("empty"))
    assert (log.row_count_in, log.row_count_out, log.row_count_quarantined) == (0, 0, 0)
    assert log.rule_checks == [] and log.source_layer == "source"
    assert log.flow_run_id is None and log.quarantine_files == [log.quarantine_file]
    error = json.loads((Path(log.quarantine_file) / "error.json").read_text())
    assert error["layer"] == "staged"  # the layer it failed at, when the error names none
    assert sorted(p.name for p in Path(log.quarantine_file).iterdir()) == ["error.json"]


def test_a_failed_log_continues_its_begun_transition_and_hashes_only_a_readable_staged_file(
    built,
):
    """The FAIL event and the persisted log share the begun transition's id and start; the
    source hash is the staged log's, never the sentinel of an unreadable file."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from jobforge_core.common.errors import DataError, SourceFileError
    from jobforge_core.run.pipeline import _provisional_log

    cfg, specs_dir = built
    (plan,) = _plan(cfg, specs_dir, ["other"]).values()
    begun = _provisional_log(plan, Layer.STAGED, "t-begun", None).model_copy(
        update={"started_at": datetime(2026, 1, 2, tzinfo=UTC)}
    )
    log = quarantine_failed_source(plan, cfg, Layer.STAGED, SourceFileError("bad"), begun=begun)
    assert log.transition_id == "t-begun"
    assert log.started_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert log.source_sha256 == plan.content_sha256 and plan.content_sha256
    # a later layer reads no source file; a staged file that could not be read has no hash
    assert quarantine_failed_source(plan, cfg, Layer.SILVER, DataError("x")).source_sha256 is None
    unreadable = replace(plan, error="cannot read the file: denied")
    staged = quarantine_failed_source(unreadable, cfg, Layer.STAGED, SourceFileError("denied"))
    assert staged.source_sha256 is None
    assert staged.transition_id != "t-begun" and staged.started_at == plan.ingested_at
    # a rule without a row count is logged with zero rows, not one
    uncounted = quarantine_failed_source(plan, cfg, Layer.SILVER, DataError("x", rule="r"))
    assert [(c.rule, c.action, c.rows) for c in uncounted.rule_checks] == [("r", "fail", 0)]

"""Reconciliation, row and file quarantine, the volume guard and source state, tested directly.

The flows reach this code through whole runs; these tests pin each function's contract on
small real parquet files in milliseconds, so a mutation of any line fails a fast test
(tests/MUTATION.md): equality not a bound, temps discarded on every refusal, empty quarantine
files not kept, counts and paths reported exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from jobforge_core.checks.quarantine import commit_row_quarantine, quarantine_file, reason_counts
from jobforge_core.checks.volume_guard import quarantine_share_breach, row_drop_breach
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import ReconciliationError, ThresholdExceeded
from jobforge_core.common.models import RuleCheck, TransitionStatus
from jobforge_core.common.provenance import QUARANTINE_REASON, SOURCE_ROW
from jobforge_core.run.state import SourceState, mark_incomplete, read_state, write_state
from jobforge_core.sources.spec import SourceSpec
from jobforge_core.transitions.common import (
    checks,
    finish_log,
    guard_counts,
    reconcile_one_to_one,
    refuse_batch,
    sink_split,
)
from jobforge_core.transitions.context import BatchContext


def _spec(**extra) -> SourceSpec:
    return SourceSpec.model_validate({"name": "things", "file": "things.csv", **extra})


def _temps(tmp_path: Path, n: int = 2) -> dict[Path, Path]:
    temps = {}
    for i in range(n):
        tmp = tmp_path / f".t{i}.tmp"
        tmp.write_text("x")
        temps[tmp_path / f"t{i}.parquet"] = tmp
    return temps


# ---------------------------------------------------------------- common.py


def test_reconciliation_is_an_equality_and_a_refusal_discards_every_temp(tmp_path):
    temps = _temps(tmp_path)
    reconcile_one_to_one(Layer.SILVER, "things", 5, 3, 2, temps)  # holds: nothing happens
    assert all(t.exists() for t in temps.values())
    for rows_out, quarantined in [(3, 1), (4, 2), (5, 1), (0, 4)]:
        temps = _temps(tmp_path)
        with pytest.raises(ReconciliationError) as lost:
            reconcile_one_to_one(Layer.BRONZE, "things", 5, rows_out, quarantined, temps)
        assert not any(t.exists() for t in temps.values())
        assert str(lost.value) == (
            f"bronze things: 5 rows in but {rows_out} out + {quarantined} quarantined; "
            "nothing was written"
        )


def test_refuse_batch_drops_tables_keeps_non_empty_quarantine_and_raises(tmp_path):
    table_temps = _temps(tmp_path)
    full, empty = tmp_path / "q_full.parquet", tmp_path / "q_empty.parquet"
    full_tmp, empty_tmp = tmp_path / ".qf.tmp", tmp_path / ".qe.tmp"
    pl.DataFrame({"a": [1, 2]}).write_parquet(full_tmp)
    pl.DataFrame({"a": []}, schema={"a": pl.Int64}).write_parquet(empty_tmp)
    refuse_batch(None, table_temps, {full: full_tmp})  # no breach: nothing touched
    assert all(t.exists() for t in table_temps.values()) and full_tmp.exists()
    breach = ThresholdExceeded("too much", file="f.csv", layer="silver", rule="r", counts={})
    with pytest.raises(ThresholdExceeded) as raised:
        refuse_batch(breach, table_temps, {full: full_tmp, empty: empty_tmp})
    assert raised.value is breach
    assert not any(t.exists() for t in table_temps.values())
    assert not any(target.exists() for target in table_temps)
    assert pl.read_parquet(full)["a"].to_list() == [1, 2] and not full_tmp.exists()
    assert not empty.exists() and not empty_tmp.exists()


def test_guard_counts_are_what_the_failed_log_reports(tmp_path):
    q = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    assert guard_counts(10, 6, 4, {"r": 4}, q, {"g": 6}) == {
        "row_count_in": 10,
        "row_count_out": 6,
        "row_count_quarantined": 4,
        "rows_by_rule": {"r": 4},
        "rows_by_table": {"g": 6},
        "quarantine_files": [str(q[0]), str(q[1])],
    }
    assert guard_counts(1, 1, 0, {}, [])["rows_by_table"] == {}


def test_checks_list_each_rule_once_with_its_rows_or_zero():
    applied = [("cast", "cast"), ("range", "drop"), ("cast", "cast"), ("fk", "fk")]
    assert checks("t", applied, {"cast": 3, "other": 9}) == [
        RuleCheck(table_name="t", rule="cast", action="cast", rows=3),
        RuleCheck(table_name="t", rule="range", action="drop", rows=0),
        RuleCheck(table_name="t", rule="fk", action="fk", rows=0),
    ]


def _ctx(tmp_path: Path) -> BatchContext:
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path)
    return BatchContext(cfg, _spec(), tmp_path / "things.csv", "sha", "things-abc")


def test_finish_log_records_every_count_path_and_status(tmp_path):
    ctx = _ctx(tmp_path)
    started = datetime(2026, 1, 2, tzinfo=UTC)
    targets = [tmp_path / "g1.parquet", tmp_path / "g2.parquet"]
    q = tmp_path / "q.parquet"
    check = RuleCheck(table_name="g1", rule="fk", action="fk", rows=1)
    log = finish_log(
        ctx,
        started,
        source_layer=Layer.SILVER,
        target_layer=Layer.GOLD,
        source_files=["silver/things.parquet"],
        targets=targets,
        rows_in=5,
        rows_out=4,
        rows_quarantined=1,
        rows_by_rule={"fk": 1},
        quarantine=q,
        transforms=["fact:g1"],
        rows_by_table={"g1": 3, "g2": 1},
        warnings=["w"],
        quarantine_files=[q, tmp_path / "q2.parquet"],
        rule_checks=[check],
    )
    assert log.source_name == "things" and log.batch_id == "things-abc"
    assert log.source_layer == "silver" and log.target_layer is Layer.GOLD
    assert log.source_files == ["silver/things.parquet"]
    assert log.target_file == str(targets[0])
    assert log.target_files == [str(t) for t in targets]
    assert (log.row_count_in, log.row_count_out, log.row_count_quarantined) == (5, 4, 1)
    assert log.rows_by_rule == {"fk": 1} and log.rows_by_table == {"g1": 3, "g2": 1}
    assert log.quarantine_file == str(q)
    assert log.quarantine_files == [str(q), str(tmp_path / "q2.parquet")]
    assert log.transforms_applied == ["fact:g1"]
    assert log.started_at == started and log.completed_at is not None
    assert log.completed_at > started
    assert log.status is TransitionStatus.PARTIAL
    assert log.errors == ["w"] and log.rule_checks == [check]


def test_finish_log_defaults_a_clean_transition_to_success(tmp_path):
    ctx = _ctx(tmp_path)
    common = dict(
        source_layer=Layer.STAGED,
        target_layer=Layer.BRONZE,
        source_files=["s"],
        rows_in=2,
        rows_out=2,
        rows_quarantined=0,
        rows_by_rule={},
        transforms=[],
    )
    log = finish_log(ctx, datetime.now(UTC), targets=[], quarantine=None, **common)
    assert log.status is TransitionStatus.SUCCESS
    assert log.target_file is None and log.target_files == []
    assert log.quarantine_file is None and log.quarantine_files == []
    assert log.rows_by_table == {} and log.errors == [] and log.rule_checks == []
    q = tmp_path / "q.parquet"
    only = finish_log(ctx, datetime.now(UTC), targets=[q], quarantine=q, **common)
    assert only.quarantine_files == [str(q)]  # the single quarantine, when no list is given


def test_sink_split_writes_good_rows_then_quarantines_only_the_held_back_ones(tmp_path):
    source = tmp_path / "source.parquet"
    pl.DataFrame({SOURCE_ROW: [1, 2, 3, 4, 5], "v": [1, -1, 3, -4, 5]}).write_parquet(source)

    calls = []

    def split(lf: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        calls.append(lf)
        good = lf.filter(pl.col("v") > 0)
        bad = lf.filter(pl.col("v") < 0).with_columns(pl.lit("neg").alias(QUARANTINE_REASON))
        return good, bad

    target, quarantine = tmp_path / "out.parquet", tmp_path / "q.parquet"
    temps = sink_split(pl.scan_parquet(source), split, source, target, quarantine)
    assert set(temps) == {target, quarantine}
    assert pl.read_parquet(temps[target])[SOURCE_ROW].to_list() == [1, 3, 5]
    assert pl.read_parquet(temps[quarantine])[SOURCE_ROW].to_list() == [2, 4]
    # the second pass reads only the two rows the first held back
    assert calls[1].collect()[SOURCE_ROW].to_list() == [2, 4]
    assert not target.exists() and not quarantine.exists()  # temps only: the caller commits


def test_sink_split_discards_its_temps_when_the_second_pass_fails(tmp_path):
    source = tmp_path / "source.parquet"
    pl.DataFrame({SOURCE_ROW: [1, 2], "v": [1, -1]}).write_parquet(source)
    passes = []

    def split(lf: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        passes.append(1)
        if len(passes) == 2:
            raise RuntimeError("second pass")
        return lf.filter(pl.col("v") > 0), lf.filter(pl.col("v") < 0)

    with pytest.raises(RuntimeError, match="second pass"):
        sink_split(pl.scan_parquet(source), split, source, tmp_path / "o.parquet", tmp_path / "q")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.parquet"]


# ---------------------------------------------------------------- quarantine.py


def test_commit_row_quarantine_keeps_only_files_with_rows(tmp_path):
    target, tmp = tmp_path / "q.parquet", tmp_path / ".q.tmp"
    pl.DataFrame({"a": [1, 2, 3]}).write_parquet(tmp)
    assert commit_row_quarantine(tmp, target) == 3
    assert pl.read_parquet(target).height == 3 and not tmp.exists()
    # a re-run of the same batch that now quarantines nothing removes the old file
    pl.DataFrame({"a": []}, schema={"a": pl.Int64}).write_parquet(tmp)
    assert commit_row_quarantine(tmp, target) == 0
    assert not target.exists() and not tmp.exists()


def test_quarantine_file_copies_the_snapshot_beside_an_error_report(tmp_path):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path)
    snapshot = tmp_path / "snap.bin"
    snapshot.write_bytes(b"a,b\n1,\x00\n")
    report = {"exception": "SourceFileError", "message": "bad", "row": 2}
    target = quarantine_file(
        cfg,
        source_name="things",
        batch_id="things-1",
        source_path=Path("/src/things.csv"),
        report=report,
        copy_from=snapshot,
    )
    assert target == cfg.file_quarantine_dir("things-1") and target.is_dir()
    assert (target / "things.csv").read_bytes() == b"a,b\n1,\x00\n"  # named as the source
    error = json.loads((target / "error.json").read_text())
    quarantined_at = datetime.fromisoformat(error.pop("quarantined_at"))
    assert quarantined_at.tzinfo is not None
    assert error == {
        "source": "things",
        "batch_id": "things-1",
        "source_file": "/src/things.csv",
        **report,
    }
    assert sorted(p.name for p in target.iterdir()) == ["error.json", "things.csv"]


def test_quarantine_file_without_readable_bytes_writes_only_the_report(tmp_path):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path)
    for copy_from in (None, tmp_path / "missing.csv", tmp_path):
        target = quarantine_file(
            cfg,
            source_name="things",
            batch_id="b",
            source_path=tmp_path / "things.csv",
            report={"message": "cannot read"},
            copy_from=copy_from,
        )
        assert [p.name for p in target.iterdir()] == ["error.json"]


def test_reason_counts_counts_rows_per_reason(tmp_path):
    path = tmp_path / "q.parquet"
    reasons = ["cast_error", "foreign_key", "cast_error", "cast_error"]
    pl.DataFrame({QUARANTINE_REASON: reasons, "x": [1, 2, 3, 4]}).write_parquet(path)
    assert reason_counts(path) == {"cast_error": 3, "foreign_key": 1}


# ---------------------------------------------------------------- volume_guard.py


def _share_breach(spec: SourceSpec, layer: Layer, out: int, quarantined: int):
    return quarantine_share_breach(
        spec,
        layer,
        file="things.csv",
        rows_out=out,
        rows_quarantined=quarantined,
        rows_by_rule={"range": quarantined - 1, "cast_error": 1} if quarantined else {},
        counts={"row_count_quarantined": quarantined},
    )


def test_the_quarantine_share_is_crossed_only_above_its_limit():
    spec = _spec(thresholds={"max_quarantine_share": {"silver": 0.25}})
    assert _share_breach(spec, Layer.SILVER, 3, 1) is None  # exactly 25%: allowed
    assert _share_breach(spec, Layer.SILVER, 0, 0) is None  # nothing handled
    breach = _share_breach(spec, Layer.SILVER, 5, 2)  # 2 of 7 = 28.6%
    assert isinstance(breach, ThresholdExceeded)
    assert str(breach) == (
        "file things.csv: threshold max_quarantine_share.silver = 0.25 crossed: 2 of 7 rows "
        "(28.6%) quarantined (by rule: cast_error 1, range 1); the silver table and the "
        "previous gold are kept, the quarantine is written. If this is expected, raise "
        "`thresholds: {max_quarantine_share: ...}` in the spec"
    )
    assert (breach.file, breach.layer, breach.rule, breach.rows) == (
        "things.csv",
        "silver",
        "max_quarantine_share",
        2,
    )
    assert breach.counts == {"row_count_quarantined": 2}
    # another layer falls back to the default share (10%)
    assert _share_breach(spec, Layer.BRONZE, 10, 1) is None
    assert _share_breach(spec, Layer.BRONZE, 9, 2) is not None
    assert _share_breach(_spec(), Layer.GOLD, 0, 1) is not None  # all quarantined


def test_a_gold_table_may_not_shrink_past_its_row_drop_share(tmp_path):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path)
    cfg.gold_path().mkdir(parents=True)
    for table, rows in (("g_a", 10), ("g_b", 4)):
        pl.DataFrame({"x": range(rows)}).write_parquet(cfg.table_path(Layer.GOLD, table))
    spec = _spec(thresholds={"max_row_drop_share": 0.5})

    def breach(rows_by_table):
        return row_drop_breach(spec, cfg, rows_by_table, file="f.csv", counts={"n": 1})

    assert breach({"g_a": 5, "g_b": 2, "g_new": 0}) is None  # exactly half; a new table
    assert breach({"g_a": 20, "g_b": 4}) is None  # growth is never a drop
    found = breach({"g_a": 4, "g_b": 1, "g_new": 0})
    assert isinstance(found, ThresholdExceeded)
    assert str(found) == (
        "file f.csv: threshold max_row_drop_share = 0.5 crossed: g_a 10 -> 4 rows (-60.0%); "
        "g_b 4 -> 1 rows (-75.0%) against the previous batch; the previous gold is kept. If "
        "the shrink is expected, raise `thresholds: {max_row_drop_share: ...}` in the spec"
    )
    assert (found.file, found.layer, found.rule, found.counts) == (
        "f.csv",
        "gold",
        "max_row_drop_share",
        {"n": 1},
    )
    assert breach({"g_a": 4}).counts == {"n": 1}
    off = _spec(thresholds={"max_row_drop_share": 1})
    assert row_drop_breach(off, cfg, {"g_a": 0}, file="f", counts={}) is None


# ---------------------------------------------------------------- state.py


def test_state_round_trips_and_mark_incomplete_forces_a_rerun(tmp_path):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path)
    assert read_state(cfg, "things") is None
    mark_incomplete(cfg, "things")  # no state: nothing to mark, nothing written
    assert not cfg.state_path().exists() or not list(cfg.state_path().iterdir())
    state = SourceState(
        source="things",
        batch_id="things-1",
        content_sha256="sha",
        spec_fingerprint="fp",
        source_file="things.csv",
        gold_tables=["g"],
        upstream={"dim": "dim-1"},
    )
    write_state(cfg, state)
    assert (cfg.state_path() / "things.json").is_file()
    assert read_state(cfg, "things") == state and state.complete
    assert read_state(cfg, "other") is None
    mark_incomplete(cfg, "things")
    marked = read_state(cfg, "things")
    assert marked == state.model_copy(update={"complete": False})
    before = (cfg.state_path() / "things.json").stat().st_mtime_ns
    mark_incomplete(cfg, "things")  # already incomplete: not rewritten
    assert (cfg.state_path() / "things.json").stat().st_mtime_ns == before
    assert read_state(cfg, "things").complete is False


def _split_files(tmp_path: Path, rows_in: int, good: int, bad: list[str]):
    source = tmp_path / "in.parquet"
    pl.DataFrame({SOURCE_ROW: list(range(rows_in))}).write_parquet(source)
    target, quarantine = tmp_path / "out.parquet", tmp_path / "q" / "b1.parquet"
    quarantine.parent.mkdir(exist_ok=True)
    temps = {target: tmp_path / ".out.tmp", quarantine: tmp_path / "q" / ".b1.tmp"}
    pl.DataFrame({SOURCE_ROW: list(range(good))}).write_parquet(temps[target])
    pl.DataFrame({QUARANTINE_REASON: bad}, schema={QUARANTINE_REASON: pl.String}).write_parquet(
        temps[quarantine]
    )
    return source, target, quarantine, temps


def test_checked_split_counts_reconciles_and_leaves_the_commit_to_the_caller(tmp_path):
    from jobforge_core.transitions.common import SplitCounts, checked_split

    ctx = BatchContext(
        PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path),
        _spec(thresholds={"max_quarantine_share": 0.5}),
        tmp_path / "things.csv",
        "sha",
        "things-1",
    )
    source, target, quarantine, temps = _split_files(tmp_path, 4, 3, ["range"])
    counts = checked_split(ctx, Layer.SILVER, source, target, quarantine, temps)
    assert counts == SplitCounts(4, 3, 1, {"range": 1})
    assert all(t.exists() for t in temps.values()) and not target.exists()

    source, target, quarantine, temps = _split_files(tmp_path, 4, 4, [])
    assert checked_split(ctx, Layer.BRONZE, source, target, quarantine, temps) == SplitCounts(
        4, 4, 0, {}
    )

    source, target, quarantine, temps = _split_files(tmp_path, 5, 3, ["range"])
    with pytest.raises(ReconciliationError, match="^silver things: 5 rows in but 3 out"):
        checked_split(ctx, Layer.SILVER, source, target, quarantine, temps)
    assert not any(t.exists() for t in temps.values())

    source, target, quarantine, temps = _split_files(tmp_path, 4, 1, ["range", "cast", "range"])
    with pytest.raises(ThresholdExceeded) as breach:
        checked_split(ctx, Layer.BRONZE, source, target, quarantine, temps)
    assert breach.value.layer == "bronze" and breach.value.file == str(ctx.source_path)
    assert breach.value.counts == {
        "row_count_in": 4,
        "row_count_out": 1,
        "row_count_quarantined": 3,
        "rows_by_rule": {"range": 2, "cast": 1},
        "rows_by_table": {},
        "quarantine_files": [str(quarantine)],
    }
    assert not temps[target].exists() and not target.exists()
    assert pl.read_parquet(quarantine).height == 3  # the quarantine says why

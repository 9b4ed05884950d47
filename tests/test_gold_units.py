"""Gold's row conservation, coverage, foreign key and grain checks, tested function by function.

test_trust_invariants.py breaks them through whole runs; these tests call each check of
jobforge_core/transitions/gold.py on a small built source, so a mutation of any of its lines
fails in well under a second (tests/MUTATION.md).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from helpers import run_plain

from jobforge_core.common.atomic import sink_all
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import DataError, ReconciliationError, ThresholdExceeded
from jobforge_core.common.provenance import QUARANTINE_DETAIL, QUARANTINE_REASON, SOURCE_ROW
from jobforge_core.sources.spec import GoldOutput, load_specs
from jobforge_core.transitions.context import BatchContext
from jobforge_core.transitions.gold import (
    GoldBuild,
    _applied_rules,
    _check_coverage,
    _commit_gold,
    _conserve,
    _guard,
)

SPEC = """
name: items
file: items.csv
keys: [k]
types: {n: int}
gold:
  - table: dim_items
    model: dimension
"""


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineConfig, Path]:
    base = tmp_path_factory.mktemp("items")
    (base / "source").mkdir()
    (base / "specs").mkdir()
    (base / "source" / "items.csv").write_text("k,code,n\na,x,1\nb,y,2\nc,,3\n")
    (base / "specs" / "items.yaml").write_text(SPEC)
    cfg = PipelineConfig(data_root=base / "data", source_dir=base / "source")
    run_plain(cfg, ["items"], [base / "specs"])
    return cfg, base / "specs"


def _ctx(cfg: PipelineConfig, specs: Path, **gold) -> BatchContext:
    spec = load_specs([specs])["items"]
    if gold:
        spec = spec.model_copy(update={"gold": [GoldOutput.model_validate(g) for g in gold["g"]]})
    return BatchContext(cfg, spec, cfg.resolved_source_dir() / "items.csv", "sha", "items-1")


def _out(**kw) -> GoldOutput:
    return GoldOutput.model_validate({"table": "g_out", **kw})


def _rows(code: list, a: list | None = None) -> pl.LazyFrame:
    n = len(code)
    return pl.LazyFrame(
        {SOURCE_ROW: list(range(1, n + 1)), "code": code, "a": a or list(range(n)), "z": [0] * n}
    )


def test_foreign_key_orphans_go_to_quarantine_and_null_keys_stay(items):
    cfg, specs = items
    build = GoldBuild(_ctx(cfg, specs))
    out = _out(foreign_keys=[{"column": "code", "references": "dim_items"}])
    good, bad = build.split_rejects(_rows(["x", "q", None, "y", "q"]), out)
    assert good.collect().columns == [SOURCE_ROW, "code", "a", "z"]  # helpers dropped
    assert good.collect()[SOURCE_ROW].to_list() == [1, 3, 4]
    rejected = bad.collect()
    assert rejected.columns == [SOURCE_ROW, "code", "a", "z", QUARANTINE_REASON, QUARANTINE_DETAIL]
    assert rejected[SOURCE_ROW].to_list() == [2, 5]
    assert rejected[QUARANTINE_REASON].to_list() == ["foreign_key"] * 2
    assert rejected[QUARANTINE_DETAIL].to_list() == ["code 'q' not in dim_items.code"] * 2


def test_a_required_foreign_key_quarantines_a_null_key_and_says_so(items):
    cfg, specs = items
    build = GoldBuild(_ctx(cfg, specs))
    fk = {"column": "code", "references": "dim_items", "required": True}
    good, bad = build.split_rejects(_rows(["x", None, "q"]), _out(foreign_keys=[fk]))
    assert good.collect()[SOURCE_ROW].to_list() == [1]
    assert bad.collect()[QUARANTINE_DETAIL].to_list() == [
        "code '<null>' not in dim_items.code",
        "code 'q' not in dim_items.code",
    ]


def test_a_foreign_key_checks_the_referenced_column_it_names(items):
    cfg, specs = items
    build = GoldBuild(_ctx(cfg, specs))
    # dim_items.k holds a, b, c; dim_items.code holds x, y
    out = _out(foreign_keys=[{"column": "code", "references": "dim_items", "ref_column": "k"}])
    good, bad = build.split_rejects(_rows(["a", "x", "c"]), out)
    assert good.collect()[SOURCE_ROW].to_list() == [1, 3]
    assert bad.collect()[QUARANTINE_DETAIL].to_list() == ["code 'x' not in dim_items.k"]


def test_a_deferred_foreign_key_is_left_to_the_end_of_the_run_and_the_next_still_checked(items):
    cfg, specs = items
    build = GoldBuild(_ctx(cfg, specs))
    deferred = {"column": "code", "references": "dim_items", "deferred": True}
    checked = {"column": "code", "references": "dim_items", "ref_column": "k"}
    # "x" is in dim_items.code (the deferred key) but not in dim_items.k (the checked one)
    good, bad = build.split_rejects(_rows(["a", "x", "q"]), _out(foreign_keys=[deferred, checked]))
    assert good.collect()[SOURCE_ROW].to_list() == [1]
    assert bad.collect()[QUARANTINE_DETAIL].to_list() == [
        "code 'x' not in dim_items.k",
        "code 'q' not in dim_items.k",
    ]
    alone = build.split_rejects(_rows(["q"]), _out(foreign_keys=[deferred]))
    assert alone[1] is None and alone[0].collect()[SOURCE_ROW].to_list() == [1]
    assert _applied_rules(build.ctx, _out(foreign_keys=[deferred])) == []


def test_a_table_built_in_this_step_is_read_before_the_one_on_disk(items, tmp_path):
    cfg, specs = items
    build = GoldBuild(_ctx(cfg, specs))
    fresh = tmp_path / "fresh.parquet"
    pl.DataFrame({"code": ["q"]}).write_parquet(fresh)
    build.produced["dim_items"] = fresh
    out = _out(foreign_keys=[{"column": "code", "references": "dim_items"}])
    good, _ = build.split_rejects(_rows(["x", "q"]), out)
    assert good.collect()["code"].to_list() == ["q"]
    with pytest.raises(DataError) as missing:
        build.gold_table("dim_never_built")
    assert missing.value.rule == "missing_reference" and missing.value.layer == "gold"
    assert "'dim_never_built', which has not been built" in str(missing.value)


def test_later_repeats_of_the_grain_go_to_quarantine_with_the_key_shown(items):
    cfg, specs = items
    build = GoldBuild(_ctx(cfg, specs))
    out = _out(keys=["code", "z"])  # not the silver key: the grain is checked
    good, bad = build.split_rejects(_rows(["x", "y", "x", None, None, "x"]), out)
    # a key with a null is never a repeat (null_key handles it in silver)
    assert good.collect()[SOURCE_ROW].to_list() == [1, 2, 4, 5]
    rejected = bad.collect()
    assert rejected[SOURCE_ROW].to_list() == [3, 6]
    assert rejected[QUARANTINE_REASON].to_list() == ["duplicate_grain"] * 2
    assert (
        rejected[QUARANTINE_DETAIL].to_list()
        == [
            "grain ['code', 'z'] = 'x|0' repeats an earlier row",
        ]
        * 2
    )


def test_the_written_rows_keep_silver_order_through_the_foreign_key_join(items, tmp_path):
    """Gold files keep silver's row order and the grain keeps the earliest row of a key, also
    when written by the streaming sink (which, told nothing, reorders a left join's rows from
    a few thousand rows on)."""
    cfg, specs = items
    build = GoldBuild(_ctx(cfg, specs))
    fk = [{"column": "code", "references": "dim_items"}]
    codes = ["x", "y", "q"] * 2000
    good, bad = build.split_rejects(_rows(codes), _out(foreign_keys=fk))
    temps = sink_all({tmp_path / "g.parquet": good, tmp_path / "q.parquet": bad})
    written = pl.read_parquet(temps[tmp_path / "g.parquet"])[SOURCE_ROW].to_list()
    assert written == [r for r in range(1, 6001) if r % 3 != 0]
    assert pl.read_parquet(temps[tmp_path / "q.parquet"])[SOURCE_ROW].to_list() == list(
        range(3, 6001, 3)
    )
    good, bad = build.split_rejects(_rows(codes), _out(foreign_keys=fk, keys=["code"]))
    temps = sink_all({tmp_path / "g2.parquet": good, tmp_path / "q2.parquet": bad})
    assert pl.read_parquet(temps[tmp_path / "g2.parquet"])[SOURCE_ROW].to_list() == [1, 2]
    assert pl.read_parquet(temps[tmp_path / "q2.parquet"]).height == 5998


def test_a_grain_repeated_within_one_source_row_is_still_a_repeat(items):
    """After an unpivot one silver row gives several gold rows with one `_source_row`: the
    grain is checked on the rows themselves, so a key two of them share is a repeat."""
    cfg, specs = items
    build = GoldBuild(_ctx(cfg, specs))
    rows = pl.LazyFrame({SOURCE_ROW: [1, 1, 2, 2], "code": ["x", "x", "y", "z"], "v": [1, 2, 3, 4]})
    good, bad = build.split_rejects(rows, _out(keys=["code"]))
    assert good.collect()["v"].to_list() == [1, 3, 4]
    rejected = bad.collect()
    assert rejected["v"].to_list() == [2]
    assert rejected[QUARANTINE_DETAIL].to_list() == ["grain ['code'] = 'x' repeats an earlier row"]


def test_a_row_breaking_both_rules_is_quarantined_once_under_the_first(items):
    cfg, specs = items
    build = GoldBuild(_ctx(cfg, specs))
    out = _out(keys=["code"], foreign_keys=[{"column": "code", "references": "dim_items"}])
    good, bad = build.split_rejects(_rows(["q", "q", "x"]), out)
    assert good.collect()[SOURCE_ROW].to_list() == [3]
    rejected = bad.collect()
    assert rejected[QUARANTINE_REASON].to_list() == ["foreign_key", "foreign_key"]
    assert "repeats an earlier row" in rejected[QUARANTINE_DETAIL][1]
    assert "not in dim_items.code" in rejected[QUARANTINE_DETAIL][1]


def test_without_rules_or_with_a_guaranteed_grain_nothing_is_split(items):
    cfg, specs = items
    build = GoldBuild(_ctx(cfg, specs))
    rows = _rows(["x", "x"], a=[5, 5])
    for out in (_out(), _out(keys=["k"])):  # k is the silver key: unique by construction
        good, bad = build.split_rejects(rows.with_columns(k=pl.Series(["a", "b"])), out)
        assert bad is None and good.collect()[SOURCE_ROW].to_list() == [1, 2]
    assert _applied_rules(build.ctx, _out(keys=["k"])) == []
    assert _applied_rules(build.ctx, _out(keys=["code"])) == [("duplicate_grain", "drop")]
    fk = [{"column": "code", "references": "dim_items"}]
    assert _applied_rules(build.ctx, _out(foreign_keys=fk, keys=["code"])) == [
        ("foreign_key", "fk"),
        ("duplicate_grain", "drop"),
    ]
    assert _applied_rules(build.ctx, _out(foreign_keys=fk)) == [("foreign_key", "fk")]


class _Build:
    def __init__(self, width: dict[str, int] | None = None) -> None:
        self.unpivot_width = width or {}


def test_conservation_is_exact_per_output_and_scales_with_an_unpivot(tmp_path):
    plain = _out()
    assert _conserve(plain, 4, 4, _Build(), {}) == 0
    for produced in (3, 5):
        with pytest.raises(ReconciliationError) as lost:
            _conserve(plain, 4, produced, _Build(), {})
        assert str(lost.value) == (
            f"gold g_out: 4 silver rows should give 4 rows, got {produced} out + quarantined; "
            "nothing was written"
        )
    wide = _out(unpivot={"columns": ["p", "q", "r"]})
    assert _conserve(wide, 2, 6, _Build({"g_out": 3}), {}) == 0
    with pytest.raises(ReconciliationError, match="should give 6 rows, got 5"):
        _conserve(wide, 2, 5, _Build({"g_out": 3}), {})


def test_an_unpivot_that_drops_empty_cells_counts_the_rows_that_made_nothing(tmp_path):
    sparse = _out(unpivot={"columns": ["p", "q"], "drop_nulls": True})
    t1, t2 = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pl.DataFrame({SOURCE_ROW: [1, 1, 2]}).write_parquet(t1)  # rows 1 and 2 made long rows
    pl.DataFrame({SOURCE_ROW: [2, 4]}).write_parquet(t2)  # quarantined long rows of 2 and 4
    temps = {tmp_path / "g.parquet": t1, tmp_path / "q.parquet": t2}
    # 5 silver rows; 3 of them (1, 2, 4) reached an output: 2 made no row at all
    assert _conserve(sparse, 5, 5, _Build({"g_out": 2}), temps) == 2
    assert _conserve(sparse, 5, 10, _Build({"g_out": 2}), temps) == 2  # at most 5 x 2
    with pytest.raises(ReconciliationError) as extra:
        _conserve(sparse, 5, 11, _Build({"g_out": 2}), temps)
    assert str(extra.value) == "gold g_out: 11 rows, at most 10"


def test_every_silver_row_must_reach_a_gold_output(items):
    cfg, specs = items
    silver = pl.LazyFrame({SOURCE_ROW: list(range(1, 9)), "n": [1, 2, 3, None, 5, 6, 7, 8]})
    covered = _ctx(cfg, specs, g=[{"table": "lo", "where": "n <= 4"}, {"table": "hi"}])
    _check_coverage(silver, covered)  # an output without `where` takes every row
    split = _ctx(
        cfg, specs, g=[{"table": "lo", "where": "n <= 2"}, {"table": "hi", "where": "n > 2"}]
    )
    with pytest.raises(ReconciliationError) as lost:
        _check_coverage(silver, split)  # row 4 (null n) reaches neither
    assert str(lost.value) == (
        "gold items: silver rows [4]... reach no gold table; declare a gold output (or `where`) "
        "that covers them; nothing was written"
    )
    narrow = _ctx(
        cfg, specs, g=[{"table": "lo", "where": "n = 1"}, {"table": "x", "where": "n = 8"}]
    )
    with pytest.raises(ReconciliationError, match=r"silver rows \[2, 3, 4, 5, 6\]\.\.\. reach"):
        _check_coverage(silver, narrow)
    both = _ctx(cfg, specs, g=[{"table": "lo", "where": "n < 5"}, {"table": "x", "where": "n > 4"}])
    _check_coverage(silver.filter(pl.col("n").is_not_null()), both)


def test_commit_gold_moves_tables_and_keeps_only_non_empty_quarantines(tmp_path):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path)
    gold, q = cfg.gold_path(), cfg.quarantine_path() / "gold" / "g"
    gold.mkdir(parents=True)
    q.mkdir(parents=True)
    temps = {}
    for target, rows in (
        (gold / "g.parquet", 2),
        (q / "full.parquet", 1),
        (q / "empty.parquet", 0),
    ):
        tmp = target.with_name(f".{target.name}.tmp")
        pl.DataFrame({"x": list(range(rows))}, schema={"x": pl.Int64}).write_parquet(tmp)
        temps[target] = tmp
    _commit_gold(temps, cfg)
    assert pl.read_parquet(gold / "g.parquet").height == 2
    assert pl.read_parquet(q / "full.parquet").height == 1
    assert not (q / "empty.parquet").exists()
    assert not [p for p in cfg.data_root.rglob("*.tmp")]


def test_the_gold_guard_refuses_a_batch_before_any_table_is_replaced(items, tmp_path):
    cfg, specs = items
    ctx = _ctx(cfg, specs)
    table = cfg.table_path(Layer.GOLD, "dim_items")
    before = table.read_bytes()
    tmp_table = table.with_name(".dim_items.new.tmp")
    pl.DataFrame({"k": ["a"]}).write_parquet(tmp_table)
    qfile = cfg.quarantine_path() / "gold" / "dim_items" / "guard-test.parquet"
    qfile.parent.mkdir(parents=True, exist_ok=True)
    qtmp = qfile.with_name(".guard.tmp")
    pl.DataFrame({"k": ["b", "c"]}).write_parquet(qtmp)
    temps = {table: tmp_table, qfile: qtmp}
    with pytest.raises(ThresholdExceeded) as refused:
        _guard(ctx, temps, 3, {"dim_items": 1}, 2, {"foreign_key": 2})
    assert refused.value.rule == "max_quarantine_share" and refused.value.layer == "gold"
    assert refused.value.counts == {
        "row_count_in": 3,
        "row_count_out": 1,
        "row_count_quarantined": 2,
        "rows_by_rule": {"foreign_key": 2},
        "rows_by_table": {"dim_items": 1},
        "quarantine_files": [str(qfile)],
    }
    assert refused.value.file == str(ctx.source_path)
    assert table.read_bytes() == before and not tmp_table.exists()
    assert pl.read_parquet(qfile).height == 2  # the quarantine says why
    qfile.unlink()
    # no quarantine, but the table would shrink from 3 rows to 1: the row-drop guard
    pl.DataFrame({"k": ["a"]}).write_parquet(tmp_table)
    with pytest.raises(ThresholdExceeded) as shrunk:
        _guard(ctx, {table: tmp_table}, 1, {"dim_items": 1}, 0, {})
    assert shrunk.value.rule == "max_row_drop_share" and not tmp_table.exists()
    assert shrunk.value.file == str(ctx.source_path) and shrunk.value.layer == "gold"
    # a batch within both guards leaves its temps for the commit
    pl.DataFrame({"k": ["a", "b", "c"]}).write_parquet(tmp_table)
    _guard(ctx, {table: tmp_table}, 3, {"dim_items": 3}, 0, {})
    assert tmp_table.exists()
    tmp_table.unlink()

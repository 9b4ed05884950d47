"""The promises an auditor relies on, each tested so that breaking it fails a test.

Reconciliation catches a row a layer loses (invariant 2), the unchanged-source skip re-runs an
edited file and the dependents of a changed dimension (5, 11), and a failure in silver or gold
leaves the previous gold tables byte for byte (4, 12). A transition that loses a row cannot be
produced from data (the real code loses none), so those tests wrap a real transition to make it
drop one row silently, the bug reconciliation exists to catch.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from helpers import run_plain

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import ExpectationFailed, ReconciliationError
from jobforge_core.run.pipeline import plan_sources
from jobforge_core.sources.spec import load_specs

THINGS_SPEC = """
name: things
domain: test
file: things.csv
keys: [k]
types: {level: int}
expectations:
  - {column: level, rule: range, min: 1, max: 5, action: drop}
thresholds: {max_quarantine_share: 1}  # 1 of its 4 rows is dropped on purpose
gold:
  - table: g_low
    where: "level <= 2"
  - table: g_high
    where: "level >= 3"
"""
THINGS_CSV = "k,v,level\na,1,1\nb,2,9\nn,3,2\nz,4,3\n"


@pytest.fixture
def things(tmp_path: Path) -> tuple[PipelineConfig, Path]:
    """A small source built once, so every test starts with gold tables on disk."""
    source, specs = tmp_path / "source", tmp_path / "specs"
    source.mkdir()
    specs.mkdir()
    (source / "things.csv").write_text(THINGS_CSV)
    (specs / "things.yaml").write_text(THINGS_SPEC)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    run_plain(cfg, ["things"], [specs])
    return cfg, specs


def _gold_bytes(cfg: PipelineConfig) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(cfg.gold_path().glob("*.parquet"))}


def _no_temp_files(cfg: PipelineConfig) -> bool:
    return not list(cfg.data_root.rglob("*.tmp"))


def _losing_row(real, row: int):
    """Wrap a plan builder returning (good, quarantined) so `good` silently lacks one row."""

    def lossy(*args, **kwargs):
        good, bad = real(*args, **kwargs)
        return good.filter(pl.col("_source_row") != row), bad

    return lossy


@pytest.mark.parametrize(
    ("lyr", "module", "builder"),
    [(Layer.BRONZE, "bronze", "bronze_plan"), (Layer.SILVER, "silver", "silver_plan")],
)
def test_a_one_to_one_layer_that_loses_a_row_fails_and_writes_nothing(
    things, monkeypatch, lyr, module, builder
):
    import importlib

    cfg, specs = things
    target = cfg.table_path(lyr, "things")
    before = target.read_bytes()
    gold = _gold_bytes(cfg)
    mod = importlib.import_module(f"jobforge_core.transitions.{module}")
    monkeypatch.setattr(mod, builder, _losing_row(getattr(mod, builder), row=3))
    with pytest.raises(ReconciliationError, match="nothing was written"):
        run_plain(cfg, ["things"], [specs])
    assert target.read_bytes() == before
    assert _gold_bytes(cfg) == gold
    assert _no_temp_files(cfg)


def test_reconciliation_is_an_equality_not_a_bound(tmp_path):
    """A lost row and an invented row both fail; the temp files of the attempt are removed."""
    from jobforge_core.transitions.common import reconcile_one_to_one

    for rows_out, rows_q in [(7, 2), (9, 2), (0, 0)]:
        temp = tmp_path / f".t{rows_out}.tmp"
        temp.write_text("x")
        with pytest.raises(ReconciliationError):
            reconcile_one_to_one(Layer.BRONZE, "t", 10, rows_out, rows_q, {tmp_path / "t": temp})
        assert not temp.exists()
    temp = tmp_path / ".ok.tmp"
    temp.write_text("x")
    reconcile_one_to_one(Layer.BRONZE, "t", 10, 8, 2, {tmp_path / "t": temp})
    assert temp.exists()  # a balanced transition keeps its output for the commit


def test_a_gold_output_that_loses_a_row_fails_and_keeps_the_previous_gold(things, monkeypatch):
    from jobforge_core.transitions.gold import GoldBuild

    cfg, specs = things
    gold = _gold_bytes(cfg)
    real = GoldBuild.model
    monkeypatch.setattr(
        GoldBuild, "model", lambda self, out: real(self, out).filter(pl.col("_source_row") != 4)
    )
    with pytest.raises(ReconciliationError, match="g_high"):
        run_plain(cfg, ["things"], [specs])
    assert _gold_bytes(cfg) == gold and set(gold) == {"g_low.parquet", "g_high.parquet"}
    assert _no_temp_files(cfg)


def test_a_failure_at_silver_keeps_the_previous_gold_byte_for_byte(things):
    cfg, specs = things
    gold = _gold_bytes(cfg)
    silver = cfg.table_path(Layer.SILVER, "things").read_bytes()
    (specs / "things.yaml").write_text(THINGS_SPEC.replace("action: drop", "action: fail"))
    with pytest.raises(ExpectationFailed) as err:
        run_plain(cfg, ["things"], [specs])
    assert err.value.layer == "silver" and err.value.row == 2  # it really failed at silver
    assert _gold_bytes(cfg) == gold
    assert cfg.table_path(Layer.SILVER, "things").read_bytes() == silver
    (report,) = (cfg.quarantine_path() / "files").glob("*/error.json")
    assert json.loads(report.read_text())["layer"] == "silver"
    assert _no_temp_files(cfg)


def test_a_failure_at_gold_keeps_every_previous_gold_table(things):
    """A new row without a level reaches neither `where`: gold fails after building g_low,
    which must not be committed either."""
    cfg, specs = things
    gold = _gold_bytes(cfg)
    source = cfg.resolved_source_dir() / "things.csv"
    source.write_text(THINGS_CSV + "q,5,\n")
    with pytest.raises(ReconciliationError, match="reach no gold table"):
        run_plain(cfg, ["things"], [specs])
    silver = pl.read_parquet(cfg.table_path(Layer.SILVER, "things"))
    assert "q" in silver["k"].to_list()  # silver holds the new batch...
    assert _gold_bytes(cfg) == gold  # ...and both gold tables are the previous ones
    assert _no_temp_files(cfg)


def _unchanged(cfg: PipelineConfig, specs: list[Path] | None = None) -> dict[str, bool]:
    plans = plan_sources(load_specs(specs or []), cfg, ["noc_structure", "cops_employment"])
    return {name: plan.unchanged for name, plan in plans.items()}


@pytest.fixture
def built_pair(tmp_path: Path, source_copy: Path) -> PipelineConfig:
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["noc_structure", "cops_employment"])
    assert _unchanged(cfg) == {"noc_structure": True, "cops_employment": True}
    return cfg


def test_an_edited_file_is_planned_as_changed(built_pair):
    cfg = built_pair
    path = cfg.resolved_source_dir() / "employment_emploi_2024_2033_noc2021.csv"
    path.write_text(path.read_text().replace("\n", "\r\n"))  # the same rows, other bytes
    assert _unchanged(cfg) == {"noc_structure": True, "cops_employment": False}


def test_an_edited_spec_is_planned_as_changed(built_pair, tmp_path):
    from jobforge_core.sources.spec import PACKAGE_SPECS

    cfg = built_pair
    override = tmp_path / "override"
    override.mkdir()
    text = (PACKAGE_SPECS / "noc_structure.yaml").read_text()
    assert 'version: "1"' in text
    (override / "noc_structure.yaml").write_text(text.replace('version: "1"', 'version: "2"'))
    changed = _unchanged(cfg, [override])
    assert changed["noc_structure"] is False


def test_a_changed_dimension_re_runs_its_dependents(built_pair):
    """cops_employment's file is the same, but the dim_noc its foreign keys check is not."""
    cfg = built_pair
    path = cfg.resolved_source_dir() / "noc_structure_en.csv"
    path.write_bytes(path.read_bytes() + b"\n")
    assert _unchanged(cfg) == {"noc_structure": False, "cops_employment": False}

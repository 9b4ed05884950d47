"""Sources are declared, not coded: a new kind in a test's own YAML, an injected orphan."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from helpers import layer, quarantined, run_plain

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import SpecError
from jobforge_core.sources.model_schema import write_model_schema
from jobforge_core.sources.spec import load_specs

KIND = """
# A kind that exists only in this test: regional vacancy counts, one column per quarter.
domain: test
renames: {Region: region, NOC: noc_code}
default_type: int
types: {region: str, noc_code: str}
keys: [region, noc_code]
thresholds: {max_quarantine_share: {gold: 1}}  # 3 of its 5 long rows are orphans on purpose
gold:
  - table: $table
    unpivot: {columns: '^q\\d$$', variable: quarter, variable_pattern: '(\\d)$$',
              variable_type: int, value: vacancies, drop_nulls: true}
    columns: [region, noc_code, quarter, vacancies]
    keys: [region, noc_code, quarter]
    foreign_keys: [{column: noc_code, references: dim_noc}]
"""

SPEC = """
name: vacancies
kind: regional_quarters
file: vacancies.csv
params: {table: fact_vacancies}
"""


def test_a_kind_declared_only_in_test_yaml_builds_its_gold_table(tmp_path: Path, source_copy):
    specs = tmp_path / "specs"
    (specs / "kinds").mkdir(parents=True)
    (specs / "kinds" / "regional_quarters.yaml").write_text(KIND)
    (specs / "vacancies.yaml").write_text(SPEC)
    (source_copy / "vacancies.csv").write_text(
        'Region,NOC,Q1,Q2,Q3\nQC,21232,10,,"1,200"\nON,00010,,,\nBC,99999,1,2,3\n'
    )
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    logs = run_plain(cfg, ["noc_structure", "vacancies"], [specs])["vacancies"]
    fact = layer(cfg, Layer.GOLD, "fact_vacancies").sort("quarter")
    assert fact.select("region", "noc_code", "quarter", "vacancies").rows() == [
        ("QC", "21232", 1, 10),
        ("QC", "21232", 3, 1200),
    ]
    orphans = quarantined(cfg, Layer.GOLD, "fact_vacancies")
    assert set(orphans["_quarantine_reason"]) == {"foreign_key"} and len(orphans) == 3
    gold_log = logs[-1]
    assert gold_log.rows_by_rule == {
        "foreign_key": 3,
        "empty_cells_make_no_long_row:fact_vacancies": 1,  # ON has no value at all
    }


def test_injected_orphan_in_a_real_kind_is_quarantined(tmp_path: Path, source_copy):
    path = source_copy / "retirements_retraites_2024_2033_noc2021.csv"
    path.write_text(path.read_text() + "99999,Ghost,Fantôme" + ",100" * 11 + "\n")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["noc_structure", "cops_retirements"])
    orphans = quarantined(cfg, Layer.GOLD, "fact_cops_retirements")
    assert len(orphans) == 11 and set(orphans["noc_code"]) == {"99999"}
    assert set(orphans["_quarantine_reason"]) == {"foreign_key"}
    fact = layer(cfg, Layer.GOLD, "fact_cops_retirements")
    assert "99999" not in fact["noc_code"].to_list()


def test_model_schema_lists_relationships(tmp_path: Path):
    cfg = PipelineConfig(data_root=tmp_path / "data")
    path = write_model_schema(cfg, load_specs())
    schema = json.loads(Path(path).read_text())
    rel = {(r["table"], r["column"]): r for r in schema["relationships"]}
    assert rel[("fact_oasis_skills", "oasis_code")]["referenced_table"] == "dim_oasis_profile"
    assert rel[("fact_cops_employment", "noc_code")]["cardinality"] == "many_to_one"
    assert schema["tables"]["dim_noc"]["grain"] == ["noc_code"]


def test_invalid_spec_is_a_clear_error(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text("name: Bad-Name\nfile: x.csv\nkeys: oops\n")
    with pytest.raises(SpecError) as err:
        load_specs([tmp_path])
    assert "bad.yaml" in str(err.value) and "name" in str(err.value)


def test_gold_grain_duplicates_are_quarantined(tmp_path: Path, source_copy):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "dup.yaml").write_text(
        "name: dup\nfile: dup.csv\nthresholds: {max_quarantine_share: 1}\n"
        "gold:\n  - table: g_dup\n    keys: [k]\n"
    )
    (source_copy / "dup.csv").write_text("k,v\na,1\na,2\nb,3\n")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["dup"], [specs])
    assert pl.read_parquet(cfg.table_path(Layer.GOLD, "g_dup"))["v"].to_list() == ["1", "3"]
    q = quarantined(cfg, Layer.GOLD, "g_dup")
    assert q["_quarantine_reason"].to_list() == ["duplicate_grain"] and q[
        "_source_row"
    ].to_list() == [2]


def test_grain_uniqueness_is_proven_from_silver_keys_or_checked():
    from jobforge_core.transitions.grain import grain_is_guaranteed

    specs = load_specs()
    proven = {
        out.table: grain_is_guaranteed(spec, out) for spec in specs.values() for out in spec.gold
    }
    assert proven["fact_cops_employment"] and proven["dim_noc"] and proven["dim_oasis_profile"]
    # descriptor_code comes from a lookup (and a declared recode may map two headers to one
    # descriptor): checked.
    assert not proven["fact_oasis_skills"]
    assert proven["fact_cops_summary"]  # noc_code is derived as a plain alias of the key
    assert not proven["fact_oasis_interests"]  # variable_pattern may merge columns: checked
    assert not proven["fact_oasis_main_duties"]  # duty_order is not a silver key: checked


def test_gold_outputs_that_do_not_cover_silver_fail_and_write_nothing(tmp_path, source_copy):
    from jobforge_core.common.errors import ReconciliationError

    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "partial.yaml").write_text(
        "name: partial\nfile: p.csv\nkeys: [k]\ngold:\n"
        "  - table: g_a\n    where: \"k = 'a'\"\n  - table: g_b\n    where: \"k = 'b'\"\n"
    )
    (source_copy / "p.csv").write_text("k,v\na,1\nb,2\nc,3\n")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    with pytest.raises(ReconciliationError, match=r"silver rows \[3\]"):
        run_plain(cfg, ["partial"], [specs])
    assert not cfg.table_path(Layer.GOLD, "g_a").exists()
    assert not list(cfg.gold_path().glob(".*.tmp"))

"""The layer contract and the invariants, on the bundled samples, without Prefect."""

from __future__ import annotations

import polars as pl
import pytest
from helpers import layer, run_plain, source_records

from jobforge_core.common.config import Layer
from jobforge_core.common.models import ProvenanceColumns, TransitionStatus
from jobforge_core.run.pipeline import source_file
from jobforge_core.sources.spec import load_specs

PROV = list(ProvenanceColumns.COLUMN_NAMES)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    from conftest import SAMPLES

    from jobforge_core.common.config import PipelineConfig

    cfg = PipelineConfig(data_root=tmp_path_factory.mktemp("run") / "data", source_dir=SAMPLES)
    return cfg, run_plain(cfg)


def test_every_row_of_every_layer_has_the_five_provenance_columns(sample_run):
    cfg, logs = sample_run
    for spec in load_specs().values():
        tables = [(lyr, spec.name) for lyr in (Layer.STAGED, Layer.BRONZE, Layer.SILVER)]
        tables += [(Layer.GOLD, g.table) for g in spec.gold]
        for lyr, table in tables:
            df = layer(cfg, lyr, table)
            assert set(PROV) <= set(df.columns), (lyr, table)
            assert df.select(pl.col(PROV).null_count()).sum_horizontal().item() == 0
            assert df["_layer"].unique().to_list() == [lyr.value]
            loaded = source_file(cfg, spec).name  # the newest release of its pattern
            assert df["_source_file"].unique().to_list() == [loaded]


def test_staged_keeps_text_headers_and_source_row_points_at_the_record(sample_run):
    from conftest import SAMPLES

    cfg, _ = sample_run
    staged = layer(cfg, Layer.STAGED, "noc_structure")
    records = source_records(SAMPLES / "noc_structure_en.csv")
    assert len(staged) == len(records)
    assert "Code - NOC 2021 V1.0" in staged.columns  # original header, BOM removed
    assert all(staged.schema[c] == pl.String for c in records[0])
    for row in staged.iter_rows(named=True):
        record = records[row["_source_row"] - 1]
        assert {k: row[k] for k in record} == {k: v or None for k, v in record.items()}
    assert "0" in staged["Code - NOC 2021 V1.0"].to_list()  # leading zeros as written
    assert "00010" in staged["Code - NOC 2021 V1.0"].to_list()


def test_gold_rows_trace_back_to_their_source_record(sample_run):
    from conftest import SAMPLES

    cfg, _ = sample_run
    fact = layer(cfg, Layer.GOLD, "fact_cops_employment")
    records = source_records(SAMPLES / "employment_emploi_2024_2033_noc2021.csv")
    row = fact.filter(pl.col("year") == 2024).row(0, named=True)
    record = records[row["_source_row"] - 1]
    assert record["Code"] == row["noc_code"]
    assert int(record["2024"].replace(",", "")) == row["employment"]


def test_bronze_types_thousands_and_null_markers(sample_run):
    cfg, _ = sample_run
    summary = layer(cfg, Layer.BRONZE, "cops_summary")
    assert summary.schema["job_seekers"] == pl.Int64
    all_occupations = summary.filter(pl.col("code") == "00000").row(0, named=True)
    assert all_occupations["job_seekers"] == 9_045_200  # "9,045,200" in the sample
    assert all_occupations["recent_conditions_en"] is None  # "N/A"
    assert all_occupations["recent_conditions_fr"] is None  # "N/D"


def test_each_transition_logged_truthfully(sample_run):
    cfg, logs = sample_run
    for source_logs in logs.values():
        assert [log.source_layer for log in source_logs] == ["source", "staged", "bronze", "silver"]
        assert [log.target_layer for log in source_logs] == list(Layer)
        for log in source_logs:
            assert log.status is TransitionStatus.SUCCESS
            assert (cfg.catalog_lineage_path() / f"{log.transition_id}.json").is_file()
        one_to_one = source_logs[:3]
        for log in one_to_one:
            assert log.row_count_in == log.row_count_out + log.row_count_quarantined


def test_aggregate_rows_split_into_their_own_gold_table(sample_run):
    cfg, _ = sample_run
    fact = layer(cfg, Layer.GOLD, "fact_cops_retirements")
    agg = layer(cfg, Layer.GOLD, "agg_cops_retirements")
    assert set(agg["aggregate_code"]) == {"00000", *(f"TEER_{i}" for i in range(6))} | {
        f"NOC1_{i}" for i in range(10)
    }
    assert fact["noc_code"].str.len_chars().unique().to_list() == [5]
    silver_rows = set(layer(cfg, Layer.SILVER, "cops_retirements")["_source_row"])
    assert set(fact["_source_row"]) | set(agg["_source_row"]) == silver_rows

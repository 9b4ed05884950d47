"""The real Government of Canada files through `jobforge run` (issues 3 and 14).

One run of every shipped spec on ../shared/data/real, shared by every test of this module: each
source succeeds, nothing is quarantined except by the named rules in ALLOWED_QUARANTINE, every
foreign key holds, and row counts match counts computed here from the CSV files with the csv
module (independently of the pipeline).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import polars as pl
import pytest
from helpers import layer, source_records

from jobforge_core.config import Layer, PipelineConfig
from jobforge_core.lineage import read_logs
from jobforge_core.model_schema import relationships
from jobforge_core.models import TransitionStatus
from jobforge_core.spec import load_specs


@pytest.fixture(scope="module")
def real(real_dir: Path, real_flow_run) -> tuple[PipelineConfig, dict]:
    """`jobforge run --source-dir <real files>` (the session's run, shared with the site tests)."""
    data_root, code = real_flow_run
    cfg = PipelineConfig(data_root=data_root, source_dir=real_dir)
    assert code == 0
    runs: dict[str, list] = {}
    for log in sorted(read_logs(cfg), key=lambda log: list(Layer).index(log.target_layer)):
        runs.setdefault(log.source_name, []).append(log)
    return cfg, runs


def gold(cfg: PipelineConfig, table: str) -> pl.DataFrame:
    return layer(cfg, Layer.GOLD, table)


def test_noc_dimensions(real):
    cfg, _ = real
    dim = gold(cfg, "dim_noc")
    assert len(dim) == 516
    assert dim["noc_code"].n_unique() == 516
    assert dim["noc_code"].str.len_chars().unique().to_list() == [5]
    legislators = dim.filter(pl.col("noc_code") == "00010").row(0, named=True)
    assert legislators["teer"] == 0
    assert legislators["broad_category_code"] == "0"
    assert legislators["minor_group_code"] == "0001"
    assert legislators["broad_category_title"] == "Legislative and senior management occupations"
    assert dim.select(pl.col("^.*_title$").null_count()).sum_horizontal().item() == 0
    structure = gold(cfg, "dim_noc_structure")
    assert len(structure) == 822
    per_level = dict(structure.group_by("level").len().sort("level").iter_rows())
    assert per_level == {1: 10, 2: 45, 3: 89, 4: 162, 5: 516}
    parents = set(structure["noc_code"])
    assert set(structure["parent_code"].drop_nulls()) <= parents


def test_oasis_profiles_and_wide_facts(real, real_dir):
    cfg, _ = real
    assert len(gold(cfg, "dim_oasis_profile")) == 900
    for kind in ("skills", "abilities", "knowledges"):
        path = real_dir / f"{kind}_oasis_2023_v1.0.csv"
        with path.open(encoding="utf-8-sig", newline="") as fh:
            descriptors = len(next(csv.reader(fh))) - 2
        fact = gold(cfg, f"fact_oasis_{kind}")
        assert len(fact) == 900 * descriptors, kind
        assert fact["descriptor"].n_unique() == descriptors
        assert fact["descriptor"].str.strip_chars().equals(fact["descriptor"])


def test_spot_checks_against_the_source_files(real, real_dir):
    cfg, _ = real
    employment = source_records(real_dir / "employment_emploi_2024_2033_noc2021.csv")
    record = next(r for r in employment if r["Code"] == "21232")
    fact = gold(cfg, "fact_cops_employment")
    value = fact.filter((pl.col("noc_code") == "21232") & (pl.col("year") == 2024))["employment"]
    assert value.to_list() == [int(record["2024"])]

    skills = source_records(real_dir / "skills_oasis_2023_v1.0.csv")
    profile = next(r for r in skills if r["OaSIS Code - Final"] == "21232.00")
    header = next(h for h in profile if h.strip() == "Writing")
    rating = gold(cfg, "fact_oasis_skills").filter(
        (pl.col("oasis_code") == "21232.00") & (pl.col("descriptor") == "Writing")
    )["proficiency"]
    assert rating.to_list() == [float(profile[header])]

    summary = source_records(real_dir / "summary_sommaire_2024_2033_noc2021.csv")
    quoted = next(r for r in summary if "," in r["Job_Seekers_Chercheurs_emploi"])
    agg = gold(cfg, "agg_cops_summary").filter(pl.col("aggregate_code") == quoted["Code"])
    assert agg["job_seekers"].to_list() == [
        int(quoted["Job_Seekers_Chercheurs_emploi"].replace(",", ""))
    ]
    unit = next(r for r in summary if r["Code"] == "21232")
    row = gold(cfg, "fact_cops_summary").filter(pl.col("noc_code") == "21232").row(0, named=True)
    assert row["recent_conditions_en"] == unit["Recent_Labour_Market_Conditions"]
    assert row["total_job_openings"] == int(unit["Total_Job_Openings_Perspective_d'emploi"])


def test_cops_facts_aggregates_interests_and_duties(real, real_dir):
    cfg, _ = real
    for name in ("employment", "employment_growth", "retirements", "job_seekers"):
        fact, agg = gold(cfg, f"fact_cops_{name}"), gold(cfg, f"agg_cops_{name}")
        assert fact["noc_code"].n_unique() == 516 and len(fact) == 516 * 11
        assert agg["aggregate_code"].n_unique() == 17 and len(agg) == 17 * 11
    growth_2023 = gold(cfg, "fact_cops_employment_growth").filter(pl.col("year") == 2023)
    assert growth_2023["employment_growth"].null_count() == 516  # "N/A" is null, not an error
    assert len(gold(cfg, "fact_cops_summary")) == 516 and len(gold(cfg, "agg_cops_summary")) == 17
    interests = gold(cfg, "fact_oasis_interests")
    raw = source_records(real_dir / "interests_oasis_2023_v1.0.csv")
    cells = sum(1 for r in raw for k, v in r.items() if k.startswith("Holland") and v.strip())
    assert len(interests) == cells
    assert set(interests["holland_code"]) == set("RIASEC")
    assert set(interests["rank"]) == {1, 2, 3}
    duties = gold(cfg, "fact_oasis_main_duties")
    assert len(duties) == 4991
    assert duties["oasis_code"].n_unique() == 900
    assert duties.filter(pl.col("oasis_code") == "00010.00")["duty_order"].to_list()[:3] == [
        1,
        2,
        3,
    ]


def test_no_silent_drops_and_zero_orphans_on_real_files(real):
    cfg, runs = real
    for name, logs in runs.items():
        for log in logs:
            assert log.row_count_quarantined == 0, (name, log.target_layer, log.rows_by_rule)
            if log.target_layer is not Layer.GOLD:
                assert log.row_count_in == log.row_count_out
    for rel in relationships(load_specs()):
        child = gold(cfg, rel["table"])[rel["column"]].drop_nulls()
        parent = gold(cfg, rel["referenced_table"])[rel["referenced_column"]]
        assert child.is_in(parent.implode()).all(), rel
    assert len(list(read_logs(cfg))) == 4 * len(load_specs())
    interests = [log for log in runs["oasis_interests"] if log.target_layer is Layer.SILVER][0]
    assert interests.rows_by_rule == {"recode:oasis_code": 1}  # the declared 14404.01 fix


# Rows a shipped spec may quarantine on the real files, by source and rule (each documented
# in README "Sources and the gold model"). Anything else quarantined fails the acceptance test.
ALLOWED_QUARANTINE: dict[str, dict[str, int]] = {}
AGGREGATE_CODE = re.compile(r"^(00000|TEER_\d|NOC1_\d)$")


def test_every_shipped_spec_succeeds_on_the_real_files(real):
    cfg, runs = real
    specs = load_specs()
    assert set(runs) == set(specs)
    for name, logs in runs.items():
        assert [log.target_layer for log in logs] == list(Layer), name
        assert all(log.status is TransitionStatus.SUCCESS for log in logs), name
        quarantined: dict[str, int] = {}
        for log in logs:
            for path in log.quarantine_files or (
                [log.quarantine_file] if log.quarantine_file else []
            ):
                reasons = pl.read_parquet(path)["_quarantine_reason"].value_counts()
                for rule, n in reasons.iter_rows():
                    quarantined[rule] = quarantined.get(rule, 0) + n
        assert quarantined == ALLOWED_QUARANTINE.get(name, {}), name


def _csv_cells(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    records = source_records(path)
    return [h for h in records[0] if re.fullmatch(r"\d{4}", h)], records


def test_cops_yearly_facts_hold_every_csv_cell(real, real_dir):
    """Each COPS yearly file, counted and compared value by value from the CSV: unit groups
    to the fact, aggregate rows to the agg_ table, one row per year; 'N/A' is a null-valued
    row (the one N/A policy of every COPS fact); rates stay decimals."""
    cfg, _ = real
    yearly = [s for s in load_specs().values() if s.kind == "cops_yearly"]
    assert len(yearly) == 10
    for spec in yearly:
        fact_out, agg_out = spec.gold
        value = fact_out.unpivot.value
        years, records = _csv_cells(real_dir / spec.file)
        expected = {
            (r["Code"], int(y)): (None if r[y].strip() == "N/A" else float(r[y].replace(",", "")))
            for r in records
            for y in years
        }
        fact, agg = gold(cfg, fact_out.table), gold(cfg, agg_out.table)
        units = [r for r in records if not AGGREGATE_CODE.match(r["Code"])]
        assert len(fact) == len(units) * len(years), spec.name
        assert len(agg) == (len(records) - len(units)) * len(years), spec.name
        got = {
            (code, year): v
            for frame, col in ((fact, "noc_code"), (agg, "aggregate_code"))
            for code, year, v in frame.select(col, "year", value).iter_rows()
        }
        assert got == expected, spec.name
        assert fact[value].null_count() == sum(r[y].strip() == "N/A" for r in units for y in years)
    rates = gold(cfg, "fact_cops_retirement_rates")
    assert rates.schema["retirement_rate"] == pl.Float64
    assert (rates["retirement_rate"] != rates["retirement_rate"].round(0)).any()
    for name in ("other_seekers", "job_openings"):
        first = gold(cfg, f"fact_cops_{name}").filter(pl.col("year") == 2023)
        assert len(first) == 516 and first[name].null_count() == 516

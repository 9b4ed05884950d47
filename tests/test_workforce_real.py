"""The real Government of Canada files through `jobforge run` (issues 3 and 14).

One run of every shipped spec on ../shared/data/real, shared by every test of this module: each
source succeeds, nothing is quarantined except by the named rules in ALLOWED_QUARANTINE, every
foreign key holds, and row counts match counts computed here from the CSV files with the csv
module (independently of the pipeline).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import polars as pl
import pytest
from helpers import layer, source_records

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import TransitionStatus
from jobforge_core.history.transition_logs import read_logs
from jobforge_core.query.sql import run_query
from jobforge_core.sources.model_schema import RELATIONSHIP_FIELDS, relationships
from jobforge_core.sources.spec import load_specs


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
    rels = relationships(load_specs())
    assert len(rels) == sum(len(o.foreign_keys) for s in load_specs().values() for o in s.gold)
    for spec in load_specs().values():
        for out in spec.gold:
            for fk in out.foreign_keys:  # deferred ones too: they must hold after the run
                child = gold(cfg, out.table)[fk.column]
                if fk.required:
                    assert child.null_count() == 0, (out.table, fk)
                parent = gold(cfg, fk.references)[fk.target_column]
                assert child.drop_nulls().is_in(parent.implode()).all(), (out.table, fk)
    assert len(list(read_logs(cfg))) == 4 * len(load_specs())
    interests = [log for log in runs["oasis_interests"] if log.target_layer is Layer.SILVER][0]
    assert interests.rows_by_rule == {"recode:oasis_code": 1}  # the declared 14404.01 fix


# Rows a shipped spec may quarantine on the real files, by source and rule (each documented
# in docs/gold-model.md). Anything else quarantined fails the acceptance test.
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
        years, records = _csv_cells(_file(real_dir, spec))
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


def _profile_code(code: str) -> str:
    """'10010' and '31100.1' -> '10010.00' and '31100.10', as the specs declare."""
    whole, _, frac = code.strip().partition(".")
    return f"{whole.zfill(5)}.{frac.ljust(2, '0')}"


def _header_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _labels(real_dir: Path) -> dict[str, str]:
    _, rows = _header_csv(real_dir / "labels_oasis_2023_v1.0.csv")
    return {_profile_code(r[0]): r[1].strip() for r in rows}


def test_oasis_rating_facts_link_every_descriptor_and_scale(real, real_dir):
    """Every cell of every wide OaSIS file is one gold row, keyed by profile, guide descriptor
    and scale: a header ending in a number is the second scale of the descriptor before it."""
    cfg, _ = real
    guide = gold(cfg, "dim_oasis_descriptor")
    wide = [s for s in load_specs().values() if s.kind == "oasis_wide_attributes"]
    assert {s.name for s in wide} >= {
        "oasis_skills",
        "oasis_abilities",
        "oasis_knowledges",
        "oasis_work_activities",
        "oasis_work_context",
        "oasis_personal_attributes",
    }
    for spec in wide:
        out = spec.gold[0]
        value = out.unpivot.value
        recode = out.recode.get("descriptor", {})
        header, rows = _header_csv(_file(real_dir, spec))
        expected = {}
        for row in rows:
            for h, cell in zip(header[2:], row[2:], strict=True):
                name = re.sub(r"\s*\d+$", "", h.strip())
                scale = 2 if h.strip()[-1].isdigit() else 1
                expected[(_profile_code(row[0]), recode.get(name, name), scale)] = float(cell)
        fact = gold(cfg, out.table)
        assert len(fact) == len(expected), spec.name
        got = {
            (c, d, s): v
            for c, d, s, v in fact.select("oasis_code", "descriptor", "scale", value).iter_rows()
        }
        assert got == expected, spec.name
        assert fact["descriptor_code"].null_count() == 0, spec.name
        linked = (
            fact.select("descriptor_code", "descriptor").unique().join(guide, on="descriptor_code")
        )
        assert len(linked) == len({d for _, d, _ in expected}), spec.name
        assert (linked["category"] == spec.params["descriptor_category"]).all(), spec.name
        assert (
            linked["descriptor"].str.to_lowercase() == linked["descriptor_name"].str.to_lowercase()
        ).all(), spec.name
    context = gold(cfg, "fact_oasis_work_context")
    second = context.filter(pl.col("scale") == 2)["descriptor"].unique().sort().to_list()
    assert len(second) == 10 and "Time Pressure" in second and "Sound and Noise" in second
    assert context["descriptor_code"].n_unique() == 56


def test_profile_dimension_is_the_labels_file_and_disagreements_are_counted(real, real_dir):
    cfg, runs = real
    labels = _labels(real_dir)
    _, leads = _header_csv(real_dir / "lead-statement_oasis_2023_v1.0.csv")
    dim = gold(cfg, "dim_oasis_profile")
    assert dict(dim.select("oasis_code", "oasis_label").iter_rows()) == labels
    assert dict(dim.select("oasis_code", "lead_statement").iter_rows()) == {
        _profile_code(r[0]): r[1].strip() for r in leads
    }
    label_column = {"oasis_interests": 1, "oasis_workplaces_employers": 2}
    checked = [s for s in load_specs().values() if any(c.id for o in s.gold for c in o.checks)]
    assert len(checked) == 8
    for spec in checked:
        _, rows = _header_csv(_file(real_dir, spec))
        column = label_column.get(spec.name, 1)
        codes = {_profile_code(r[0]) for r in rows}
        differ = set()
        for r in rows:
            code = spec.recode.get("oasis_code", {}).get(_profile_code(r[0]), _profile_code(r[0]))
            if r[column].strip() != labels[code]:
                differ.add(code)
        assert codes, spec.name
        (gold_log,) = [log for log in runs[spec.name] if log.target_layer is Layer.GOLD]
        rule = "warn:label_differs_from_dim_oasis_profile"
        assert gold_log.rows_by_rule.get(rule, 0) == len(differ), spec.name
    skills = next(log for log in runs["oasis_skills"] if log.target_layer is Layer.GOLD)
    assert skills.rows_by_rule["warn:label_differs_from_dim_oasis_profile"] == 3


def test_exclusions_target_a_profile_or_a_whole_unit_group(real, real_dir):
    cfg, _ = real
    profiles = set(_labels(real_dir))
    unit_groups = {
        r["Code - NOC 2021 V1.0"]
        for r in source_records(real_dir / "noc_structure_en.csv")
        if r["Level"] == "5"
    }
    _, rows = _header_csv(real_dir / "exclusions_oasis_2023_v1.0.csv")
    expected = []
    for r in rows:
        target = _profile_code(r[1])
        as_profile = target in profiles or not target.endswith(".00")
        expected.append(
            (
                _profile_code(r[0]),
                target,
                target if as_profile else None,
                None if as_profile else target[:5],
                r[2].strip() or None,
            )
        )
    fact = gold(cfg, "fact_oasis_exclusions").sort("_source_row")
    columns = ["oasis_code", "excluded_code", "excluded_oasis_code", "excluded_noc_code"]
    assert list(fact.select(*columns, "job_title").iter_rows()) == expected
    assert sum(e[2] is not None for e in expected) == 2133
    assert sum(e[3] is not None for e in expected) == 941
    assert {e[3] for e in expected if e[3]} <= unit_groups
    assert "10020.00" in {e[1] for e in expected if e[3]}  # 10020 is split into .01-.04
    assert (fact["excluded_oasis_code"].is_null() != fact["excluded_noc_code"].is_null()).all()


LONG_FILES = {
    "fact_oasis_main_duties": ("main-duties_oasis-2023_v1.0.csv", "duty_order", ["duty"]),
    "fact_oasis_lead_statements": (
        "lead-statement_oasis_2023_v1.0.csv",
        "statement_order",
        ["lead_statement"],
    ),
    "fact_oasis_employment_requirements": (
        "employment-requirements_oasis_2023_v1.0.csv",
        "requirement_order",
        ["employment_requirement"],
    ),
    "fact_oasis_workplaces_employers": (
        "workplaces-employers_oasis_2023_v1.0.csv",
        "workplace_order",
        ["workplace"],
    ),
    "fact_oasis_additional_information": (
        "additional-information_oasis_2023_v1.0.csv",
        "information_order",
        ["additional_information"],
    ),
    "fact_oasis_example_titles": (
        "example-titles_oasis_2023_v1.0.csv",
        "title_order",
        ["concordance_number", "title_type", "job_title"],
    ),
}


def test_long_oasis_facts_keep_every_record_in_order(real, real_dir):
    """Each long file, record by record: profile, position within the profile, and its values
    (example titles keep their concordance number and title type)."""
    cfg, _ = real
    for table, (file, order, values) in LONG_FILES.items():
        header, rows = _header_csv(real_dir / file)
        seen: dict[str, int] = {}
        expected = []
        for r in rows:
            code = _profile_code(r[0])
            seen[code] = seen.get(code, 0) + 1
            cells = [r[header.index(h)].strip() for h in header[1:]]
            if table == "fact_oasis_example_titles":
                cells = [int(cells[0]), cells[1], cells[2]]
            elif table == "fact_oasis_workplaces_employers":
                cells = cells[:1]  # the profile name is compared, not carried
            expected.append((code, seen[code], *cells))
        fact = gold(cfg, table).sort("_source_row")
        assert list(fact.select("oasis_code", order, *values).iter_rows()) == expected, table


def test_relationships_in_model_json_and_the_store(real):
    """Item 6: the model's relationships, as declared, in model.json and catalog.relationships;
    every gold table of the model is in model.json with its grain and source."""
    cfg, _ = real
    specs = load_specs()
    model = json.loads((cfg.catalog_schemas_path() / "model.json").read_text())
    assert set(model["tables"]) == {o.table for s in specs.values() for o in s.gold}
    assert model["tables"]["fact_oasis_work_context"]["grain"] == [
        "oasis_code",
        "descriptor_code",
        "scale",
    ]
    assert model["tables"]["dim_oasis_profile"]["source"] == "oasis_labels"
    declared = sorted(tuple(r.values()) for r in relationships(specs))
    assert sorted(tuple(r.values()) for r in model["relationships"]) == declared
    fields = ", ".join(f'"{f}"' for f in RELATIONSHIP_FIELDS)
    stored = run_query(cfg, f"SELECT {fields} FROM catalog.relationships")
    assert sorted(stored.iter_rows()) == declared
    edges = {(r[0], r[1], r[2]) for r in declared}
    for table in ("skills", "abilities", "knowledges", "work_activities", "work_context"):
        assert (f"fact_oasis_{table}", "descriptor_code", "dim_oasis_descriptor") in edges
    assert ("fact_oasis_personal_attributes", "descriptor_code", "dim_oasis_descriptor") in edges
    assert ("fact_oasis_exclusions", "excluded_oasis_code", "dim_oasis_profile") in edges
    assert ("fact_oasis_exclusions", "excluded_noc_code", "dim_noc") in edges
    assert ("fact_oasis_lead_statements", "oasis_code", "dim_oasis_profile") in edges


def _file(folder: Path, spec) -> Path:
    """The file a spec loads from `folder` (its newest release when it names a pattern)."""
    from jobforge_core.run.pipeline import source_file

    return source_file(PipelineConfig(data_root=folder / "unused", source_dir=folder), spec)

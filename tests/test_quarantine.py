"""Nothing is lost: bad rows land in quarantine with reasons; bad files are quarantined whole."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from helpers import layer, quarantined, run_plain, source_records

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import ExpectationFailed, SourceFileError
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.sources.spec import load_specs

PEOPLE_CSV = (
    "\ufeffCode,Name ,Count,Level\n"
    '00010,Élodie,"1,200",1\n'  # 1 good: thousands separator
    "00011,Bad count,abc,1\n"  # 2 cast_error
    "00010,Duplicate,5,2\n"  # 3 duplicate_key of row 1
    "00012,Out of range,7,9\n"  # 4 range expectation (drop)
    "00013,,8,1\n"  # 5 not_null expectation (drop)
    "21231,Zoé,N/A,2\n"  # 6 good: N/A is null, not an error
    "99999,Orphan,3,3\n"  # 7 foreign key to dim_noc fails at gold
)

PEOPLE_SPEC = """
name: people
domain: test
file: people.csv
renames: {Code: code, Name: name}
types: {count: int, level: int}
keys: [code]
expectations:
  - {column: level, rule: range, min: 1, max: 5, action: drop}
  - {column: name, rule: not_null, action: drop}
  - {column: code, rule: regex, pattern: '^\\d{5}$', action: warn}
# A fixture of bad rows on purpose: most of its 7 rows are quarantined somewhere.
thresholds: {max_quarantine_share: 1}
gold:
  - table: fact_people
    columns: {noc_code: code, name: name, count: count}
    foreign_keys: [{column: noc_code, references: dim_noc}]
"""


@pytest.fixture
def people(tmp_path: Path, source_copy: Path) -> tuple[PipelineConfig, Path]:
    (source_copy / "people.csv").write_text(PEOPLE_CSV, encoding="utf-8")
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    (spec_dir / "people.yaml").write_text(PEOPLE_SPEC, encoding="utf-8")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["noc_structure"])
    return cfg, spec_dir


def test_every_source_row_reaches_a_layer_or_quarantine_with_a_reason(people):
    cfg, spec_dir = people
    logs = run_plain(cfg, ["people"], [spec_dir])["people"]
    staged = set(layer(cfg, Layer.STAGED, "people")["_source_row"])
    assert staged == set(range(1, 8))
    expected_reasons = {
        Layer.BRONZE: {2: "cast_error"},
        Layer.SILVER: {3: "duplicate_key", 4: "range_level", 5: "not_null_name"},
        Layer.GOLD: {7: "foreign_key"},
    }
    previous = staged
    for lyr, table in [
        (Layer.BRONZE, "people"),
        (Layer.SILVER, "people"),
        (Layer.GOLD, "fact_people"),
    ]:
        out = set(layer(cfg, lyr, table)["_source_row"])
        q = quarantined(cfg, lyr, table)
        reasons = dict(zip(q["_source_row"], q["_quarantine_reason"], strict=True))
        assert reasons == expected_reasons[lyr]
        assert out | set(reasons) == previous and not out & set(reasons)
        assert q["_quarantine_detail"].null_count() == 0
        previous = out
    assert previous == {1, 6}
    by_layer = {log.target_layer: log for log in logs}
    assert by_layer[Layer.BRONZE].row_count_quarantined == 1
    assert by_layer[Layer.SILVER].rows_by_rule == {
        "duplicate_key": 1,
        "range_level": 1,
        "not_null_name": 1,
    }
    assert by_layer[Layer.GOLD].rows_by_rule == {"foreign_key": 1}
    assert all(log.status.value == "partial" for log in logs[1:])


def test_quarantine_keeps_original_values_and_names_the_column(people):
    cfg, spec_dir = people
    run_plain(cfg, ["people"], [spec_dir])
    bad = quarantined(cfg, Layer.BRONZE, "people").row(0, named=True)
    assert bad["Count"] == "abc" and bad["Code"] == "00011"  # original header, original value
    assert "'count'" in bad["_quarantine_detail"] and "'abc'" in bad["_quarantine_detail"]
    good = layer(cfg, Layer.SILVER, "people").sort("_source_row")
    assert good["count"].to_list() == [1200, None, 3]
    assert good["name"].to_list() == ["Élodie", "Zoé", "Orphan"]
    orphan = quarantined(cfg, Layer.GOLD, "fact_people").row(0, named=True)
    assert orphan["noc_code"] == "99999"
    assert "not in dim_noc.noc_code" in orphan["_quarantine_detail"]


def test_failing_expectation_with_action_fail_quarantines_the_file(people, tmp_path):
    cfg, spec_dir = people
    spec = (
        (spec_dir / "people.yaml")
        .read_text()
        .replace(
            "rule: range, min: 1, max: 5, action: drop", "rule: range, min: 1, max: 5, action: fail"
        )
    )
    (spec_dir / "people.yaml").write_text(spec)
    with pytest.raises(ExpectationFailed) as err:
        run_plain(cfg, ["people"], [spec_dir])
    assert err.value.row == 4 and err.value.column == "level"
    assert "people.csv" in str(err.value)
    previous_gold = cfg.table_path(Layer.GOLD, "fact_people")
    assert not previous_gold.exists()
    reports = list((cfg.quarantine_path() / "files").glob("*/error.json"))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report["layer"] == "silver" and report["row"] == 4 and report["column"] == "level"
    assert (reports[0].parent / "people.csv").read_bytes() == PEOPLE_CSV.encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00" * 50, "binary"),
        (b"Level,Hierarchical structure,Class title\n1,x,y\n", "missing required"),
    ],
    ids=["empty", "binary", "missing-column"],
)
def test_unreadable_file_is_quarantined_with_a_message_naming_it(
    source_copy, tmp_path, content, message
):
    (source_copy / "noc_structure_en.csv").write_bytes(content)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    specs = load_specs()
    plan = plan_sources(specs, cfg, ["noc_structure"], force=True)["noc_structure"]
    with pytest.raises(SourceFileError) as err:
        run_source(plan, cfg)
    assert "noc_structure_en.csv" in str(err.value) and message in str(err.value)
    report = json.loads((cfg.file_quarantine_dir(plan.batch_id) / "error.json").read_text())
    assert report["source"] == "noc_structure" and message in report["message"]
    assert report["exception"] == "SourceFileError"
    assert (cfg.file_quarantine_dir(plan.batch_id) / "noc_structure_en.csv").read_bytes() == content
    assert not cfg.table_path(Layer.STAGED, "noc_structure").exists()


def test_a_file_quarantined_at_staged_leaves_the_previous_gold_table_untouched(people):
    """Failures at silver and gold: tests/test_trust_invariants.py."""
    cfg, spec_dir = people
    run_plain(cfg, ["people"], [spec_dir])
    gold = cfg.table_path(Layer.GOLD, "fact_people")
    before = gold.read_bytes()
    (cfg.resolved_source_dir() / "people.csv").write_text(PEOPLE_CSV.replace("Level", "Lvl"))
    spec = (spec_dir / "people.yaml").read_text()
    (spec_dir / "people.yaml").write_text(
        spec.replace("keys: [code]", "keys: [code]\nrequired_columns: [Code, Level]")
    )
    with pytest.raises(SourceFileError):
        run_plain(cfg, ["people"], [spec_dir])
    (report,) = (cfg.quarantine_path() / "files").glob("*/error.json")
    assert json.loads(report.read_text())["layer"] == "staged"
    assert gold.read_bytes() == before
    assert not list(gold.parent.glob(".*.tmp"))  # no temp file left behind


def test_source_rows_are_records_not_lines_when_fields_hold_newlines(tmp_path, source_copy):
    records = source_records(source_copy / "main-duties_oasis-2023_v1.0.csv")
    text = (source_copy / "main-duties_oasis-2023_v1.0.csv").read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    lines.insert(2, '00010.00,"A duty spanning\ntwo lines"')
    (source_copy / "main-duties_oasis-2023_v1.0.csv").write_text("\n".join(lines) + "\n")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["noc_structure", "oasis_lead_statements", "oasis_labels", "oasis_main_duties"])
    staged = layer(cfg, Layer.STAGED, "oasis_main_duties")
    assert len(staged) == len(records) + 1
    row = staged.filter(pl.col("_source_row") == 2).row(0, named=True)
    assert row["Main duties"] == "A duty spanning\ntwo lines"

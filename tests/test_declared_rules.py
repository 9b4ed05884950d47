"""Every bronze and silver declaration docs/guarantees.md promises, on one small file with known
answers.

Types `bool` and `date`, custom `null_markers` (they replace the defaults), trimming, `pad_left`,
`upper`, `null_key`, the `unique` and `accepted_values` expectations and the `warn` action: each
row of RULES_CSV exercises one of them, and the test names where each row must end up.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from helpers import layer, quarantined, run_plain

from jobforge_core.common.config import Layer, PipelineConfig

RULES_CSV = (
    "ID,Flag,When,Amount,Code,Status,Ref,Name\n"
    "1,yes,31 Jan 2024, 12.5 ,42,open,r1,  Ann  \n"  # 1 good: bool, date, trimmed float
    "2,Non,29 Feb 2024,-,7,closed ,r2,N/A\n"  # 2 good: French false, '-' is a null marker
    "3,maybe,01 Jan 2024,1,1,open,r3,x\n"  # 3 cast_error: not a bool
    "4,true,31 Feb 2024,1,1,open,r4,x\n"  # 4 cast_error: not a date
    "  ,true,01 Jan 2024,1,1,open,r5,x\n"  # 5 null_key: a blank key, once trimmed
    "6,true,01 Jan 2024,5,1,pending,r6,x\n"  # 6 accepted_values (drop)
    "7,true,01 Jan 2024,5,1,open,r1,x\n"  # 7 unique: r1 again (drop)
    "8,false,01 Jan 2024,N/A,1,open,r8,x\n"  # 8 cast_error: N/A is no marker here
    "9,1,01 Mar 2024,-3,  123 ,Open,r9,   \n"  # 9 good: range fails, but only `warn`
    "10,0,,n.a.,123456,CLOSED,r10,Zoé\n"  # 10 good: empty date, 'n.a.' marker
)

RULES_SPEC = """
name: rules
domain: test
file: rules.csv
renames: {ID: id}
types: {flag: bool, when: date, amount: float}
date_format: "%d %b %Y"
null_markers: ["-", "n.a."]
keys: [id]
normalise: {code: ["pad_left:5"], status: [upper]}
expectations:
  - {column: status, rule: accepted_values, values: [OPEN, CLOSED], action: drop}
  - {column: ref, rule: unique, action: drop}
  - {column: amount, rule: range, min: 0, action: warn}
thresholds: {max_quarantine_share: 1}  # 10 rows, most of them bad on purpose
gold:
  - table: g_rules
"""


@pytest.fixture(scope="module")
def rules_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("rules")
    (base / "source").mkdir()
    (base / "source" / "rules.csv").write_text(RULES_CSV, encoding="utf-8")
    (base / "specs").mkdir()
    (base / "specs" / "rules.yaml").write_text(RULES_SPEC, encoding="utf-8")
    cfg = PipelineConfig(data_root=base / "data", source_dir=base / "source")
    logs = run_plain(cfg, ["rules"], [base / "specs"])["rules"]
    return cfg, {log.target_layer: log for log in logs}


def _reasons(cfg: PipelineConfig, lyr: Layer) -> dict[int, str]:
    q = quarantined(cfg, lyr, "rules")
    return dict(zip(q["_source_row"], q["_quarantine_reason"], strict=True))


def test_bool_date_and_custom_null_markers_at_bronze(rules_run):
    cfg, _ = rules_run
    assert _reasons(cfg, Layer.BRONZE) == {3: "cast_error", 4: "cast_error", 8: "cast_error"}
    details = quarantined(cfg, Layer.BRONZE, "rules").sort("_source_row")["_quarantine_detail"]
    assert "'maybe'" in details[0] and "bool" in details[0]
    assert "'31 Feb 2024'" in details[1] and "date" in details[1]
    assert "'N/A'" in details[2]  # custom markers replace the defaults: N/A is a value here
    bronze = layer(cfg, Layer.BRONZE, "rules").sort("_source_row")
    assert bronze.schema["flag"] == pl.Boolean and bronze.schema["when"] == pl.Date
    assert bronze.schema["amount"] == pl.Float64
    good = {r["_source_row"]: r for r in bronze.iter_rows(named=True)}
    assert set(good) == {1, 2, 5, 6, 7, 9, 10}
    assert [good[n]["flag"] for n in (1, 2, 9, 10)] == [True, False, True, False]
    assert good[1]["when"] == date(2024, 1, 31) and good[2]["when"] == date(2024, 2, 29)
    assert good[10]["when"] is None  # an empty cell is null, not a cast error
    assert good[1]["amount"] == 12.5 and good[9]["amount"] == -3.0
    assert good[2]["amount"] is None and good[10]["amount"] is None  # '-' and 'n.a.'
    assert good[2]["name"] == "N/A"  # text column: N/A is not a marker of this spec


def test_silver_trims_pads_upper_cases_and_quarantines_by_declared_rule(rules_run):
    cfg, logs = rules_run
    assert _reasons(cfg, Layer.SILVER) == {
        5: "null_key",
        6: "accepted_values_status",
        7: "unique_ref",
    }
    silver = layer(cfg, Layer.SILVER, "rules").sort("_source_row")
    assert silver["_source_row"].to_list() == [1, 2, 9, 10]
    assert silver["name"].to_list() == ["Ann", "N/A", None, "Zoé"]  # trimmed; blank is null
    assert silver["code"].to_list() == ["00042", "00007", "00123", "123456"]  # pad_left:5
    assert silver["status"].to_list() == ["OPEN", "CLOSED", "OPEN", "CLOSED"]
    assert silver["ref"].to_list() == ["r1", "r2", "r9", "r10"]  # the first r1 is kept
    log = logs[Layer.SILVER]
    assert log.rows_by_rule == {
        "null_key": 1,
        "accepted_values_status": 1,
        "unique_ref": 1,
        "warn:range_amount": 1,
    }
    assert log.row_count_in == 7 and log.row_count_out == 4 and log.row_count_quarantined == 3
    assert any("range_amount" in e for e in log.errors)  # the warning is in the log
    detail = quarantined(cfg, Layer.SILVER, "rules").filter(pl.col("_source_row") == 6)
    assert "'PENDING'" in detail["_quarantine_detail"].item()


def test_warn_keeps_the_row_all_the_way_to_gold(rules_run):
    cfg, logs = rules_run
    gold = layer(cfg, Layer.GOLD, "g_rules")
    assert sorted(gold["_source_row"]) == [1, 2, 9, 10]
    assert gold.filter(pl.col("_source_row") == 9)["amount"].item() == -3.0
    assert logs[Layer.GOLD].row_count_out == 4

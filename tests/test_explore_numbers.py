"""Numbers at bronze: a thousands separator is removed only where it groups thousands.

A French-formatted decimal (`1,5`) under the default `thousands_separator: ","` used to lose
its comma and reach gold as 15: a silently wrong value. It is a cast error now, quarantined
with its column and value, like any other text that is not a number.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from helpers import layer, quarantined, run_plain

from jobforge_core.common.config import Layer, PipelineConfig

RATES_CSV = (
    "Code,Name,Rate,Count\r\n"
    '00010,Grouped,"1,234.5","8,238,800"\r\n'  # 1 good: separators group thousands
    '00011,Decimal comma,"1,5",7\r\n'  # 2 cast_error: a French decimal, not 15
    '00012,Two digits,3,"12,34"\r\n'  # 3 cast_error: not 1234
    '00013,Long head,2,"1234,567"\r\n'  # 4 cast_error: four digits before a separator
    '00014,Signed,"-1,000",-7\r\n'  # 5 good
    "00015,Plain,0.25,12\r\n"  # 6 good
)

RATES_SPEC = """
name: rates
file: rates.csv
renames: {Code: code, Name: name}
types: {code: str, name: str, rate: float, count: int}
keys: [code]
thresholds: {max_quarantine_share: 1}
gold:
  - table: fact_rates
    columns: [code, rate, count]
"""


def test_a_separator_that_does_not_group_thousands_is_a_cast_error(tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "rates.csv").write_bytes(RATES_CSV.encode("utf-8"))
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "rates.yaml").write_text(RATES_SPEC, encoding="utf-8")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    run_plain(cfg, ["rates"], [specs])

    bronze = layer(cfg, Layer.BRONZE, "rates").sort("_source_row")
    assert bronze.select("code", "rate", "count").rows() == [
        ("00010", 1234.5, 8_238_800),
        ("00014", -1000.0, -7),
        ("00015", 0.25, 12),
    ]
    bad = quarantined(cfg, Layer.BRONZE, "rates").sort("_source_row")
    assert bad["_source_row"].to_list() == [2, 3, 4]
    assert set(bad["_quarantine_reason"]) == {"cast_error"}
    details = bad["_quarantine_detail"].to_list()
    assert "column 'rate' (header 'Rate'): '1,5' is not float" in details[0]
    assert "not between groups of 3 digits" in details[0]
    assert "'12,34' is not int" in details[1]
    assert "'1234,567' is not int" in details[2]
    gold = layer(cfg, Layer.GOLD, "fact_rates")
    assert 15.0 not in gold["rate"].to_list()
    assert gold.height == 3 and gold.schema["count"] == pl.Int64

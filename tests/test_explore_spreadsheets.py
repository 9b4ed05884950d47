"""Spreadsheet sources as a new user meets them: date cells, empty rows.

A date column of a spreadsheet loads as dates when declared `date`.

A workbook's date cell reads as text '2024-01-02 00:00:00'; with `types: {when: date}` and
no `date_format`, every such cell was a cast_error, so a new user's first Excel source with
a date column lost every row to quarantine. A date at midnight is now that date; a time of
day other than midnight is still not a date.

An empty row of a sheet was dropped by the reader, so every later record's `_source_row` was
off by the empty rows above it (record 3 pointed at the sheet's record 5). Empty rows are now
kept in staged and quarantined at bronze like a CSV's blank line.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlsxwriter
from helpers import layer, quarantined

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.sources.spec import parse_spec


def test_spreadsheet_date_cells_are_dates_and_a_time_of_day_is_not(tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    book = xlsxwriter.Workbook(str(source / "events.xlsx"))
    sheet = book.add_worksheet("Data")
    as_date = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["Code", "When"])
    sheet.write(1, 0, "00010")
    sheet.write_datetime(1, 1, dt.datetime(2024, 1, 2), as_date)
    sheet.write(2, 0, "00011")
    sheet.write(2, 1, "2024-03-04")  # a date typed as text
    sheet.write(3, 0, "00012")
    sheet.write_datetime(3, 1, dt.datetime(2024, 5, 6, 10, 30), as_date)  # not a date
    book.close()
    raw = {
        "name": "events",
        "file": "events.xlsx",
        "renames": {"Code": "code"},
        "types": {"when": "date"},
        "thresholds": {"max_quarantine_share": 1},
        "gold": [{"table": "fact_events"}],
    }
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    run_source(plan_sources({"events": parse_spec(raw, "events.yaml")}, cfg)["events"], cfg)

    gold = layer(cfg, Layer.GOLD, "fact_events").sort("_source_row")
    assert gold.select("code", "when").rows() == [
        ("00010", dt.date(2024, 1, 2)),
        ("00011", dt.date(2024, 3, 4)),
    ]
    bad = quarantined(cfg, Layer.BRONZE, "events")
    assert bad["_source_row"].to_list() == [3]
    assert "'2024-05-06 10:30:00' is not date" in bad["_quarantine_detail"][0]


def test_empty_rows_keep_the_record_numbers_of_the_sheet(tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    book = xlsxwriter.Workbook(str(source / "codes.xlsx"))
    sheet = book.add_worksheet("Data")
    sheet.write_row(0, 0, ["Code", "Name"])
    for record in (1, 3, 5):  # records 2 and 4 are empty rows
        sheet.write_row(record, 0, [f"0001{record}", f"name {record}"])
    book.close()
    raw = {
        "name": "codes",
        "file": "codes.xlsx",
        "renames": {"Code": "code", "Name": "name"},
        "keys": ["code"],
        "thresholds": {"max_quarantine_share": 1},
        "gold": [{"table": "fact_codes"}],
    }
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    run_source(plan_sources({"codes": parse_spec(raw, "codes.yaml")}, cfg)["codes"], cfg)

    assert layer(cfg, Layer.STAGED, "codes")["_source_row"].to_list() == [1, 2, 3, 4, 5]
    gold = layer(cfg, Layer.GOLD, "fact_codes").sort("_source_row")
    assert gold.select("_source_row", "code").rows() == [(1, "00011"), (3, "00013"), (5, "00015")]
    empty = quarantined(cfg, Layer.BRONZE, "codes").sort("_source_row")
    assert empty["_source_row"].to_list() == [2, 4]
    assert set(empty["_quarantine_reason"]) == {"ragged_record"}
    assert "record 2 has 0 field(s)" in empty["_quarantine_detail"][0]

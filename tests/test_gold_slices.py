"""Unpivots run per slice of silver rows: the same gold rows as one unpivot.

Row order is not compared: polars' streaming unpivot orders its output per morsel already.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from helpers import layer, run_plain

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.transitions import gold

KIND = """
domain: test
renames: {Region: region, Code: code}
default_type: int
types: {region: str, code: str}
keys: [region, code]
gold:
  - table: fact_quarters
    where: "region <> 'XX'"
    unpivot: {columns: '^q\\d$$', variable: quarter, variable_pattern: '(\\d)$$',
              variable_type: int, value: amount, drop_nulls: true}
    columns: [region, code, quarter, amount]
    keys: [region, code, quarter]
  - table: other_regions
    where: "region = 'XX'"
    columns: [region, code]
    keys: [region, code]
"""


def _source(path: Path, rows: int) -> None:
    lines = ["Region,Code,Q1,Q2,Q3,Q4"]
    for i in range(rows):
        region = ("QC", "ON", "XX")[i % 3]
        values = ["" if (i + q) % 5 == 0 else str(i * 10 + q) for q in range(4)]
        lines.append(f"{region},{i:05d},{','.join(values)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run(tmp_path: Path, name: str) -> tuple[pl.DataFrame, list]:
    specs = tmp_path / "specs"
    (specs / "kinds").mkdir(parents=True, exist_ok=True)
    (specs / "kinds" / "quarters.yaml").write_text(KIND)
    (specs / "quarters.yaml").write_text("name: quarters\nkind: quarters\nfile: quarters.csv\n")
    source = tmp_path / "source"
    source.mkdir(exist_ok=True)
    _source(source / "quarters.csv", 1000)
    cfg = PipelineConfig(data_root=tmp_path / name, source_dir=source)
    logs = run_plain(cfg, ["quarters"], [specs])["quarters"]
    return layer(cfg, Layer.GOLD, "fact_quarters"), logs


def test_sliced_unpivot_gives_the_rows_of_one_unpivot(tmp_path: Path, monkeypatch):
    whole, whole_logs = _run(tmp_path, "whole")
    monkeypatch.setattr(gold, "_LONG_ROWS_PER_SLICE", 4 * 37)  # 37 silver rows a slice: 28 slices
    monkeypatch.setattr(gold, "_MIN_SLICE_ROWS", 1)
    calls = []
    unpivot = gold.GoldBuild._unpivot
    monkeypatch.setattr(
        gold.GoldBuild, "_unpivot", lambda self, *a: calls.append(1) or unpivot(self, *a)
    )
    sliced, sliced_logs = _run(tmp_path, "sliced")
    assert len(calls) == 1 + 28  # the schema check, then one per slice of 37 of 1000 rows
    data = ["region", "code", "quarter", "amount", "_source_row"]
    assert sliced.select(data).sort(data).equals(whole.select(data).sort(data))
    kept = [i for i in range(1000) if i % 3 != 2]  # region XX goes to the other table
    nulls = sum((i + q) % 5 == 0 for i in kept for q in range(4))
    assert len(whole) == 4 * len(kept) - nulls
    assert whole_logs[-1].rows_by_rule == sliced_logs[-1].rows_by_rule


def test_batch_constants_are_text_to_duckdb_in_every_layer(tmp_path: Path) -> None:
    """Stored as one-value Enums (cheap to write per row); DuckDB reads VARCHAR."""
    import duckdb

    whole, logs = _run(tmp_path, "whole")
    tables = {"staged": "quarters", "bronze": "quarters", "silver": "quarters"}
    for lyr, table in {**tables, "gold": "fact_quarters"}.items():
        path = tmp_path / "whole" / lyr / f"{table}.parquet"
        (row,) = duckdb.sql(
            "SELECT typeof(_batch_id), typeof(_source_file), typeof(_layer), _batch_id, _layer "
            f"FROM read_parquet('{path}') LIMIT 1"
        ).fetchall()
        assert row == ("VARCHAR", "VARCHAR", "VARCHAR", logs[-1].batch_id, lyr)
    assert whole["_batch_id"].unique().to_list() == [logs[-1].batch_id]

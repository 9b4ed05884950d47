"""The whole-model foreign key check (DESIGN invariant 11), on gold files written by hand.

test_run_integrity.py checks it after real `jobforge run`s (Prefect, minutes); these tests
pin every rule of jobforge_core/checks/integrity.py in a fraction of a second: null keys are
allowed, every orphan row counts (repeats too), examples are the first five distinct codes as text,
`ref_column` names the referenced column, and a table not built yet is not checked.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from jobforge_core.checks.integrity import Orphans, foreign_key_orphans
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.sources.spec import load_specs

DIM = """
name: dims
file: dims.csv
gold:
  - table: dim_code
    model: dimension
  - table: dim_other
    model: dimension
"""
FACT = """
name: facts
file: facts.csv
gold:
  - table: fact_a
    foreign_keys:
      - {column: code, references: dim_code}
      - {column: other, references: dim_other, ref_column: other_id}
  - table: fact_b
    foreign_keys:
      - {column: n, references: dim_other, ref_column: num}
"""


@pytest.fixture
def model(tmp_path: Path):
    specs_dir = tmp_path / "specs"
    specs_dir.mkdir()
    (specs_dir / "dims.yaml").write_text(DIM)
    (specs_dir / "facts.yaml").write_text(FACT)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path)
    cfg.gold_path().mkdir(parents=True)
    return cfg, load_specs([specs_dir])


def _write(cfg: PipelineConfig, table: str, **columns: list) -> None:
    pl.DataFrame(columns).write_parquet(cfg.table_path(Layer.GOLD, table))


def test_every_orphan_row_counts_and_nulls_are_allowed(model):
    cfg, specs = model
    _write(cfg, "dim_code", code=["a", "b", "b", "c"])  # a repeated code is still one code
    _write(cfg, "dim_other", other_id=["x"], num=[1])
    codes = ["a", "z", "b", None, "z", "y", "w", "v", "u", "t", "c"]
    _write(cfg, "fact_a", code=codes, other=["x"] * len(codes))
    _write(cfg, "fact_b", n=[1, 1, None])
    found = foreign_key_orphans(cfg, specs)
    assert found == [Orphans("fact_a", "code", "dim_code", "code", 7, ["t", "u", "v", "w", "y"])]
    assert str(found[0]) == "fact_a.code: 7 row(s) not in dim_code.code (e.g. t, u, v, w, y)"


def test_ref_column_names_the_referenced_column_and_codes_show_as_text(model):
    cfg, specs = model
    _write(cfg, "dim_code", code=["a"])
    # `other` and `num` hold values that exist in the *other* column: a check against the
    # wrong column (or against the fact's own column name) would not report them
    _write(cfg, "dim_other", other_id=["x", "y"], num=[1, 2], other=["q", "r"], n=[9, 10])
    _write(cfg, "fact_a", code=["a", "a", "a"], other=["q", "x", "r"])
    _write(cfg, "fact_b", n=[9, 10, 2, 10])
    found = foreign_key_orphans(cfg, specs)
    assert found == [
        Orphans("fact_a", "other", "dim_other", "other_id", 2, ["q", "r"]),
        Orphans("fact_b", "n", "dim_other", "num", 3, ["10", "9"]),
    ]
    assert str(found[1]) == "fact_b.n: 3 row(s) not in dim_other.num (e.g. 10, 9)"


def test_a_model_whose_keys_hold_has_no_orphans(model):
    cfg, specs = model
    _write(cfg, "dim_code", code=["a", "b"])
    _write(cfg, "dim_other", other_id=["x"], num=[1])
    _write(cfg, "fact_a", code=["b", None, "a"], other=[None, "x", "x"])
    _write(cfg, "fact_b", n=[1])
    assert foreign_key_orphans(cfg, specs) == []


def test_a_table_not_built_yet_is_not_checked(model):
    cfg, specs = model
    _write(cfg, "dim_other", other_id=["x"], num=[1])
    _write(cfg, "fact_a", code=["orphan"], other=["orphan"])
    # dim_code missing: fact_a.code is not checked; fact_b missing: nothing to check
    assert foreign_key_orphans(cfg, specs) == [
        Orphans("fact_a", "other", "dim_other", "other_id", 1, ["orphan"])
    ]
    cfg.table_path(Layer.GOLD, "dim_other").unlink()
    assert foreign_key_orphans(cfg, specs) == []

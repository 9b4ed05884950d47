"""A chain stopped part-way by an error that is not a data error leaves no layer behind.

A fault of the data root at gold (here: a file where gold's history folder goes, so keeping
the previous gold version fails with an OSError, not a DataError) used to stop the chain
after staged, bronze and silver had taken the new batch while the source's state still said
complete: putting the old file back was then `unchanged`, and the three layers stayed on a
batch gold never took (docs/guarantees.md: "A source that failed part-way is re-processed by
the next run even if its file is back to the bytes gold holds"). The state is now marked
incomplete before a layer can be replaced, which also covers a killed process.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from helpers import layer

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.run.state import read_state
from jobforge_core.sources.spec import parse_spec

GOOD = "Code,Name\n00010,12\n00011,13\n"
NEW = "Code,Name\n00010,12\n00011,14\n"


def _spec():
    raw = {
        "name": "numbers",
        "file": "numbers.csv",
        "renames": {"Code": "code", "Name": "name"},
        "keys": ["code"],
        "gold": [
            {
                "table": "fact_numbers",
                "derive": {"n": "CAST(name AS INTEGER)"},
                "columns": ["code", "n"],
            }
        ],
    }
    return {"numbers": parse_spec(raw, "numbers.yaml")}


def _batches(cfg: PipelineConfig) -> dict[str, list[str]]:
    tables = {Layer.STAGED: "numbers", Layer.BRONZE: "numbers", Layer.SILVER: "numbers"}
    tables[Layer.GOLD] = "fact_numbers"
    return {
        lyr.value: layer(cfg, lyr, t)["_batch_id"].cast(pl.String).unique().to_list()
        for lyr, t in tables.items()
    }


def test_a_chain_stopped_by_any_error_is_rerun_when_the_file_comes_back(tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    specs = _spec()
    path = source / "numbers.csv"

    path.write_text(GOOD, encoding="utf-8")
    first = plan_sources(specs, cfg)["numbers"]
    run_source(first, cfg)
    assert read_state(cfg, "numbers").complete

    obstacle = cfg.data_root / "history" / "gold" / "fact_numbers"
    obstacle.parent.mkdir(parents=True)
    obstacle.write_text("not a folder", encoding="utf-8")
    path.write_text(NEW, encoding="utf-8")
    second = plan_sources(specs, cfg)["numbers"]
    with pytest.raises(OSError):
        run_source(second, cfg)
    held = _batches(cfg)
    assert held["silver"] == [second.batch_id] and held["gold"] == [first.batch_id]
    assert read_state(cfg, "numbers").complete is False

    obstacle.unlink()
    path.write_text(GOOD, encoding="utf-8")  # the old file is back: same batch as gold
    third = plan_sources(specs, cfg)["numbers"]
    assert third.batch_id == first.batch_id
    assert not third.unchanged  # re-processed, not skipped
    run_source(third, cfg)
    assert set(map(tuple, _batches(cfg).values())) == {(first.batch_id,)}
    assert read_state(cfg, "numbers").complete

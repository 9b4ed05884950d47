"""NDJSON is staged as the text of its values, like every other format.

Before: polars inferred each field's type, then the frame was cast to text. A field holding
an integer in one line and a float in another became Float64, so the id
12345678901234567 reached gold as '1.2345678901234568e+16' (a silently different value,
declared `str`); a field holding a list made the whole file unreadable.
"""

from __future__ import annotations

from pathlib import Path

from helpers import layer

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.sources.spec import parse_spec

LINES = (
    '{"id": 12345678901234567, "code": "00010", "tags": [1, 2], "meta": {"a": 1}}\n'
    '{"id": 2.5, "code": "00011", "tags": [], "meta": null}\n'
)


def test_ndjson_values_are_staged_as_their_text(tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "events.ndjson").write_text(LINES, encoding="utf-8")
    raw = {"name": "events", "file": "events.ndjson", "gold": [{"table": "fact_events"}]}
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    specs = {"events": parse_spec(raw, "events.yaml")}
    run_source(plan_sources(specs, cfg, force=True)["events"], cfg)

    staged = layer(cfg, Layer.STAGED, "events").sort("_source_row")
    assert staged["id"].to_list() == ["12345678901234567", "2.5"]
    assert staged["tags"].to_list() == ["[1, 2]", "[]"]
    # A nested object is flattened into `parent__child` columns (issue 30), its values text.
    assert staged["meta__a"].to_list() == ["1", None]
    gold = layer(cfg, Layer.GOLD, "fact_events").sort("_source_row")
    assert gold["id"].to_list() == ["12345678901234567", "2.5"]
    assert gold["code"].to_list() == ["00010", "00011"]

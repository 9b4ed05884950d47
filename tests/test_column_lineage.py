"""Issue 28, item 1 (DESIGN 20, one truth per idea): column lineage is computed once, from the
spec and the batch's silver columns, and the catalog JSON, `catalog.columns`, the site and
the OpenLineage events all show that one answer.

Before, the catalog had its own `_lineage_columns` that mapped every gold column to a silver
column of the same name: `fact_cops_employment.year` pointed at `silver.cops_employment.year`,
which does not exist (silver has the year headers `2023` ... `2033`).
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pytest
from helpers import run_plain, specs
from openlineage_schema import read_jsonl
from site_checks import catalog

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.table_names import catalog_name
from jobforge_core.openlineage.emitter import events_file
from jobforge_core.openlineage.naming import table_dataset
from jobforge_core.site.refresh import refresh_catalog
from jobforge_core.sources.column_lineage import split_column_ref

SOURCE_CELL = """Array.from(document.querySelectorAll('#columns tbody tr'), tr => [
  tr.cells[0].innerText.split('\\n')[0],
  Array.from(tr.cells[tr.cells.length - 1].querySelectorAll('[data-ref]'), e => e.dataset.ref)
])"""


@pytest.fixture(scope="module")
def every_spec_run(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    """Every shipped spec run on its bundled sample by the core alone, then the catalog and
    the site built from it: what a `jobforge run` leaves, without the orchestrator."""
    from conftest import SAMPLES

    cfg = PipelineConfig(data_root=tmp_path_factory.mktemp("lineage") / "data", source_dir=SAMPLES)
    shipped = specs()
    logs = run_plain(cfg)
    assert set(logs) == set(shipped)
    refresh_catalog(cfg, shipped)
    return cfg


def test_every_gold_source_column_exists_in_the_layer_it_names(every_spec_run):
    cfg = every_spec_run
    tables = catalog(cfg.data_root)
    gold = {n: m for n, m in tables.items() if m.layer is Layer.GOLD}
    shipped_gold = {o.table for s in specs().values() for o in s.gold}
    assert set(gold) == shipped_gold
    missing, described = [], 0
    for name, meta in gold.items():
        for column in meta.columns:
            assert column.source_columns == [f"{s.table}.{s.column}" for s in column.lineage]
            for ref in column.source_columns:
                table, source_column = split_column_ref(ref)
                if source_column not in {c.name for c in tables[table].columns}:
                    missing.append(f"{name}.{column.name} <- {ref}")
            described += bool(column.lineage)
    assert missing == []
    assert described > 0.9 * sum(len(m.columns) for m in gold.values())
    year = {c.name: c for c in gold["fact_cops_employment"].columns}["year"]
    assert {s.column for s in year.lineage} == {str(y) for y in range(2023, 2034)}
    assert {s.subtype for s in year.lineage} == {"TRANSFORMATION"}


def test_catalog_columns_in_duckdb_hold_the_same_lineage(every_spec_run):
    cfg = every_spec_run
    with duckdb.connect(str(cfg.data_root / "jobforge.duckdb"), read_only=True) as con:
        rows = con.sql(
            "SELECT table_name, name, source_columns, [l.subtype FOR l IN lineage]"
            " FROM catalog.columns WHERE layer = 'gold'"
        ).fetchall()
    tables = catalog(cfg.data_root)
    for table, column, sources, subtypes in rows:
        meta = {c.name: c for c in tables[table].columns}[column]
        assert sources == meta.source_columns
        assert subtypes == [s.subtype for s in meta.lineage]


def test_the_site_and_the_events_agree(every_spec_run, browser):
    """For every gold column: the source columns its page lists are the input fields of the
    `columnLineage` facet of the event that wrote the table."""
    cfg = every_spec_run
    dataset_to_table = {}
    for meta in catalog(cfg.data_root).values():
        layer = meta.layer
        short = meta.table_name if layer is Layer.GOLD else meta.table_name.split(".", 1)[1]
        dataset_to_table[table_dataset(cfg, layer, short)[1]] = meta.table_name
    from_events: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for event in read_jsonl(events_file(cfg)):
        if event["eventType"] != "COMPLETE" or not event["job"]["name"].endswith(".gold"):
            continue
        for out in event["outputs"]:
            facet = out["facets"].get("columnLineage")
            if facet is None:
                continue
            table = dataset_to_table[out["name"]]
            from_events[table] = {
                column: {
                    f"{dataset_to_table[f['name']]}.{f['field']}" for f in fields["inputFields"]
                }
                for column, fields in facet["fields"].items()
            }
    gold = sorted(n for n, m in catalog(cfg.data_root).items() if m.layer is Layer.GOLD)
    assert set(from_events) == set(gold)
    site = cfg.data_root / "docs"
    for table in gold:
        browser.open((site / "tables" / f"{table}.html").as_uri())
        shown = {column: set(refs) for column, refs in browser.js(SOURCE_CELL) if refs}
        assert shown == from_events[table], table


def test_catalog_name_round_trips_through_a_column_ref():
    for layer, table in [(Layer.SILVER, "cops_employment"), (Layer.GOLD, "dim_noc")]:
        ref = f"{catalog_name(layer, table)}.2023"
        assert split_column_ref(ref) == (catalog_name(layer, table), "2023")
    assert split_column_ref("staged.cops_employment.Code.NOC") == (
        "staged.cops_employment",
        "Code.NOC",
    )

"""Gold links declared in YAML, on small files with known answers (issue 14's mechanisms).

A wide file whose headers name a dimension's entries: the scale number at the end of a header,
a declared `recode` of an abbreviated header, a case-insensitive `lookups_after` match, and a
`required` foreign key that quarantines a header matching nothing (a null is an orphan there).
A `checks` entry counts rows without moving them. A `deferred` foreign key (the back edge of a
dimension that looks up a fact referring to it) orders nothing, quarantines nothing, and is
caught by the end-of-run check.
"""

from __future__ import annotations

import polars as pl
import pytest
from helpers import layer, quarantined, run_plain

from jobforge_core.checks.integrity import foreign_key_orphans
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.sources.spec import gold_order, load_specs

TERMS_CSV = "Code,Name,Kind\nT1,Alpha,x\nT2,Beta Gamma,x\nT3,Delta,x\nT4,Alpha,y\n"
NOTES_CSV = "Code,Note\nT1,first of T1\nT1,second of T1\nT9,of no term\n"
RATINGS_CSV = (
    "ID,Label,ALPHA,Beta Gamma,Beta Gamma2,Dlt,Unknown\nr1,One,1,2,3,4,5\nr2,Two,6,7,8,9,0\n"
)

SPECS = {
    "terms.yaml": """
name: terms
file: terms.csv
keys: [code]
gold:
  - table: dim_terms
    model: dimension
    lookups:
      - table: fact_notes
        key: code
        ref_key: code
        where: "note_order = 1"
        columns: {first_note: note}
    columns: [code, name, kind, first_note]
    keys: [code]
""",
    "notes.yaml": """
name: notes
file: notes.csv
gold:
  - table: fact_notes
    sequence: {name: note_order, partition_by: [code]}
    columns: [code, note_order, note]
    keys: [code, note_order]
    foreign_keys:
      - {column: code, references: dim_terms, deferred: true}
""",
    "ratings.yaml": r"""
name: ratings
file: ratings.csv
keys: [id]
default_type: int
types: {id: str, label: str}
thresholds: {max_quarantine_share: 1}
gold:
  - table: fact_ratings
    unpivot: {index: [id, label], variable: header, variable_from: label, value: value}
    derive_after:
      descriptor: regexp_replace(header, '\s*\d+$', '')
      scale: CAST(CASE WHEN regexp_like(header, '\d$') THEN 2 ELSE 1 END AS INT)
    recode: {descriptor: {Dlt: Delta}}
    lookups_after:
      - table: dim_terms
        key: lower(descriptor)
        ref_key: lower(name)
        where: "kind = 'x'"
        columns: {code: code}
    columns: [id, code, descriptor, scale, value]
    keys: [id, code, scale]
    foreign_keys:
      - {column: code, references: dim_terms, required: true}
    checks:
      - {id: label_is_not_two, condition: "label <> 'Two'", count_distinct: [id]}
""",
}


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    base = tmp_path_factory.mktemp("links")
    (base / "source").mkdir()
    (base / "specs").mkdir()
    for name, text in (("terms", TERMS_CSV), ("notes", NOTES_CSV), ("ratings", RATINGS_CSV)):
        (base / "source" / f"{name}.csv").write_text(text, encoding="utf-8")
    for name, text in SPECS.items():
        (base / "specs" / name).write_text(text, encoding="utf-8")
    cfg = PipelineConfig(data_root=base / "data", source_dir=base / "source")
    logs = run_plain(cfg, ["notes", "terms", "ratings"], [base / "specs"])
    return cfg, logs, load_specs([base / "specs"])


def test_headers_link_to_the_dimension_by_name_scale_and_declared_recode(linked):
    cfg, _, _ = linked
    fact = layer(cfg, Layer.GOLD, "fact_ratings").sort("id", "code", "scale")
    rows = list(fact.select("id", "code", "descriptor", "scale", "value").iter_rows())
    assert rows[:4] == [
        ("r1", "T1", "ALPHA", 1, 1),  # case-insensitive; T4 'Alpha' is kind y, filtered out
        ("r1", "T2", "Beta Gamma", 1, 2),
        ("r1", "T2", "Beta Gamma", 2, 3),  # 'Beta Gamma2': the second scale
        ("r1", "T3", "Delta", 1, 4),  # 'Dlt', mapped by the declared recode
    ]
    assert len(rows) == 8


def test_a_required_key_that_found_nothing_is_quarantined(linked):
    cfg, logs, _ = linked
    bad = quarantined(cfg, Layer.GOLD, "fact_ratings")
    assert bad["_quarantine_reason"].to_list() == ["foreign_key", "foreign_key"]
    assert bad["descriptor"].to_list() == ["Unknown", "Unknown"]
    assert bad["_quarantine_detail"][0] == "code '<null>' not in dim_terms.code"
    (gold,) = [log for log in logs["ratings"] if log.target_layer is Layer.GOLD]
    assert gold.rows_by_rule["foreign_key"] == 2


def test_a_check_counts_without_moving_rows(linked):
    cfg, logs, _ = linked
    (gold,) = [log for log in logs["ratings"] if log.target_layer is Layer.GOLD]
    assert gold.rows_by_rule["warn:label_is_not_two"] == 1  # one id, however many columns
    checks = {c.rule: (c.action, c.rows) for c in gold.rule_checks}
    assert checks["label_is_not_two"] == ("warn", 1)
    assert layer(cfg, Layer.GOLD, "fact_ratings").filter(pl.col("id") == "r2").height == 4


def test_a_deferred_key_orders_nothing_and_is_checked_after_the_run(linked):
    cfg, logs, specs = linked
    order = gold_order(specs)
    assert order.index("notes") < order.index("terms")  # terms looks notes up
    dim = layer(cfg, Layer.GOLD, "dim_terms")
    assert dict(dim.select("code", "first_note").iter_rows())["T1"] == "first of T1"
    (gold,) = [log for log in logs["notes"] if log.target_layer is Layer.GOLD]
    assert gold.row_count_quarantined == 0 and gold.rows_by_table == {"fact_notes": 3}
    (orphans,) = foreign_key_orphans(cfg, specs)
    assert (orphans.table, orphans.column, orphans.rows, orphans.examples) == (
        "fact_notes",
        "code",
        1,
        ["T9"],
    )

"""Nested JSON, declaratively (issue 30): envelopes, Unicode text, flattened objects, and lists
unnested into child tables that are sources of their own.

Every file here is written by the test. Before: a two-list envelope was unreadable, nested
values became JSON text with `\\u2019` escapes, and a list could only be unnested by one derived
column per position, silently dropping the items past the last column written.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import layer

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import SourceFileError, SpecError
from jobforge_core.run.pipeline import plan_sources, run_source, select_specs
from jobforge_core.sources.readers import open_source
from jobforge_core.sources.spec import load_specs, parse_spec, with_children

LONG = 300  # items in one list: longer than any list before it in the file
OCCUPATIONS = [
    {
        "code": "00010",
        "title": "Navigator’s yeoman",
        "provenance": {"Source URL": "https://example.org/ä", "edition": 2},
        "keywords": ["sea", "navire", "étoile"],
        "careers": [
            {"title": "Mate", "skills": ["charts", "stars"]},
            {"title": "Captain", "skills": []},
        ],
    },
    {"code": "00011", "title": "Cook", "provenance": None, "keywords": [], "careers": []},
    {"code": "00012", "title": "Élève", "provenance": {"Source URL": "u"}},  # no lists at all
    {
        "code": "00013",
        "title": "Clerk",
        "keywords": [f"k{i}" for i in range(LONG)],
        "careers": [{"title": "Head clerk", "skills": ["ledgers"]}, "not an object"],
    },
]
PARENT_YAML = {
    "name": "occupations",
    "file": "occupations.json",
    "reader": {"records": "data.occupations"},
    "keys": ["code"],
    "gold": [{"table": "dim_occupation", "model": "dimension", "keys": ["code"]}],
    "children": [
        {
            "name": "occupation_keywords",
            "path": "keywords",
            "key": ["code"],
            "keys": ["code", "_item_index"],
            "expectations": [{"column": "value", "rule": "not_null"}],
            "gold": [
                {
                    "table": "occupation_keyword",
                    "columns": ["code", "_item_index", "value", "_parent_row", "_item_path"],
                    "foreign_keys": [{"column": "code", "references": "dim_occupation"}],
                }
            ],
        },
        {
            "name": "occupation_careers",
            "path": "careers",
            "key": ["code"],
            "keys": ["code", "_item_index"],
            "thresholds": {"max_quarantine_share": 0.5},
            "gold": [
                {
                    "table": "occupation_career",
                    "foreign_keys": [{"column": "code", "references": "dim_occupation"}],
                }
            ],
            "children": [
                {
                    "name": "occupation_career_skills",
                    "path": "skills",
                    "key": {"code": "code", "career": "_item_index"},
                    "types": {"career": "int"},
                    "gold": [{"table": "occupation_career_skill"}],
                }
            ],
        },
    ],
}


def _write(tmp_path: Path, document: object, name: str = "occupations.json") -> Path:
    source = tmp_path / "source"
    source.mkdir(exist_ok=True)
    (source / name).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return source


def _read(tmp_path: Path, raw: dict) -> pl.DataFrame:
    spec = parse_spec(dict(raw), "t.yaml")
    with open_source(spec, tmp_path / "source" / raw["file"], tmp_path / "work") as read:
        return read.frame.collect()


def _run(tmp_path: Path, raw: dict) -> tuple[PipelineConfig, dict]:
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path / "source")
    specs = with_children({raw["name"]: parse_spec(json.loads(json.dumps(raw)), "t.yaml")})
    logs = {n: run_source(p, cfg) for n, p in plan_sources(specs, cfg, force=True).items()}
    return cfg, logs


def test_envelopes_one_list_nested_path_and_two_lists_named(tmp_path: Path):
    rows = [{"id": "1"}, {"id": "2"}]
    _write(tmp_path, {"data": rows}, "one.json")
    assert _read(tmp_path, {"name": "one", "file": "one.json"})["id"].to_list() == ["1", "2"]

    _write(tmp_path, {"meta": {"count": 2}, "result": {"rows": rows, "notes": []}}, "deep.json")
    deep = {"name": "deep", "file": "deep.json", "reader": {"records": "result.rows"}}
    assert _read(tmp_path, deep)["id"].to_list() == ["1", "2"]

    _write(tmp_path, {"rows": rows, "others": [{"x": 1}]}, "two.json")
    with pytest.raises(SourceFileError, match=r"lists at rows, others.*records: rows"):
        _read(tmp_path, {"name": "two", "file": "two.json"})
    with pytest.raises(SourceFileError, match=r"names nothing.*lists found at: rows, others"):
        _read(tmp_path, {"name": "two", "file": "two.json", "reader": {"records": "rowz"}})
    picked = {"name": "two", "file": "two.json", "reader": {"records": "others"}}
    assert _read(tmp_path, picked)["x"].to_list() == ["1"]


def test_text_stays_unicode_numbers_keep_their_digits_objects_flatten(tmp_path: Path):
    record = {
        "Name": "navigator’s yeoman",
        "Provenance EN": {"Source URL": "https://exemple.ca/é", "Inner": {"Level": 3}},
        "tags": ["réseau", "mer"],
        "amount": 1.10,
        "big": 12345678901234567,
    }
    source = tmp_path / "source"
    source.mkdir()
    # Written by hand: Python's json would write 1.10 as 1.1.
    text = json.dumps([record], ensure_ascii=True).replace("1.1,", "1.10,")
    (source / "n.json").write_text(text, encoding="utf-8")
    frame = _read(tmp_path, {"name": "n", "file": "n.json"})
    row = frame.row(0, named=True)
    assert row["Name"] == "navigator’s yeoman"  # the file's \u2019 escape read as the character
    assert row["tags"] == '["réseau", "mer"]'  # a list no child takes: JSON text, no escapes
    assert row["amount"] == "1.10" and row["big"] == "12345678901234567"
    assert row["Provenance EN__Source URL"] == "https://exemple.ca/é"
    assert row["Provenance EN__Inner__Level"] == "3"

    flat_off = {"name": "n", "file": "n.json", "reader": {"flatten": False}}
    assert _read(tmp_path, flat_off)["Provenance EN"][0].startswith('{"Source URL": "https')

    cfg, _ = _run(tmp_path, {"name": "n", "file": "n.json", "gold": [{"table": "n_gold"}]})
    gold = layer(cfg, Layer.GOLD, "n_gold")
    # Normalised part by part, as other headers are, the nesting kept by `__`.
    assert {"provenance_en__source_url", "provenance_en__inner__level"} <= set(gold.columns)
    assert gold["name"].to_list() == ["navigator’s yeoman"]


def test_child_tables_flow_to_gold_reconciled_item_by_item(tmp_path: Path):
    _write(tmp_path, {"data": {"occupations": OCCUPATIONS}, "meta": {"n": 4}})
    cfg, logs = _run(tmp_path, PARENT_YAML)
    assert set(logs) == {
        "occupations",
        "occupation_keywords",
        "occupation_careers",
        "occupation_career_skills",
    }

    parent = layer(cfg, Layer.GOLD, "dim_occupation").sort("_source_row")
    assert parent["code"].to_list() == ["00010", "00011", "00012", "00013"]
    assert "keywords" not in parent.columns and "careers" not in parent.columns  # moved out
    assert parent["provenance__source_url"].to_list()[0] == "https://example.org/ä"

    # Item by item: each parent's gold + quarantined items == the length of its list.
    keywords = layer(cfg, Layer.GOLD, "occupation_keyword")
    per_code = dict(keywords.group_by("code").len().iter_rows())
    for occ in OCCUPATIONS:
        assert per_code.get(occ["code"], 0) == len(occ.get("keywords", []))
    assert per_code["00013"] == LONG  # nothing cut past any earlier list's length
    clerk = keywords.filter(pl.col("code") == "00013").sort("_item_index")
    assert clerk["value"].to_list() == [f"k{i}" for i in range(LONG)]
    assert keywords.filter(pl.col("code") == "00010").sort("_item_index")["value"].to_list() == [
        "sea",
        "navire",
        "étoile",
    ]
    stage_log = logs["occupation_keywords"][0]
    assert stage_log.row_count_in == stage_log.row_count_out == LONG + 3
    assert "unnest_list_items" in stage_log.transforms_applied

    # Lists of objects, and the malformed item quarantined with its path and position.
    careers = layer(cfg, Layer.GOLD, "occupation_career").sort("_source_row")
    assert careers.select("code", "_item_index", "title").rows() == [
        ("00010", 0, "Mate"),
        ("00010", 1, "Captain"),
        ("00013", 0, "Head clerk"),
    ]
    (quarantine,) = (cfg.quarantine_path() / "bronze" / "occupation_careers").glob("*.parquet")
    bad = pl.read_parquet(quarantine).row(0, named=True)
    assert bad["_quarantine_reason"] == "malformed_item"
    assert bad["_item_path"] == "$.data.occupations[3].careers[1]" and bad["_item_index"] == "1"
    assert '"not an object"' in bad["_quarantine_detail"]
    bronze = logs["occupation_careers"][1]
    assert (bronze.row_count_in, bronze.row_count_out, bronze.row_count_quarantined) == (4, 3, 1)

    # Two levels: a skill carries its occupation and its career's position.
    skills = layer(cfg, Layer.GOLD, "occupation_career_skill").sort("_source_row")
    assert skills.select("code", "career", "value").rows() == [
        ("00010", 0, "charts"),
        ("00010", 0, "stars"),
        ("00013", 0, "ledgers"),
    ]


def test_lineage_of_a_child_row_back_to_its_parent_record(tmp_path: Path):
    _write(tmp_path, {"data": {"occupations": OCCUPATIONS}})
    cfg, _ = _run(tmp_path, PARENT_YAML)
    tables = {
        t: str(cfg.table_path(Layer.GOLD, t))
        for t in ("dim_occupation", "occupation_keyword", "occupation_career_skill")
    }
    con = duckdb.connect()
    # A keyword's `_parent_row` is its occupation's `_source_row`: the record in the file.
    (row,) = con.execute(
        "SELECT k._item_path, p._source_row, p.code, p.title FROM read_parquet(?) k "
        "JOIN read_parquet(?) p ON k._parent_row = p._source_row "
        "WHERE k.value = 'étoile'",
        [tables["occupation_keyword"], tables["dim_occupation"]],
    ).fetchall()
    assert row == ("$.data.occupations[0].keywords[2]", 1, "00010", "Navigator’s yeoman")
    assert OCCUPATIONS[row[1] - 1]["keywords"][2] == "étoile"  # back to the record itself
    orphans = con.execute(
        "SELECT count(*) FROM read_parquet(?) k ANTI JOIN read_parquet(?) p USING (code)",
        [tables["occupation_keyword"], tables["dim_occupation"]],
    ).fetchone()
    assert orphans == (0,)
    # A skill's `_parent_row` is its career's row in the career table.
    (career,) = con.execute(
        "SELECT c.title FROM read_parquet(?) s JOIN read_parquet(?) c "
        "ON s._parent_row = c._source_row WHERE s.value = 'ledgers'",
        [tables["occupation_career_skill"], str(cfg.table_path(Layer.GOLD, "occupation_career"))],
    ).fetchall()
    assert career == ("Head clerk",)


def test_a_field_that_is_not_a_list_and_empty_child_tables(tmp_path: Path):
    records = [
        {"id": "a", "tags": "just text"},
        {"id": "b", "tags": []},
        {"id": "c"},
        {"id": "d", "tags": None},
    ]
    _write(tmp_path, records, "t.json")
    raw = {
        "name": "things",
        "file": "t.json",
        "gold": [{"table": "thing", "model": "dimension", "keys": ["id"]}],
        "children": [
            {"name": "thing_tags", "path": "tags", "key": ["id"], "gold": [{"table": "tag"}]}
        ],
    }
    raw["children"][0]["thresholds"] = {"max_quarantine_share": 1}
    cfg, logs = _run(tmp_path, raw)
    (quarantine,) = (cfg.quarantine_path() / "bronze" / "thing_tags").glob("*.parquet")
    bad = pl.read_parquet(quarantine).row(0, named=True)
    assert bad["_item_path"] == "$[0].tags" and bad["_item_index"] is None
    assert "not a list" in bad["_quarantine_detail"]
    assert layer(cfg, Layer.GOLD, "tag").height == 0  # every list empty or missing

    # Every list empty: an empty child table, not a quarantined file.
    _write(tmp_path, [{"id": "a", "tags": []}, {"id": "b"}], "t.json")
    cfg, logs = _run(tmp_path, raw)
    assert logs["thing_tags"][0].row_count_out == 0
    assert layer(cfg, Layer.GOLD, "thing").height == 2


def test_ndjson_child_tables_stream_and_json_documents_have_a_size_limit(tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    lines = [{"id": str(i), "tags": [f"t{j}" for j in range(i % 4)]} for i in range(50_001)]
    with (source / "big.ndjson").open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line) + "\n")
    raw = {
        "name": "big",
        "file": "big.ndjson",
        "children": [{"name": "big_tags", "path": "tags", "key": ["id"]}],
    }
    specs = with_children({"big": parse_spec(raw, "b.yaml")})
    with open_source(specs["big_tags"], source / "big.ndjson", tmp_path / "work") as read:
        assert read.items == sum(i % 4 for i in range(50_001))
        tags = read.frame.select(pl.len(), pl.col("id").n_unique()).collect().row(0)
    # Every record with a tag, written over several row groups.
    assert tags == (read.items, sum(1 for i in range(50_001) if i % 4))

    _write(tmp_path, [{"id": "1"}], "doc.json")
    small = {"name": "doc", "file": "doc.json", "reader": {"max_document_bytes": 5}}
    with pytest.raises(SourceFileError, match=r"above the 5 bytes.*max_document_bytes.*NDJSON"):
        _read(tmp_path, small)


def test_children_are_declared_sources_named_with_their_parent(tmp_path: Path):
    specs = with_children({"occupations": parse_spec(json.loads(json.dumps(PARENT_YAML)), "t")})
    child = specs["occupation_career_skills"]
    assert child.parent == "occupation_careers" and child.file == "occupations.json"
    assert [s.path for s in child.reader.items] == ["careers", "skills"]
    assert child.types["_item_index"] == "int" and child.types["career"] == "int"
    # Running the parent runs its children, and theirs.
    assert select_specs(specs, ["occupations"]) == list(specs)

    bad = json.loads(json.dumps(PARENT_YAML))
    bad["children"][0]["expectatons"] = []
    with pytest.raises(SpecError, match="(?s)occupation_keywords.*expectatons"):
        parse_spec(bad, "bad.yaml")
    csv = {"name": "c", "file": "c.csv", "children": [{"name": "x", "path": "y"}]}
    with pytest.raises(SpecError, match="`children` needs a JSON or NDJSON file"):
        parse_spec(csv, "c.yaml")


def test_readme_example_parent_and_child_gold_with_a_foreign_key(tmp_path: Path):
    """docs/sources.md's YAML, loaded as a spec directory is, runs as written."""
    page = (Path(__file__).parents[1] / "docs" / "sources.md").read_text(encoding="utf-8")
    section = page.split("## Nested JSON")[1]
    yaml_text = section.split("```yaml\n")[1].split("```")[0]
    specs_dir = tmp_path / "specs"
    specs_dir.mkdir()
    (specs_dir / "occupations.yaml").write_text(yaml_text, encoding="utf-8")
    records = [{"code": "1", "keywords": ["a", "b"]}, {"code": "2", "keywords": ["ç"]}]
    _write(tmp_path, {"meta": {"n": 2}, "data": {"occupations": records}})
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path / "source")
    specs = load_specs([specs_dir])
    plans = plan_sources(specs, cfg, ["occupations"], force=True)
    assert set(plans) == {"occupations", "occupation_keywords"}
    for plan in plans.values():
        run_source(plan, cfg)
    child = layer(cfg, Layer.GOLD, "occupation_keyword").sort("_source_row")
    assert child.select("code", "_item_index", "value").rows() == [
        ("1", 0, "a"),
        ("1", 1, "b"),
        ("2", 0, "ç"),
    ]
    assert layer(cfg, Layer.GOLD, "dim_occupation")["code"].to_list() == ["1", "2"]


def test_a_flow_run_takes_the_children_of_a_named_source_to_gold(prefect_harness, tmp_path):
    """In a real Prefect run the child tables are sources like any other: their own tasks,
    gold tables, and foreign keys checked before the run publishes."""
    from flows import jobforge_flow

    section = (Path(__file__).parents[1] / "docs" / "sources.md").read_text(encoding="utf-8")
    yaml_text = section.split("## Nested JSON")[1].split("```yaml\n")[1].split("```")[0]
    specs_dir = tmp_path / "specs"
    specs_dir.mkdir()
    (specs_dir / "occupations.yaml").write_text(yaml_text, encoding="utf-8")
    records = [{"code": "1", "keywords": ["x"] * 40}, {"code": "2", "keywords": []}]
    source = _write(tmp_path, {"data": {"occupations": records}})
    state = jobforge_flow(
        sources=["occupations"],
        data_root=str(tmp_path / "data"),
        source_dir=str(source),
        spec_dirs=[str(specs_dir)],
        return_state=True,
    )
    assert state.is_completed(), state.message
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    keywords = layer(cfg, Layer.GOLD, "occupation_keyword")
    assert keywords.height == 40 and set(keywords["_parent_row"]) == {1}

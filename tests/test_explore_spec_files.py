"""Spec files are found under either YAML extension: a `people.yml` used to be skipped without
a word, and `jobforge run --source people` then said only "unknown source 'people'"."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobforge_core.common.errors import SpecError
from jobforge_core.sources.spec import load_specs

SPEC = "name: {name}\nfile: {name}.csv\nkind: {kind}\n"
KIND = "renames: {{Code: code}}\nkeys: [code]\ngold:\n  - table: fact_$name\n"


def test_yml_specs_and_kinds_are_read_and_hidden_files_are_not(tmp_path: Path):
    specs = tmp_path / "my-specs"
    (specs / "kinds").mkdir(parents=True)
    (specs / "kinds" / "coded.yml").write_text(KIND.format(), encoding="utf-8")
    (specs / "people.yml").write_text(SPEC.format(name="people", kind="coded"), encoding="utf-8")
    (specs / ".#people.yaml").write_text("not: [yaml", encoding="utf-8")  # an editor's lock
    loaded = load_specs([specs])
    assert loaded["people"].key_columns == ["code"]
    assert [g.table for g in loaded["people"].gold] == ["fact_people"]


def test_one_source_in_a_yaml_and_a_yml_file_of_one_directory_is_an_error(tmp_path: Path):
    specs = tmp_path / "my-specs"
    (specs / "kinds").mkdir(parents=True)
    (specs / "kinds" / "coded.yml").write_text(KIND.format(), encoding="utf-8")
    for suffix in (".yaml", ".yml"):
        (specs / f"people{suffix}").write_text(
            SPEC.format(name="people", kind="coded"), encoding="utf-8"
        )
    with pytest.raises(SpecError, match=r"people\.yaml and .*people\.yml"):
        load_specs([specs])

"""Spec mistakes that can be seen in the spec alone stop `jobforge run` before any work.

Before: an expectation pattern or an unpivot `columns` regex that does not compile, an
unpivot `variable_pattern` without a group, or a `range` on a text column all loaded fine and
failed half-way through the run (after staged and bronze were replaced) with a multi-line
polars or `re` error that named no spec.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main

BASE = "name: rates\nfile: rates.csv\nrenames: {Code: code}\nkeys: [code]\n"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            "expectations:\n  - {column: code, rule: regex, pattern: '^[0-9'}\n"
            "gold:\n  - table: fact_rates\n",
            "pattern '^[0-9' is not a valid regular expression",
        ),
        (
            "gold:\n  - table: fact_rates\n    unpivot: {columns: '^(20'}\n",
            "columns '^(20' is not a valid regular expression",
        ),
        (
            "gold:\n  - table: fact_rates\n"
            "    unpivot: {columns: '^y', variable_pattern: 'y\\d+'}\n",
            "variable_pattern 'y\\\\d+' needs a group",
        ),
        (
            "expectations:\n  - {column: rate, rule: range, min: 0}\n"
            "gold:\n  - table: fact_rates\n",
            "a range needs a number column, and 'rate' is str",
        ),
    ],
)
def test_a_spec_mistake_is_one_line_and_exit_2_before_any_work(tmp_path: Path, capsys, body, said):
    source = tmp_path / "source"
    source.mkdir()
    (source / "rates.csv").write_text("Code,Rate\n001,1.5\n", encoding="utf-8")
    specs = tmp_path / "my-specs"
    specs.mkdir()
    (specs / "rates.yaml").write_text(BASE + body, encoding="utf-8")
    root = tmp_path / "data"
    args = ["run", "--data-root", str(root), "--source-dir", str(source), "--specs", str(specs)]
    assert main([*args, "--source", "rates"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rates.yaml" in err[0] and said in err[0], err
    assert not root.exists()


def test_a_range_on_a_declared_number_and_a_grouped_pattern_still_load(tmp_path: Path):
    from jobforge_core.sources.spec import parse_spec

    raw = {
        "name": "rates",
        "file": "rates.csv",
        "types": {"rate": "float"},
        "expectations": [{"column": "rate", "rule": "range", "min": 0}],
        "gold": [
            {"table": "fact_rates", "unpivot": {"columns": "^y", "variable_pattern": "y(\\d+)"}}
        ],
    }
    assert parse_spec(raw, "rates.yaml").expectations[0].id == "range_rate"

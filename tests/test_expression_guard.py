"""Issue 26 item 3: filter and derive expressions are expressions only. polars' SQL accepted a
subquery over read_csv('/etc/passwd') and printed the file's first line in its error."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobforge_core.common.errors import SpecError
from jobforge_core.sources.spec import load_specs

SIDE_DOOR = "noc_code IN (SELECT nope FROM read_csv('/etc/passwd'))"

SPEC = """
name: doors
file: doors.csv
keys: [code]
gold:
  - table: fact_doors
    {field}
    columns: [code]
"""


@pytest.mark.parametrize(
    "field",
    [
        f'where: "{SIDE_DOOR}"',
        "derive: {x: \"read_parquet('/etc/passwd')\"}",
        'derive_after: {x: "(SELECT 1)"}',
        'lookups: [{table: self, key: code, ref_key: code, where: "1=1; drop", '
        "columns: {a: code}}]",
        'checks: [{id: c, condition: "code IN (SELECT 1)"}]',
    ],
)
def test_a_spec_expression_that_reads_a_file_is_refused_at_load(tmp_path: Path, field):
    (tmp_path / "doors.yaml").write_text(SPEC.format(field=field))
    with pytest.raises(SpecError) as caught:
        load_specs([tmp_path])
    assert "is not an expression over the rows" in str(caught.value.__cause__ or caught.value)
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd


def test_values_and_names_that_look_like_keywords_stay_allowed(tmp_path: Path):
    field = 'where: "label <> \'select from\' AND \\"from\\" IS NOT NULL"'
    (tmp_path / "doors.yaml").write_text(SPEC.format(field=field))
    assert "doors" in load_specs([tmp_path])


def test_lineage_where_refuses_a_subquery_and_prints_nothing_of_the_file(sample_flow_run, capsys):
    from flows.cli import main

    data_root, code, _ = sample_flow_run
    assert code == 0
    assert main(["lineage", "dim_noc", "--data-root", str(data_root), "--where", SIDE_DOOR]) == 2
    captured = capsys.readouterr()
    assert "is not an expression over the rows ('SELECT' is not allowed" in captured.err
    assert "root:" not in captured.err + captured.out

"""A new user's first run of their own source: the printed next steps work as printed.

The query hint was always `SELECT * FROM dim_noc LIMIT 5`; on a data root built from a user's
own spec alone there is no dim_noc, and the suggested command failed (exit 2).
"""

from __future__ import annotations

import shlex

import pytest

from flows.cli import main

pytestmark = pytest.mark.usefixtures("prefect_harness")

SPEC = """
name: projections
file: projections.csv
renames: {Code: code}
keys: [code]
gold:
  - table: fact_projections
    columns: [code, total]
"""


def test_the_query_hint_names_a_table_the_data_root_holds(tmp_path, capsys):
    source = tmp_path / "source"
    source.mkdir()
    (source / "projections.csv").write_text("Code,Total\n001,5\n002,7\n", encoding="utf-8")
    specs = tmp_path / "my-specs"
    specs.mkdir()
    (specs / "projections.yaml").write_text(SPEC, encoding="utf-8")
    root = tmp_path / "data"
    args = ["run", "--data-root", str(root), "--source-dir", str(source), "--specs", str(specs)]
    assert main([*args, "--source", "projections"]) == 0
    err = capsys.readouterr().err
    hint = next(line for line in err.splitlines() if line.startswith("query:"))
    command = shlex.split(hint.removeprefix("query:"))
    # the command as installed: `jobforge` on PATH, else the script that ran (pasteable)
    from flows.render import jobforge_command

    assert command[:2] == [*shlex.split(jobforge_command()), "query"][:2]
    assert command[1] == "query" and "fact_projections" in command[-1]
    assert main(command[1:]) == 0  # the hint, run as printed
    assert "001" in capsys.readouterr().out

"""`--data-root` naming a file, not a directory: every read command says so (exit 2).

Before: "data root /x/file does not exist", about a path that plainly exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main


@pytest.mark.parametrize(
    "command",
    [
        ["catalog"],
        ["quarantine"],
        ["query", "SELECT 1"],
        ["lineage", "dim_noc"],
        ["history", "dim_noc"],
        ["diff", "dim_noc"],
        ["docs"],
        ["openlineage", "export", "--output", "-"],
    ],
)
def test_a_file_as_data_root_is_named_as_not_a_directory(tmp_path: Path, capsys, command):
    root = tmp_path / "data.csv"
    root.write_text("Code\n1\n", encoding="utf-8")
    assert main([*command, "--data-root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"data root {root} is not a directory" in err[0], err
    assert main([*command, "--data-root", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err

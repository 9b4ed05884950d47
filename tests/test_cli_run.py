"""`jobforge run` options as a user types them: --specs, the unchanged skip, --force."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main
from jobforge_core.common.config import Layer, PipelineConfig

pytestmark = pytest.mark.usefixtures("prefect_harness")

EXTRA_SPEC = """
name: extra
domain: test
file: extra.csv
keys: [code]
gold:
  - table: g_extra
    columns: {noc_code: code, label: label}
    foreign_keys: [{column: noc_code, references: dim_noc}]
"""


def _transitions(cfg: PipelineConfig, source: str) -> int:
    return sum(
        f'"source_name": "{source}"' in p.read_text()
        for p in cfg.catalog_lineage_path().glob("*.json")
    )


def test_run_with_specs_skips_an_unchanged_rerun_and_force_reprocesses(tmp_path, source_copy):
    specs = tmp_path / "my-specs"
    specs.mkdir()
    (specs / "extra.yaml").write_text(EXTRA_SPEC)
    (source_copy / "extra.csv").write_text("code,label\n21232,Software\n00010,Members\n")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    args = ["run", "--data-root", str(cfg.data_root), "--source-dir", str(source_copy)]
    args += ["--specs", str(specs), "--source", "noc_structure", "--source", "extra"]

    assert main(args) == 0  # a source that exists only in the --specs directory
    gold = cfg.table_path(Layer.GOLD, "g_extra")
    first = gold.stat().st_mtime_ns
    assert _transitions(cfg, "extra") == 4

    assert main(args) == 0  # unchanged: nothing runs, nothing is rewritten
    assert _transitions(cfg, "extra") == 4 and gold.stat().st_mtime_ns == first

    assert main([*args, "--force"]) == 0
    assert _transitions(cfg, "extra") == 8 and _transitions(cfg, "noc_structure") == 8
    assert gold.stat().st_mtime_ns != first


def test_an_unknown_source_is_a_usage_error_without_specs(tmp_path: Path, source_copy):
    """The same --source without its --specs directory: exit 2 before any work."""
    (source_copy / "extra.csv").write_text("code,label\n21232,Software\n")
    root = tmp_path / "data"
    code = main(
        ["run", "--data-root", str(root), "--source-dir", str(source_copy), "--source", "extra"]
    )
    assert code == 2
    assert not (root / "gold").exists()


def test_a_large_file_shows_a_live_line_per_running_transition(
    tmp_path: Path, source_copy, monkeypatch, capsys
):
    """Issue 12 item 6: long work shows progress. Forced here (stderr is no terminal) with a
    threshold of 0 bytes, so the samples count as large; by default a pipe gets none."""
    args = ["run", "--data-root", str(tmp_path / "data"), "--source-dir", str(source_copy)]
    args += ["--source", "noc_structure"]
    monkeypatch.setenv("JOBFORGE_PROGRESS", "always")
    monkeypatch.setenv("JOBFORGE_PROGRESS_MIN_BYTES", "0")
    assert main(args) == 0
    err = capsys.readouterr().err
    for layer in ("staged", "bronze", "silver", "gold"):
        assert f"noc_structure            {layer:<7} running  (" in err
    # the per-source line is printed whole above the display, not wrapped
    assert any(
        line.endswith("dim_noc_structure 21, dim_noc 8")
        for line in err.replace("\r", "\n").split("\n")
    ), err

    monkeypatch.delenv("JOBFORGE_PROGRESS")  # auto: stderr is a pipe here, so no display
    assert main([*args, "--force"]) == 0
    err = capsys.readouterr().err
    assert "running  (" not in err and "\x1b[" not in err
    assert "noc_structure            success" in err

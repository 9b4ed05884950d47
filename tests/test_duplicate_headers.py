"""A repeated header is a file quarantine naming it and its positions, or a declared rename;
never a silent `_duplicated_0` suffix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import layer, run_plain

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import SourceFileError
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.sources.readers import reject_repeated_names
from jobforge_core.sources.spec import load_specs

NOC = "noc_structure_en.csv"


def _repeat_level(source_dir: Path) -> None:
    """noc_structure with its first column, `Level`, repeated as a sixth column."""
    path = source_dir / NOC
    header, *records = path.read_text(encoding="utf-8-sig").splitlines()
    lines = [f"{header},Level"] + [f"{r},{r.split(',', 1)[0]}" for r in records]
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")


def test_duplicate_header_quarantines_the_file_and_keeps_gold(
    prefect_harness, tmp_path: Path, source_copy: Path, capsys
):
    from flows.cli import main

    data = tmp_path / "data"
    args = ["run", "--data-root", str(data), "--source-dir", str(source_copy)]
    assert main([*args, "--source", "noc_structure"]) == 0
    cfg = PipelineConfig(data_root=data, source_dir=source_copy)
    before = cfg.table_path(Layer.GOLD, "dim_noc_structure").read_bytes()
    _repeat_level(source_copy)

    assert main([*args, "--source", "noc_structure"]) == 1
    err = capsys.readouterr().err
    assert "duplicate header(s): 'Level' at columns 1, 6" in err
    assert cfg.table_path(Layer.GOLD, "dim_noc_structure").read_bytes() == before
    (report,) = (data / "quarantine" / "files").glob("*/error.json")
    error = json.loads(report.read_text())
    assert error["rule"] == "duplicate_header" and error["column"] == "Level"
    assert error["file"].endswith(NOC)


def test_a_declared_numbering_stages_the_repeat_under_a_name_a_spec_renames(
    tmp_path: Path, source_copy: Path
):
    _repeat_level(source_copy)
    specs = tmp_path / "specs"
    specs.mkdir()
    shipped = Path(__file__).resolve().parents[1] / "jobforge_core" / "specs" / "noc_structure.yaml"
    text = shipped.read_text().replace("renames:\n", "renames:\n  Level (2): level_again\n", 1)
    (specs / "noc_structure.yaml").write_text(text + "reader: {duplicate_headers: number}\n")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    logs = run_plain(cfg, ["noc_structure"], [specs])["noc_structure"]
    staged = layer(cfg, Layer.STAGED, "noc_structure")
    assert "Level (2)" in staged.columns and not any("duplicated" in c for c in staged.columns)
    silver = layer(cfg, Layer.SILVER, "noc_structure")
    assert silver["level_again"].to_list() == staged["Level (2)"].to_list()
    assert logs[-1].columns_not_carried == ["level_again"]


def test_headers_equal_once_trimmed_are_duplicates_too(tmp_path: Path, source_copy: Path):
    path = source_copy / NOC
    header, *records = path.read_text(encoding="utf-8-sig").splitlines()
    lines = [f"{header}, Level "] + [f"{r},x" for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    (plan,) = plan_sources(load_specs(), cfg, ["noc_structure"]).values()
    with pytest.raises(SourceFileError, match="'Level' at columns 1, 6"):
        run_source(plan, cfg)


def test_other_readers_suffixes_are_refused_too():
    with pytest.raises(SourceFileError, match="'Level' at columns 1 and 3"):
        reject_repeated_names(["Level", "Code", "Level_duplicated_0"], "book.xlsx")
    reject_repeated_names(["Total_duplicated_0", "Code"], "book.xlsx")  # no base: a real name

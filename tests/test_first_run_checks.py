"""Whole-run mistakes are said in one line before start-up, and what a refused first run left
in quarantine can be read (issues 25 and 32)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import SAMPLES

from flows.cli import main


def test_an_empty_source_directory_is_one_line_and_exit_2(tmp_path: Path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["run", "--data-root", str(tmp_path / "data"), "--source-dir", str(empty)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        f"jobforge run: 0 of 28 declared files found in {empty.resolve()} "
        "(--source-dir, or source_dir in jobforge.yaml)"
    ]
    assert not (tmp_path / "data" / "staged").exists()  # nothing was started


def test_quarantine_answers_when_the_first_run_built_nothing(
    prefect_harness, tmp_path: Path, source_copy: Path, capsys
):
    (source_copy / "noc_structure_en.csv").write_bytes(b"\x00\x01garbage" * 100)
    root = tmp_path / "data"
    args = ["run", "--data-root", str(root), "--source-dir", str(source_copy)]
    assert main([*args, "--source", "noc_structure"]) == 1
    capsys.readouterr()
    assert main(["quarantine", "--data-root", str(root), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "noc_structure_en.csv" in json.dumps(report)


def test_a_project_file_declares_the_sources_once(tmp_path: Path, capsys, monkeypatch):
    """`jobforge.yaml` in a parent directory: its data root, source directory and spec
    directories are every command's defaults; a flag still wins for one run."""
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "mine.yaml").write_text(
        "name: mine\nfile: mine.csv\nkeys: [code]\n"
        "gold:\n  - table: dim_mine\n    columns: [code]\n    keys: [code]\n"
    )
    (project / "jobforge.yaml").write_text(
        f"data_root: lake\nsource_dir: {SAMPLES}\nspec_dirs: [specs]\n"
        "releases: {noc_structure: nope.csv}\n"
    )
    work = project / "sub" / "dir"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv("JOBFORGE_DATA_ROOT", raising=False)
    monkeypatch.delenv("JOBFORGE_SOURCE_DIR", raising=False)
    # The pinned release does not exist: said before anything starts, naming the file.
    assert main(["run", "--source", "mine"]) == 2
    err = capsys.readouterr().err
    assert f"project file {project / 'jobforge.yaml'}: releases: noc_structure: no file" in err
    (project / "jobforge.yaml").write_text(
        f"data_root: lake\nsource_dir: {SAMPLES}\nspec_dirs: [specs]\nmystery: 1\n"
    )
    assert main(["run", "--source", "mine"]) == 2
    assert "mystery" in capsys.readouterr().err  # a typo in the file is named
    (project / "jobforge.yaml").write_text(f"data_root: lake\nsource_dir: {SAMPLES}\n")
    assert main(["run", "--source", "mine"]) == 2  # its spec directory is not declared
    assert "unknown source 'mine'" in capsys.readouterr().err
    other = tmp_path / "elsewhere.yaml"
    other.write_text(f"data_root: {tmp_path / 'other'}\nspec_dirs: [{project / 'specs'}]\n")
    assert main(["run", "--project", str(other), "--source", "mine"]) == 2
    # found the spec (no "unknown source"), then the other project's default source dir
    assert "source directory" in capsys.readouterr().err
    # main() in-process leaves the environment as it found it (the next run of this process
    # read the other project's specs before)
    assert "JOBFORGE_PROJECT" not in os.environ

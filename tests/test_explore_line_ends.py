"""A CSV file whose lines end with a lone CR (classic Mac OS) is a file quarantine in words.

Before: polars reads such a file as one line, its header disagreed with the csv module's, and
the SourceFileError raised inside polars' column-name callback became a Rust panic
(`PanicException`, not an `Exception`): `jobforge run` died with a 200-line traceback naming
the private snapshot, no summary, and every other source of the run lost with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import SourceFileError
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.sources.spec import parse_spec

RECORDS = ["Code,Name", "001,Alpha", "002,Beta"]
SPEC = "name: {name}\nfile: {name}.csv\nkeys: [code]\ngold:\n  - table: fact_{name}\n"


def _source(tmp_path: Path, ends: dict[str, str]) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name, end in ends.items():
        (source / f"{name}.csv").write_bytes((end.join(RECORDS) + end).encode())
    return source


def _raw(name: str) -> dict:
    return yaml.safe_load(SPEC.format(name=name))


def test_lone_cr_line_ends_are_refused_naming_the_file(tmp_path: Path):
    source = _source(tmp_path, {"mac": "\r", "unix": "\n", "dos": "\r\n"})
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    specs = {n: parse_spec(_raw(n), f"{n}.yaml") for n in ("mac", "unix", "dos")}
    plans = plan_sources(specs, cfg, force=True)
    for name in ("unix", "dos"):
        run_source(plans[name], cfg)
        assert cfg.table_path(Layer.GOLD, f"fact_{name}").is_file()
    with pytest.raises(SourceFileError) as caught:
        run_source(plans["mac"], cfg)
    assert caught.value.rule == "line_ends" and "LF or CRLF" in caught.value.message
    assert caught.value.file == str(source / "mac.csv")  # the user's file, not the snapshot
    report = next((cfg.data_root / "quarantine" / "files").glob("*/error.json"))
    assert json.loads(report.read_text(encoding="utf-8"))["file"] == str(source / "mac.csv")


@pytest.mark.usefixtures("prefect_harness")
def test_the_run_carries_on_and_reports_it_in_one_line(tmp_path: Path, capsys):
    source = _source(tmp_path, {"mac": "\r", "unix": "\n"})
    specs = tmp_path / "my-specs"
    specs.mkdir()
    for name in ("mac", "unix"):
        (specs / f"{name}.yaml").write_text(SPEC.format(name=name), encoding="utf-8")
    root = tmp_path / "data"
    args = ["run", "--data-root", str(root), "--source-dir", str(source), "--specs", str(specs)]
    assert main([*args, "--source", "mac", "--source", "unix", "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "panicked" not in captured.err
    summary = {s["source"]: s for s in json.loads(captured.out)["sources"]}
    assert summary["unix"]["status"] == "success" and summary["mac"]["status"] == "failed"
    assert "lone CR" in summary["mac"]["error"]

"""The examples of docs/sources.md ("A file of a known kind") and docs/guarantees.md ("Using the
core without Prefect") work as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
from conftest import REPO
from helpers import layer, run_plain, source_records

from jobforge_core.common.config import Layer, PipelineConfig


def readme_specs() -> dict[str, str]:
    """YAML blocks of docs/sources.md whose first line is `# my-specs/<file>`."""
    text = (REPO / "docs" / "sources.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n# my-specs/(\S+)\n(.*?)```", text, flags=re.S)
    return dict(blocks)


def test_readme_spec_examples_build_their_gold_tables(tmp_path: Path, source_copy: Path):
    specs = readme_specs()
    assert set(specs) == {"oasis_work_context.yaml", "cops_expansion_demand.yaml"}
    spec_dir = tmp_path / "my-specs"
    spec_dir.mkdir()
    for name, body in specs.items():
        (spec_dir / name).write_text(body)
    # Files of the same kinds: the samples in the same formats under the new names.
    shutil.move(
        source_copy / "workcontext_oasis_2023_v1.0.csv",
        source_copy / "workcontext_oasis_2025_v1.0.csv",
    )
    shutil.copy(
        source_copy / "employment_emploi_2024_2033_noc2021.csv",
        source_copy / "expansion_demand_demande_expansion_2024_2033_noc2021.csv",
    )
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    names = [
        "noc_structure",
        "oasis_guide",
        "oasis_lead_statements",
        "oasis_labels",
        "oasis_work_context",
        "cops_expansion_demand",
    ]
    run_plain(cfg, names, [spec_dir])
    context = layer(cfg, Layer.GOLD, "fact_oasis_work_context")
    headers = source_records(source_copy / "workcontext_oasis_2025_v1.0.csv")
    assert len(context) == len(headers) * (len(headers[0]) - 2)  # every cell, none quarantined
    assert context["descriptor_code"].null_count() == 0 and "rating" in context.columns
    demand = layer(cfg, Layer.GOLD, "fact_cops_expansion_demand")
    assert demand.columns[:3] == ["noc_code", "year", "expansion_demand"]
    assert len(layer(cfg, Layer.GOLD, "agg_cops_expansion_demand")) == 17 * 11
    assert demand.filter(pl.col("noc_code") == "21232").height == 11


def readme_core_snippet() -> str:
    """The python block of docs/guarantees.md's section "Using the core without Prefect"."""
    text = (REPO / "docs" / "guarantees.md").read_text(encoding="utf-8")
    section = text.split("## Using the core without Prefect", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return code


def test_readme_core_snippet_runs_as_written(tmp_path: Path, monkeypatch, capsys):
    """Run from the repository root, as the page's relative `data/source` assumes; only the
    data root moves to a temporary directory, so parallel runs do not share /tmp/jf."""
    code = readme_core_snippet()
    assert code.count('Path("/tmp/jf")') == 1
    code = code.replace('Path("/tmp/jf")', f"Path({str(tmp_path / 'jf')!r})")
    monkeypatch.chdir(REPO)
    exec(compile(code, "docs/guarantees.md", "exec"), {"__name__": "readme"})
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [line[0] for line in lines] == [lyr.value for lyr in Layer]
    counts = [[int(n) for n in line[1:]] for line in lines]
    assert counts[0] == [21, 21, 0]  # the noc_structure sample: 21 records
    for rows_in, rows_out, quarantined in counts[:3]:
        assert rows_in == rows_out + quarantined
    assert (tmp_path / "jf" / "gold" / "dim_noc.parquet").is_file()

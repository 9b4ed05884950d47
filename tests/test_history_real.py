"""Issue 13 acceptance, on copies of the real files: two COPS releases, then history, diff,
the history view, data quality over both runs, and a restore of the first release."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.query.sql import run_query
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.site.refresh import refresh_catalog
from jobforge_core.sources.spec import load_specs

COPS = "employment_emploi_2024_2033_noc2021.csv"
NOC = "noc_structure_en.csv"
ADDED = "21232"  # the unit group the second release adds
CHANGED = "21231"  # the unit group whose 2024 employment the second release revises


def jobforge(*args: str) -> subprocess.CompletedProcess:
    """The CLI as users run it: a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, timeout=300
    )


def _run(cfg: PipelineConfig) -> None:
    specs = load_specs()
    for plan in plan_sources(specs, cfg, ["noc_structure", "cops_employment"]).values():
        if not plan.unchanged:
            run_source(plan, cfg)
    refresh_catalog(cfg, specs)


@pytest.fixture(scope="module")
def releases(real_dir, tmp_path_factory):
    """Release 1 lacks unit group 21232; release 2 has it and revises one 21231 value."""
    root = tmp_path_factory.mktemp("history-real")
    source = root / "source"
    source.mkdir()
    shutil.copy(real_dir / NOC, source / NOC)
    text = (real_dir / COPS).read_bytes().decode("utf-8-sig")
    lines = text.splitlines(keepends=True)
    first = [line for line in lines if not line.startswith(f"{ADDED},")]
    assert len(first) == len(lines) - 1
    (source / COPS).write_bytes(b"\xef\xbb\xbf" + "".join(first).encode())
    cfg = PipelineConfig(data_root=root / "data", source_dir=source)
    _run(cfg)
    gold = cfg.table_path(Layer.GOLD, "fact_cops_employment")
    first_gold = hashlib.sha256(gold.read_bytes()).hexdigest()
    header = lines[0].lstrip("\ufeff").strip().split(",")
    second = []
    old_value = new_value = None
    for line in lines:
        if line.startswith(f"{CHANGED},"):
            cells = line.rstrip("\r\n").split(",")
            i = header.index("2024")
            old_value, new_value = int(cells[i]), int(cells[i]) + 100
            cells[i] = str(new_value)
            line = ",".join(cells) + line[len(line.rstrip("\r\n")) :]
        second.append(line)
    (source / COPS).write_bytes(b"\xef\xbb\xbf" + "".join(second).encode())
    _run(cfg)
    return cfg, first_gold, (old_value, new_value)


def _batches(cfg: PipelineConfig) -> list[dict]:
    done = jobforge(
        "history", "fact_cops_employment", "--data-root", str(cfg.data_root), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["batches"]  # and "releases": the files behind them


def test_history_lists_both_releases_newest_first(releases):
    cfg, _, _ = releases
    batches = _batches(cfg)
    assert len(batches) == 2
    newest, oldest = batches
    assert (newest["status"], oldest["status"]) == ("current", "kept")
    assert newest["rows"] - oldest["rows"] == 11  # one unit group x 11 years
    for batch in batches:
        assert batch["source_file"].endswith(COPS)
        assert re.fullmatch(r"[0-9a-f]{64}", batch["source_sha256"])
        assert batch["ingested_at"] and batch["schema_changes"] == []
    assert (
        newest["source_sha256"]
        == hashlib.sha256((cfg.resolved_source_dir() / COPS).read_bytes()).hexdigest()
    )
    table = jobforge("history", "fact_cops_employment", "--data-root", str(cfg.data_root))
    assert table.returncode == 0 and newest["batch_id"] in table.stdout


def test_diff_reports_exactly_the_changed_and_the_added_rows(releases):
    cfg, _, (old_value, new_value) = releases
    done = jobforge(
        "diff", "fact_cops_employment", "--data-root", str(cfg.data_root), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    summary = diff["diff"]
    assert (summary["added"], summary["removed"], summary["changed"]) == (11, 0, 1)
    assert summary["key"] == ["noc_code", "year"]
    assert summary["unchanged"] == summary["rows_from"] - 1
    assert diff["changes_by_column"] == [{"column": "employment", "rows_changed": 1}]
    (changed,) = diff["changed"]
    assert (changed["noc_code"], changed["year"], changed["column"]) == (
        CHANGED,
        2024,
        "employment",
    )
    assert (changed["from"], changed["to"]) == (old_value, new_value)
    assert changed["delta"] == new_value - old_value
    dim = pl.read_parquet(cfg.table_path("gold", "dim_noc"))
    (title,) = dim.filter(pl.col("noc_code") == CHANGED)["class_title"]
    assert changed["label"] == title  # the occupation's title, from dim_noc
    (noc,) = diff["by_key"]
    assert noc["added"] == 1 and noc["added_values"][0].startswith(f"{ADDED} ")
    batches = _batches(cfg)
    explicit = jobforge(
        "diff",
        "fact_cops_employment",
        "--from",
        batches[0]["batch_id"],
        "--to",
        batches[1]["batch_id"],
        "--data-root",
        str(cfg.data_root),
        "--format",
        "csv",
    )
    assert explicit.returncode == 0, explicit.stderr
    assert "removed,11" in explicit.stdout  # the other way round


def test_history_view_and_quality_cover_both_runs(releases):
    cfg, _, _ = releases
    batches = [b["batch_id"] for b in _batches(cfg)]
    view = run_query(
        cfg,
        "SELECT _batch_id, count(*) AS n FROM history.fact_cops_employment GROUP BY 1",
    )
    assert set(view["_batch_id"]) == set(batches)
    quality = run_query(
        cfg,
        "SELECT batch_id, rule, rows FROM catalog.quality "
        "WHERE table_name = 'fact_cops_employment' ORDER BY checked_at",
    )
    assert list(dict.fromkeys(quality["batch_id"])) == batches[::-1]
    assert (
        set(quality.filter(quality["batch_id"] == batches[1])["rule"])
        == set(quality.filter(quality["batch_id"] == batches[0])["rule"])
        >= {"foreign_key"}
    )


def test_docs_history_questions_run_as_written(releases):
    cfg, _, _ = releases
    page = Path(__file__).resolve().parents[1] / "docs" / "history.md"
    section = page.read_text(encoding="utf-8").split("## Questions, answered", 1)[1]
    section = section.split("\n## ", 1)[0]
    commands = re.findall(r'^\.venv/bin/jobforge query "(.+)"$', section, flags=re.M)
    assert len(commands) >= 4
    for sql in commands:
        run_query(cfg, sql)  # raises on a query that does not run


def test_restore_brings_the_first_release_back_and_the_next_run_reprocesses(releases, tmp_path):
    cfg, first_gold, _ = releases
    data = tmp_path / "data"
    shutil.copytree(cfg.data_root, data)
    cfg = PipelineConfig(data_root=data, source_dir=cfg.source_dir)
    newest, oldest = _batches(cfg)
    done = jobforge(
        "restore",
        "cops_employment",
        "--batch",
        oldest["batch_id"],
        "--data-root",
        str(data),
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    gold = cfg.table_path(Layer.GOLD, "fact_cops_employment")
    assert hashlib.sha256(gold.read_bytes()).hexdigest() == first_gold
    restored = {r["layer"]: r for r in json.loads(done.stdout)}
    assert set(restored) == {"staged", "bronze", "silver", "gold"}
    assert restored["gold"]["replaced"]["fact_cops_employment"] == newest["batch_id"]
    after = _batches(cfg)
    assert [b["batch_id"] for b in after] == [oldest["batch_id"], newest["batch_id"]]
    assert after[0]["status"] == "current" and after[1]["status"] == "kept"
    logged = run_query(
        cfg,
        "SELECT target_layer FROM catalog.transitions "
        "WHERE source_layer = 'restore' AND batch_id = '" + oldest["batch_id"] + "'",
    )
    assert sorted(logged["target_layer"]) == ["bronze", "gold", "silver", "staged"]
    # A batch that is not kept is refused, and nothing moves.
    refused = jobforge(
        "restore", "cops_employment", "--batch", "cops-employment-0000", "--data-root", str(data)
    )
    assert refused.returncode == 2 and "not kept" in refused.stderr
    # The next plain run sees the file (release 2) differs from the restored batch.
    plans = plan_sources(load_specs(), cfg, ["cops_employment"])
    assert not plans["cops_employment"].unchanged
    _run(cfg)
    assert _batches(cfg)[0]["batch_id"] == newest["batch_id"]

"""Models and configuration: the names and contracts other teams rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import LayerTransitionLog, ProvenanceColumns, TableMetadata


def test_provenance_columns_serialise_with_underscore_aliases():
    prov = ProvenanceColumns(source_file="a.csv", batch_id="b-1", layer=Layer.BRONZE)
    dumped = prov.model_dump()
    assert set(dumped) == {"_source_file", "_ingested_at", "_batch_id", "_layer"}
    assert dumped["_ingested_at"].tzinfo is not None
    assert ProvenanceColumns(_source_file="a.csv", _batch_id="b", _layer="gold").layer is Layer.GOLD
    assert "COLUMN_NAMES" not in ProvenanceColumns.model_fields
    assert ProvenanceColumns.COLUMN_NAMES == (
        "_source_file",
        "_source_row",
        "_ingested_at",
        "_batch_id",
        "_layer",
    )


def test_transition_log_rejects_negative_counts():
    with pytest.raises(ValidationError):
        LayerTransitionLog(
            batch_id="b",
            source_layer="source",
            target_layer=Layer.STAGED,
            source_files=[],
            row_count_in=-1,
            row_count_out=0,
        )


def test_table_metadata_defaults():
    meta = TableMetadata(
        table_name="t",
        layer=Layer.GOLD,
        file_path="gold/t.parquet",
        row_count=0,
        column_count=0,
        file_size_bytes=0,
    )
    assert meta.classification == "internal" and meta.columns == []


def test_config_paths_and_env_override(tmp_path: Path, monkeypatch):
    cfg = PipelineConfig(data_root=tmp_path)
    assert cfg.layer_path(Layer.SILVER) == cfg.silver_path() == tmp_path / "silver"
    assert cfg.catalog_schemas_path() == tmp_path / "catalog" / "schemas"
    assert cfg.quarantine_path() == tmp_path / "quarantine"
    for name in ("JOBFORGE_DATA_ROOT", "JOBFORGE_SOURCE_DIR"):
        monkeypatch.delenv(name, raising=False)
    default = PipelineConfig.from_settings()  # ./data, resolved once from where it is built
    assert default.gold_path() == Path.cwd().resolve() / "data" / "gold"
    assert default.resolved_source_dir() == Path.cwd().resolve() / "data" / "source"
    monkeypatch.setenv("JOBFORGE_DATA_ROOT", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("JOBFORGE_SOURCE_DIR", str(tmp_path / "files"))
    from_env = PipelineConfig.from_settings()
    assert from_env.gold_path() == tmp_path / "elsewhere" / "gold"
    assert from_env.resolved_source_dir() == tmp_path / "files"
    explicit = PipelineConfig.from_settings(data_root=tmp_path / "given", source_dir=None)
    assert explicit.gold_path() == tmp_path / "given" / "gold"  # an explicit value wins
    assert explicit.resolved_source_dir() == tmp_path / "files"  # None keeps the setting


def test_core_never_imports_prefect():
    code = (
        "import sys, jobforge_core.run.pipeline, jobforge_core.query.sql, jobforge_core.catalog;"
        "print('prefect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_deployments_choose_the_dask_runner_by_job_variable():
    code = "from flows import jobforge_flow; print(type(jobforge_flow.task_runner).__name__)"
    env = {**__import__("os").environ, "JOBFORGE_TASK_RUNNER": "dask"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "DaskTaskRunner"
    env["JOBFORGE_TASK_RUNNER"] = "thread"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "ThreadPoolTaskRunner"


def test_spec_dirs_from_the_environment_come_before_the_runs_own(tmp_path, monkeypatch):
    from flows.pipeline import _spec_dirs

    monkeypatch.setenv("JOBFORGE_SPEC_DIRS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert _spec_dirs([str(tmp_path / "c")]) == [tmp_path / "a", tmp_path / "b", tmp_path / "c"]

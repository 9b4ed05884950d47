"""Small helpers shared by tests: run the plain pipeline, read layers, read source records."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import LayerTransitionLog
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.sources.spec import SourceSpec, load_specs


def run_plain(
    cfg: PipelineConfig, names: list[str] | None = None, spec_dirs: list[Path] | None = None
) -> dict[str, list[LayerTransitionLog]]:
    specs = load_specs(spec_dirs or [])
    plans = plan_sources(specs, cfg, names, force=True)
    return {name: run_source(plan, cfg) for name, plan in plans.items()}


def specs(spec_dirs: list[Path] | None = None) -> dict[str, SourceSpec]:
    return load_specs(spec_dirs or [])


def layer(cfg: PipelineConfig, lyr: Layer | str, table: str) -> pl.DataFrame:
    return pl.read_parquet(cfg.table_path(lyr, table))


def quarantined(cfg: PipelineConfig, lyr: Layer | str, table: str) -> pl.DataFrame:
    files = sorted((cfg.quarantine_path() / Layer(lyr).value / table).glob("*.parquet"))
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal")


def source_records(path: Path, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    """Records as the csv module reads them: record n is `_source_row` n."""
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))

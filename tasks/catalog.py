"""The catalog rebuild as a Prefect task, with its markdown artifact."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from jobforge_core.catalog.rebuild import catalog_markdown
from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.logs import get_logger
from jobforge_core.site.refresh import refresh_catalog
from jobforge_core.sources.spec import SourceSpec
from tasks.retry import RETRIES, RETRY_DELAYS, RETRY_JITTER, retry_transient_only


@task(
    name="rebuild_catalog",
    task_run_name="catalog",  # like stage-<source>: without one Prefect adds a random suffix
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_transient_only,
    cache_policy=NO_CACHE,
)
def rebuild_catalog_task(cfg: PipelineConfig, specs: dict[str, SourceSpec]) -> dict[str, int]:
    """Table JSONs, glossary, model schema and the DuckDB store, rebuilt atomically."""
    report = refresh_catalog(cfg, specs)
    create_markdown_artifact(
        markdown=catalog_markdown(report, Path(cfg.data_root)),
        key="jobforge-catalog",
        description="Catalog tables with row counts and links to their metadata files",
    )
    get_logger().info("catalog_rebuilt", tables=len(report.tables), store=report.store_file)
    return {meta.table_name: meta.row_count for meta in report.tables}

"""The catalog and the site built from it, refreshed together after a run or a restore.

The catalog does not know the site (imports go down); the stamp that says "the catalog is
current" is written only once both are built, so a failed site build is retried by the next
run like a failed catalog rebuild.
"""

from __future__ import annotations

from jobforge_core.catalog.rebuild import CatalogReport, rebuild_catalog
from jobforge_core.catalog.stamp import write_stamp
from jobforge_core.common.config import PipelineConfig
from jobforge_core.site.build import build_site
from jobforge_core.sources.spec import SourceSpec


def refresh_catalog(cfg: PipelineConfig, specs: dict[str, SourceSpec]) -> CatalogReport:
    report = rebuild_catalog(cfg, specs)
    report.site_file = str(build_site(cfg))
    write_stamp(cfg, report.inputs)
    return report

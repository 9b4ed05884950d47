"""The catalog site: static, self-contained HTML pages over a data root's catalog, built after
the catalog. The top of the house: imports `catalog` and below; nothing imports it back."""

from jobforge_core.site.build import build_site, default_site_dir

__all__ = ["build_site", "default_site_dir"]

"""The catalog site: static, self-contained HTML pages over a data root's catalog."""

from jobforge_core.site.build import build_site, default_site_dir

__all__ = ["build_site", "default_site_dir"]

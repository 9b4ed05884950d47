"""The catalog: table metadata, quality and quarantine indexes, and the DuckDB store serving
them with the gold data, rebuilt from what is on disk after a run. Imports `run` (state) and
below; the site is built from it afterwards, by the caller."""

from __future__ import annotations

from typing import Any

__all__ = ["rebuild_catalog"]


def __getattr__(name: str) -> Any:
    """`rebuild_catalog` on first use: the read commands import small catalog modules
    (names, indexes) and must not pay for the rebuild's polars and DuckDB imports."""
    if name == "rebuild_catalog":
        from jobforge_core.catalog.rebuild import rebuild_catalog

        return rebuild_catalog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

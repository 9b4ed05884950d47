"""The catalog: table metadata, glossary, and the DuckDB store serving them with gold data."""

from jobforge_core.catalog.rebuild import rebuild_catalog

__all__ = ["rebuild_catalog"]

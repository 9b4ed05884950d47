"""Catalog identifiers: how tables of each layer are named and where their metadata lives."""

from __future__ import annotations

import re
from pathlib import Path

from jobforge_core.common.config import Layer, PipelineConfig

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")


def catalog_name(layer: Layer, table: str) -> str:
    """Gold tables go by their own name; the others by `<layer>.<source>`."""
    return table if layer is Layer.GOLD else f"{layer.value}.{table}"


def split_name(name: str) -> tuple[Layer, str]:
    if "." in name:
        layer, table = name.split(".", 1)
        return Layer(layer), table
    return Layer.GOLD, name


def metadata_path(cfg: PipelineConfig, name: str) -> Path:
    return cfg.catalog_tables_path() / f"{name}.json"


def is_identifier(text: str) -> bool:
    return bool(IDENTIFIER.match(text))


HISTORY_SCHEMA = "history"
# Row quarantine in SQL: one view per table over its quarantine files of every batch, named
# as the history views are (`quarantine.fact_cops_employment`, `quarantine.silver_<source>`).
QUARANTINE_SCHEMA = "quarantine"


def history_view_name(layer: Layer, table: str) -> str:
    """`history.<gold table>`, `history.<layer>_<source>` for the other layers."""
    return table if layer is Layer.GOLD else f"{layer.value}_{table}"

"""Checks of the gold model as a whole, run after the sources of a run have finished.

Each source checks its own foreign keys when it builds its gold; a dimension rebuilt later can
still remove a code a fact holds. This module answers "does every foreign key hold right now?"
from the tables on disk (DESIGN invariant 11).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.sources.spec import SourceSpec


@dataclass(frozen=True)
class Orphans:
    """Rows of a gold table whose foreign key has no match in the referenced table."""

    table: str
    column: str
    references: str
    ref_column: str
    rows: int
    examples: list[str]

    def __str__(self) -> str:
        shown = ", ".join(self.examples)
        return (
            f"{self.table}.{self.column}: {self.rows} row(s) not in "
            f"{self.references}.{self.ref_column} (e.g. {shown})"
        )


def foreign_key_orphans(
    cfg: PipelineConfig,
    specs: dict[str, SourceSpec],
    files: Mapping[str, Path] | None = None,
) -> list[Orphans]:
    """Every declared foreign key between gold tables that exist, checked on the files.

    `files`: the file of each gold table to check (a snapshot about to be published); by
    default the working gold layer."""

    def file_of(table: str) -> Path | None:
        path = files.get(table) if files is not None else cfg.table_path(Layer.GOLD, table)
        return path if path is not None and path.is_file() else None

    found = []
    for spec in specs.values():
        for out in spec.gold:
            path = file_of(out.table)
            for fk in out.foreign_keys:
                ref = file_of(fk.references)
                if path is None or ref is None:
                    continue
                keys = pl.scan_parquet(ref).select(pl.col(fk.target_column).alias("__ref"))
                rows = pl.scan_parquet(path).select(fk.column)
                if not fk.required:  # a null key is no link, unless the key is required
                    rows = rows.filter(pl.col(fk.column).is_not_null())
                orphan = rows.join(keys.unique(), left_on=fk.column, right_on="__ref", how="anti")
                counted = orphan.select(
                    pl.len().alias("rows"),
                    pl.col(fk.column).cast(pl.String).unique().sort().head(5).implode(),
                ).collect()
                rows = counted["rows"][0]
                if rows:
                    examples = counted[fk.column][0].to_list()
                    found.append(
                        Orphans(
                            out.table, fk.column, fk.references, fk.target_column, rows, examples
                        )
                    )
    return found

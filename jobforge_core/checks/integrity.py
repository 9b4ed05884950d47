"""Checks of the gold model as a whole, run after the sources of a run have finished.

Each source checks its own foreign keys when it builds its gold; a dimension rebuilt later can
still remove a code a fact holds. This module answers "does every foreign key hold right now?"
from the tables on disk (DESIGN invariant 11).
"""

from __future__ import annotations

from dataclasses import dataclass

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


def foreign_key_orphans(cfg: PipelineConfig, specs: dict[str, SourceSpec]) -> list[Orphans]:
    """Every declared foreign key between gold tables that exist, checked on the files."""
    found = []
    for spec in specs.values():
        for out in spec.gold:
            path = cfg.table_path(Layer.GOLD, out.table)
            for fk in out.foreign_keys:
                ref = cfg.table_path(Layer.GOLD, fk.references)
                if not path.is_file() or not ref.is_file():
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

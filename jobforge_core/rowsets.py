"""Which rows a transition held back, found from the rows it wrote."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobforge_core.errors import ReconciliationError
from jobforge_core.provenance import SOURCE_ROW


def absent_rows(source: Path, written: Path) -> pl.Series:
    """`_source_row` values of `source` that `written` does not hold.

    The quarantine output of a transition is then a second pass over just these rows, where
    building it in the same pass as the good rows made polars buffer both outputs (COPS-like
    10M rows: 2.2 GiB against 0.5 GiB) and recomputing the checks over every row cost 40% more.
    Each written id is located in the sorted source ids (binary search, no hash table) and
    struck out of a mask; an id the source does not have is a reconciliation error.
    """
    every, kept = _ids(source), _ids(written)
    if kept.len() == 0:
        return every
    at = every.search_sorted(kept)
    if at.max() >= every.len() or not (every.gather(at) == kept).all():
        raise ReconciliationError(f"{written.name} holds {SOURCE_ROW} values {source.name} lacks")
    keep = pl.repeat(True, every.len(), eager=True)
    keep.scatter(at, False)
    return every.filter(keep)


def _ids(path: Path) -> pl.Series:
    """Ascending ids: a streaming sink keeps the source order, so the sort is a check."""
    ids = pl.scan_parquet(path).select(SOURCE_ROW).collect().to_series()
    return ids if ids.is_sorted() else ids.sort()

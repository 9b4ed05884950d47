"""Which rows a transition held back, found from the rows it wrote."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobforge_core.common.errors import ReconciliationError
from jobforge_core.common.provenance import SOURCE_ROW

_CHUNK = 1_000_000


def absent_rows(source: Path, written: Path) -> pl.Series:
    """`_source_row` values of `source` that `written` does not hold.

    The quarantine output of a transition is then a second pass over just these rows, where
    building it in the same pass as the good rows made polars buffer both outputs (COPS-like
    10M rows: 2.2 GiB against 0.5 GiB) and recomputing the checks over every row cost 40% more.
    Both id lists are sorted, so a linear merge pairs every written id with its source id; the
    unpaired ones are the held-back rows (binary search of each id: 1.2 s at 10M rows, the merge
    0.4 s). Merged a slice of source ids at a time, so the working memory is the two id lists.
    A written id the source does not have, or one written twice, is a reconciliation error.
    """
    every, kept = _ids(source), _ids(written)
    absent = []
    for start in range(0, every.len(), _CHUNK):
        part = every.slice(start, _CHUNK)
        low = kept.search_sorted(part[0], side="left")
        high = kept.search_sorted(part[-1], side="right")
        absent.append(_unpaired(part, kept.slice(low, high - low)))
    found = pl.concat(absent) if absent else every
    if found.len() != every.len() - kept.len():
        raise ReconciliationError(
            f"{written.name} holds {SOURCE_ROW} values that {source.name} lacks, or repeats one"
        )
    return found


def _unpaired(left: pl.Series, right: pl.Series) -> pl.Series:
    """Values of two sorted lists that appear once in their merge."""
    merged = left.to_frame(SOURCE_ROW).merge_sorted(right.to_frame(SOURCE_ROW), key=SOURCE_ROW)
    ids = merged.to_series()
    paired = (ids == ids.shift(1)).fill_null(False) | (ids == ids.shift(-1)).fill_null(False)
    return ids.filter(~paired)


def _ids(path: Path) -> pl.Series:
    """Ascending ids: a streaming sink keeps the source order, so the sort is a check."""
    ids = pl.scan_parquet(path).select(SOURCE_ROW).collect().to_series()
    return ids.set_sorted() if ids.is_sorted() else ids.sort()

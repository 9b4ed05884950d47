"""What changed between two batches of a table, by its grain key.

Memory: each side is reduced to two 64-bit hashes per row (the key, and the data columns
shared by both batches), 16 bytes a row, and the sides are joined on the key hash, one slice
of the hash space at a time. Only the
rows found added, removed or changed are then read back in full (and only for the counts per
column and the samples), so a release that changes a few rows of a 10M-row table never holds
either table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from jobforge_core.common.errors import JobForgeError
from jobforge_core.common.provenance import data_columns

_KEY, _ROW = "__key_hash", "__row_hash"
KEY_HASH = _KEY
# The join of the two sides runs per slice of the key-hash space: its hash table is 1/16 of
# a side (10M rows: 1.4 GiB peak in one join, against about 0.5 GiB in slices).
_PARTS = 16


class DiffError(JobForgeError):
    """Two batches that cannot be compared: no key, a key column missing, a repeated key."""


@dataclass
class TableDiff:
    key: list[str]
    from_batch: str
    to_batch: str
    rows_from: int
    rows_to: int
    added: int
    removed: int
    changed: int
    unchanged: int
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    changes_by_column: dict[str, int] = field(default_factory=dict)
    sample_added: list[dict[str, Any]] = field(default_factory=list)
    sample_removed: list[dict[str, Any]] = field(default_factory=list)
    sample_changed: list[dict[str, Any]] = field(default_factory=list)


def _text_if_dictionary(lf: pl.LazyFrame, columns: list[str]) -> list[pl.Expr]:
    """Enum and Categorical columns as text: their codes differ from one batch to the next."""
    schema = lf.collect_schema()
    return [
        pl.col(c).cast(pl.String) if isinstance(schema[c], pl.Enum | pl.Categorical) else pl.col(c)
        for c in columns
    ]


def text_if_dictionary(lf: pl.LazyFrame, columns: list[str]) -> list[pl.Expr]:
    """The columns, Enum and Categorical ones as text (public: changes.py reads keys so)."""
    return _text_if_dictionary(lf, columns)


def key_hash(lf: pl.LazyFrame, key: list[str]) -> pl.Expr:
    """The 64-bit hash of a row's key, as `diff_files` matches rows (changes.py reads rows
    back by it)."""
    return pl.struct(_text_if_dictionary(lf, key)).hash(seed=0).alias(_KEY)


def _hashes(lf: pl.LazyFrame, key: list[str], compared: list[str]) -> pl.DataFrame:
    keys = _text_if_dictionary(lf, key)
    values = _text_if_dictionary(lf, compared)
    return lf.select(
        pl.struct(keys).hash(seed=0).alias(_KEY),
        pl.struct(values).hash(seed=0).alias(_ROW) if values else pl.lit(0, pl.UInt64).alias(_ROW),
    ).collect(engine="streaming")


def _check_key(hashes: pl.DataFrame, key: list[str], path: Path) -> None:
    repeated = hashes.select(pl.col(_KEY).is_duplicated().sum()).item()  # per slice: small
    if repeated:
        raise DiffError(
            f"{path}: the key {key} repeats in {repeated} rows; pass the grain with --key"
        )


def diff_files(
    before: Path, after: Path, key: list[str], *, sample: int = 5, hashes: bool = False
) -> Any:
    """Rows added, removed and changed from `before` to `after`, matched on `key`. With
    `hashes`: (the diff, (key hashes added, removed, changed)), for changes.py."""
    if not key:
        raise DiffError("no key to match rows on: the table declares no grain; pass --key")
    old_lf, new_lf = pl.scan_parquet(before), pl.scan_parquet(after)
    old_cols = data_columns(old_lf.collect_schema().names())
    new_cols = data_columns(new_lf.collect_schema().names())
    for side, cols in ((before, old_cols), (after, new_cols)):
        missing = [k for k in key if k not in cols]
        if missing:
            raise DiffError(f"{side}: key column(s) {missing} not in the table; columns: {cols}")
    compared = [c for c in new_cols if c in old_cols and c not in key]
    old_h, new_h = _hashes(old_lf, key, compared), _hashes(new_lf, key, compared)
    added, removed, changed = [], [], []
    for part in range(_PARTS):  # one slice of the key-hash space at a time: a small join
        in_part = (pl.col(_KEY) % _PARTS) == part
        old_p, new_p = old_h.filter(in_part), new_h.filter(in_part)
        _check_key(old_p, key, before)
        _check_key(new_p, key, after)
        joined = old_p.join(new_p, on=_KEY, how="full", suffix="_new", coalesce=True)
        added.append(joined.filter(pl.col(_ROW).is_null())[_KEY])
        removed.append(joined.filter(pl.col(f"{_ROW}_new").is_null())[_KEY])
        changed.append(
            joined.filter(
                pl.col(_ROW).is_not_null()
                & pl.col(f"{_ROW}_new").is_not_null()
                & (pl.col(_ROW) != pl.col(f"{_ROW}_new"))
            )[_KEY]
        )
    del old_h, new_h
    added_h, removed_h, changed_h = (pl.concat(x) for x in (added, removed, changed))

    def rows_with(lf: pl.LazyFrame, hashes: pl.Series, cols: list[str]) -> pl.LazyFrame:
        keyed = lf.with_columns(pl.struct(_text_if_dictionary(lf, key)).hash(seed=0).alias(_KEY))
        return keyed.filter(pl.col(_KEY).is_in(hashes.implode())).select(_KEY, *cols)

    by_column: dict[str, int] = {}
    sample_changed: list[dict[str, Any]] = []
    if len(changed_h):
        old_rows = rows_with(old_lf, changed_h, [*key, *compared])
        new_rows = rows_with(new_lf, changed_h, compared)
        pairs = old_rows.join(new_rows, on=_KEY, suffix="__new").drop(_KEY)
        counts = pairs.select(
            [
                (pl.col(c).cast(pl.String).ne_missing(pl.col(f"{c}__new").cast(pl.String)))
                .sum()
                .alias(c)
                for c in compared
            ]
        ).collect(engine="streaming")
        by_column = {c: int(n) for c, n in counts.row(0, named=True).items() if n}
        for row in pairs.head(sample).collect().iter_rows(named=True):
            for c in compared:
                if row[c] != row[f"{c}__new"]:
                    sample_changed.append(
                        {
                            **{k: row[k] for k in key},
                            "column": c,
                            "from": row[c],
                            "to": row[f"{c}__new"],
                        }
                    )

    def sample_of(lf: pl.LazyFrame, hashes: pl.Series, cols: list[str]) -> list[dict[str, Any]]:
        if not len(hashes) or not sample:
            return []
        head = rows_with(lf, hashes, cols).drop(_KEY).head(sample).collect()
        return head.to_dicts()

    rows_from, rows_to = _count(old_lf), _count(new_lf)
    found = TableDiff(
        key=key,
        from_batch=_batch(old_lf),
        to_batch=_batch(new_lf),
        rows_from=rows_from,
        rows_to=rows_to,
        added=len(added_h),
        removed=len(removed_h),
        changed=len(changed_h),
        unchanged=rows_to - len(added_h) - len(changed_h),
        columns_added=[c for c in new_cols if c not in old_cols],
        columns_removed=[c for c in old_cols if c not in new_cols],
        changes_by_column=by_column,
        sample_added=sample_of(new_lf, added_h, new_cols),
        sample_removed=sample_of(old_lf, removed_h, old_cols),
        sample_changed=sample_changed,
    )
    return (found, (added_h, removed_h, changed_h)) if hashes else found


def _count(lf: pl.LazyFrame) -> int:
    return lf.select(pl.len()).collect().item()


def _batch(lf: pl.LazyFrame) -> str:
    if "_batch_id" not in lf.collect_schema().names():
        return ""
    first = lf.select(pl.col("_batch_id").cast(pl.String)).head(1).collect()
    return first.item() if len(first) else ""

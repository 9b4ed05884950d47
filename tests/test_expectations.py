"""Duplicate detection: exact on the real keys, lowest row kept, nulls never matched."""

from __future__ import annotations

import polars as pl

from jobforge_core.checks.expectations import later_duplicates, mark_later_duplicates


def test_later_duplicates_keeps_the_lowest_row_of_each_compound_key() -> None:
    lf = pl.LazyFrame(
        {
            "code": ["A", "A", "A", "B", None, None, "A"],
            "year": [1, 2, 1, 1, 1, 1, 1],
            "_source_row": [30, 31, 10, 12, 13, 14, 15],
        }
    )
    later = later_duplicates(lf, ["code", "year"])
    # (A, 1) appears at rows 30, 10 and 15: 10 is kept, whatever the file order.
    assert sorted(later.to_list()) == [15, 30]
    marked = mark_later_duplicates(lf, ["code", "year"], "dup").collect()
    assert marked["dup"].to_list() == [True, False, False, False, False, False, True]


def test_single_key_duplicates_over_many_distinct_keys() -> None:
    n = 200_000
    codes = [f"{i:08d}" for i in range(n)] + ["00000007", "00012345"]
    lf = pl.LazyFrame({"code": codes, "_source_row": range(1, n + 3)})
    assert sorted(later_duplicates(lf, ["code"]).to_list()) == [n + 1, n + 2]


def test_hash_collisions_never_mark_a_row(monkeypatch) -> None:
    from jobforge_core.checks import expectations

    monkeypatch.setattr(expectations, "_HASH_SPACE", 3)  # nearly every key collides
    codes = [f"{i:05d}" for i in range(300)] + ["00007", "00123"]
    lf = pl.LazyFrame({"code": codes, "_source_row": range(1, 303)})
    assert sorted(later_duplicates(lf, ["code"]).to_list()) == [301, 302]


def test_a_table_past_part_rows_is_searched_a_slice_of_the_hash_space_at_a_time() -> None:
    """The repeated-hash pass runs once per slice of the hash space past `part_rows` rows (so
    100M rows do not hold 100M hashes at once): the rows it marks are the single pass's."""
    n = 50_000
    codes = [f"{i:08d}" for i in range(n)] + ["00000007", "00012345", "00000007", None, None]
    lf = pl.LazyFrame({"code": codes, "_source_row": range(1, n + 6)})
    single = sorted(later_duplicates(lf, ["code"]).to_list())
    assert single == [n + 1, n + 2, n + 3]
    for part_rows in (1_000, 7_777, n + 5):
        assert sorted(later_duplicates(lf, ["code"], part_rows=part_rows).to_list()) == single

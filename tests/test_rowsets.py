"""The rows a transition held back are found from the ids it wrote."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from jobforge_core.checks import rowsets
from jobforge_core.checks.rowsets import absent_rows
from jobforge_core.common.errors import ReconciliationError


def _ids(path: Path, ids: list[int]) -> Path:
    frame = pl.DataFrame({"_source_row": ids, "x": [str(i) for i in ids]})
    frame.cast({"_source_row": pl.Int64, "x": pl.String}).write_parquet(path)
    return path


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ([2, 3, 5, 9, 10], [1, 4, 6, 7, 8, 11]),  # gaps at the start, middle and end
        ([10, 2, 5, 3, 9], [1, 4, 6, 7, 8, 11]),  # order of the written rows does not matter
        ([], list(range(1, 12))),  # everything held back
        (list(range(1, 12)), []),  # nothing held back
    ],
)
def test_absent_rows(tmp_path: Path, monkeypatch, written: list[int], expected: list[int]) -> None:
    monkeypatch.setattr(rowsets, "_CHUNK", 3)  # several slices of the source ids
    source = _ids(tmp_path / "source.parquet", [7, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11])
    out = _ids(tmp_path / "out.parquet", written)
    assert sorted(absent_rows(source, out).to_list()) == expected


@pytest.mark.parametrize("chunk", [2, 1000])
@pytest.mark.parametrize("written", [[2, 0], [2, 6], [2, 4], [2, 99], [2, 3, 3]])
def test_a_written_id_the_source_lacks_or_repeats_is_an_error(
    tmp_path: Path, monkeypatch, written: list[int], chunk: int
) -> None:
    monkeypatch.setattr(rowsets, "_CHUNK", chunk)
    source = _ids(tmp_path / "source.parquet", [1, 2, 3, 5, 7])
    out = _ids(tmp_path / "out.parquet", written)
    with pytest.raises(ReconciliationError, match="_source_row"):
        absent_rows(source, out)


def test_an_empty_source_holds_back_nothing(tmp_path: Path) -> None:
    """A layer may get no rows (an earlier layer quarantined them all, under a spec that allows
    it): there is no slice of ids to merge, and nothing was held back."""
    source = _ids(tmp_path / "source.parquet", [])
    out = _ids(tmp_path / "out.parquet", [])
    found = absent_rows(source, out)
    assert found.to_list() == [] and found.name == "_source_row"

"""changes.py on small parquet files built here: the parts the shipped samples do not reach
(a row of the old batch whose key went to quarantine in the new one, a value list cut at
--sample, a measure that starts at 0)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobforge_core.history.changes import Label, release_changes, story


def _write(path: Path, rows: dict) -> Path:
    pl.DataFrame(rows).write_parquet(path)
    return path


def test_a_key_gone_to_quarantine_is_not_called_removed(tmp_path: Path):
    before = _write(
        tmp_path / "old.parquet",
        {"code": ["a", "b", "c", "d"], "year": [2024] * 4, "n": [10, 0, 30, 40]},
    )
    after = _write(
        tmp_path / "new.parquet",
        {"code": ["a", "b", "e"], "year": [2024] * 3, "n": [11, 5, 50]},
    )
    # "c" is in the new batch's quarantine: it did not leave, a rule set it aside
    quarantine = _write(
        tmp_path / "q.parquet",
        {"code": ["c"], "year": [2024], "n": [31], "_quarantine_reason": ["foreign_key"]},
    )
    dim = _write(tmp_path / "dim.parquet", {"code": ["a", "d", "e"], "title": ["A", "D", "E"]})
    c = release_changes(
        before,
        after,
        ["code", "year"],
        window="year",
        labels={"code": Label(dim, "code", "title")},
        quarantine=quarantine,
        sample=1,
    )
    assert c.rows["removed"] == 1 and c.rows["removed_to_quarantine"] == 1  # d; c
    assert (c.rows["added"], c.rows["changed"], c.rows["quarantined_in_new_batch"]) == (1, 2, 1)
    (code,) = c.by_key
    assert (code["added"], code["removed"], code["changed"], code["quarantined"]) == (1, 1, 2, 1)
    assert code["added_values"] == ["e E"] and code["removed_values"] == ["d D"]
    assert code["quarantined_values"] == ["c"]
    # the window did not move (one year on both sides): nothing said about it
    assert c.window is None
    (n,) = c.measures
    assert (n["rows_changed"], n["sum_from"], n["sum_to"], n["delta"]) == (2, 10, 16, 6)
    assert n["pct"] == 60.0
    # --sample 1: the largest change only; from 0 has no percentage
    assert c.changed == [
        {
            "code": "b",
            "year": 2024,
            "label": "",
            "column": "n",
            "from": 0,
            "to": 5,
            "delta": 5,
            "pct": None,
        }
    ]
    lines = story(c.as_dict("t"))
    assert "code: 1 added, 1 removed, 2 changed, 1 in quarantine (not in gold)" in lines
    assert "n: 2 value(s) changed, total +6 (+60.0%)" in lines

"""Atomic writes: temp file in the target directory, then os.replace (invariant 4)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported by the read commands (json writes), which start without polars
    import polars as pl


def temp_path_for(target: Path) -> Path:
    """A hidden sibling of target, so os.replace never crosses a filesystem."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")


@contextmanager
def atomic_target(target: Path) -> Iterator[Path]:
    """Yield a temp path; move it onto target only if the block finishes."""
    tmp = temp_path_for(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(target: Path, payload: Any) -> None:
    with atomic_target(target) as tmp:
        text = json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n"
        tmp.write_text(text, encoding="utf-8")  # not the locale's: readers read UTF-8


def write_text(target: Path, text: str) -> None:
    with atomic_target(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def sink_all(plans: dict[Path, pl.LazyFrame]) -> dict[Path, Path]:
    """Stream several lazy plans to temp parquet files in one pass over shared inputs.

    Returns target -> temp; the caller commits with `commit` once every output is checked,
    so a failed check leaves the previous tables untouched.
    """
    import polars as pl

    temps = {target: _temp_in_own_folder(target) for target in plans}
    sinks = [lf.sink_parquet(temps[t], lazy=True) for t, lf in plans.items()]
    # Common-subplan elimination lets several outputs share one read; within a single plan it
    # turned the slices of a chunked unpivot into slices of one cached, fully buffered scan.
    flags = pl.QueryOptFlags(comm_subplan_elim=len(plans) > 1)
    try:
        pl.collect_all(sinks, optimizations=flags)
    except BaseException:
        discard(temps)
        raise
    return temps


def _temp_in_own_folder(target: Path) -> Path:
    """A temp file alone in a hidden temp folder beside target. When one plan of `sink_all`
    fails, polars may still be opening another plan's file after the error reached us (a
    `.bad.parquet.<hex>.tmp` appeared after `discard` in one run of two): removing the folder
    makes such a late write fail instead of leaving a file behind."""
    folder = temp_path_for(target)
    folder.mkdir()
    return folder / target.name


def _drop_own_folder(tmp: Path) -> None:
    folder = tmp.parent
    if folder.name.startswith(f".{tmp.name}.") and folder.name.endswith(".tmp"):
        shutil.rmtree(folder, ignore_errors=True)


def commit(temps: dict[Path, Path]) -> None:
    for target, tmp in temps.items():
        os.replace(tmp, target)
        _drop_own_folder(tmp)


def discard(temps: dict[Path, Path]) -> None:
    for tmp in temps.values():
        tmp.unlink(missing_ok=True)
        _drop_own_folder(tmp)


def parquet_rows(path: Path) -> int:
    """Row count from the parquet footer, without reading data pages."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows

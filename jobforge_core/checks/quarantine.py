"""Quarantine: rows that failed a rule, and whole files that could not be processed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl

from jobforge_core.common.atomic import atomic_target, commit, discard, parquet_rows, write_json
from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.models import utc_now
from jobforge_core.common.provenance import QUARANTINE_REASON


def commit_row_quarantine(tmp: Path, target: Path) -> int:
    """Keep a quarantine file only when it holds rows; an empty one would only be noise."""
    rows = parquet_rows(tmp)
    if rows == 0:
        discard({target: tmp})
        target.unlink(missing_ok=True)  # a re-run of the same batch that now quarantines nothing
    else:
        commit({target: tmp})
    return rows


def quarantine_file(
    cfg: PipelineConfig,
    *,
    source_name: str,
    batch_id: str,
    source_path: Path,
    report: dict[str, Any],
    copy_from: Path | None = None,
) -> Path:
    """Copy the offending bytes beside an error.json so they can be inspected and replayed.

    copy_from is the run's snapshot of the file (the bytes that were processed); without one,
    nothing is copied: the file was unreadable, missing, or not a file.
    """
    target_dir = cfg.file_quarantine_dir(batch_id)
    target_dir.mkdir(parents=True, exist_ok=True)
    if copy_from is not None and copy_from.is_file():
        with atomic_target(target_dir / source_path.name) as tmp:
            shutil.copyfile(copy_from, tmp)
    payload = {
        "source": source_name,
        "batch_id": batch_id,
        "source_file": str(source_path),
        "quarantined_at": utc_now().isoformat(),
        **report,
    }
    write_json(target_dir / "error.json", payload)
    return target_dir


def reason_counts(path: Path) -> dict[str, int]:
    """Rows per `_quarantine_reason` in one quarantine file."""
    counts = pl.scan_parquet(path).group_by(QUARANTINE_REASON).len().collect()
    return dict(zip(counts[QUARANTINE_REASON].to_list(), counts["len"].to_list(), strict=True))

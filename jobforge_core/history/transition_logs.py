"""Transition logs on disk: one JSON per LayerTransitionLog under catalog/lineage/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from jobforge_core.common.atomic import write_json
from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.models import LayerTransitionLog


def write_log(cfg: PipelineConfig, log: LayerTransitionLog) -> str:
    path = cfg.catalog_lineage_path() / f"{log.transition_id}.json"
    write_json(path, log.model_dump(mode="json"))
    return str(path)


def read_logs(cfg: PipelineConfig) -> Iterator[LayerTransitionLog]:
    """Every readable log. A damaged one (truncated by a full disk, edited by hand) is named
    once in the log and set aside under `catalog/lineage/damaged/`: it made `lineage`,
    `history`, `docs` and every later catalog rebuild fail for every table."""
    directory = cfg.catalog_lineage_path()
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.json")):
        try:
            yield LayerTransitionLog.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            set_aside(path, exc)


def set_aside(path: Path, exc: Exception) -> None:
    """Move a damaged record out of the way (kept for inspection) and say so once."""
    from jobforge_core.common.logs import get_logger

    target = path.parent / "damaged" / path.name
    try:
        target.parent.mkdir(exist_ok=True)
        os.replace(path, target)
    except OSError:
        target = path  # a read-only data root: left where it is, still skipped
    get_logger().warning(
        "damaged_record_set_aside", file=str(path), kept_as=str(target), error=_first(exc)
    )


def _first(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]

"""Transition logs on disk: one JSON per LayerTransitionLog under catalog/lineage/."""

from __future__ import annotations

from collections.abc import Iterator

from jobforge_core.common.atomic import write_json
from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.models import LayerTransitionLog


def write_log(cfg: PipelineConfig, log: LayerTransitionLog) -> str:
    path = cfg.catalog_lineage_path() / f"{log.transition_id}.json"
    write_json(path, log.model_dump(mode="json"))
    return str(path)


def read_logs(cfg: PipelineConfig) -> Iterator[LayerTransitionLog]:
    directory = cfg.catalog_lineage_path()
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.json")):
        yield LayerTransitionLog.model_validate_json(path.read_text(encoding="utf-8"))

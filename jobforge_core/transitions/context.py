"""What every transition of one source batch needs to know."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.models import utc_now
from jobforge_core.sources.spec import SourceSpec


@dataclass(frozen=True)
class BatchContext:
    cfg: PipelineConfig
    spec: SourceSpec
    source_path: Path
    content_sha256: str
    batch_id: str
    ingested_at: datetime = field(default_factory=utc_now)
    read_path: Path | None = None  # private snapshot of source_path taken at planning

    @property
    def input_path(self) -> Path:
        """The bytes to read: the snapshot when there is one (DESIGN invariant 10)."""
        return self.read_path if self.read_path is not None else self.source_path

    @property
    def table(self) -> str:
        """Staged, bronze and silver tables are named after the source."""
        return self.spec.name

"""What every transition of one source batch needs to know."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jobforge_core.config import PipelineConfig
from jobforge_core.models import utc_now
from jobforge_core.spec import SourceSpec


@dataclass(frozen=True)
class BatchContext:
    cfg: PipelineConfig
    spec: SourceSpec
    source_path: Path
    content_sha256: str
    batch_id: str
    ingested_at: datetime = field(default_factory=utc_now)

    @property
    def table(self) -> str:
        """Staged, bronze and silver tables are named after the source."""
        return self.spec.name

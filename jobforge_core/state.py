"""Per-source record of the last batch that reached gold: the unchanged-source skip reads it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from jobforge_core.atomic import write_json
from jobforge_core.config import PipelineConfig
from jobforge_core.models import utc_now


class SourceState(BaseModel):
    source: str
    batch_id: str
    content_sha256: str
    spec_fingerprint: str
    source_file: str
    gold_tables: list[str] = Field(default_factory=list)
    # gold table -> batch id it held when this source's gold was built (foreign keys, lookups)
    upstream: dict[str, str] = Field(default_factory=dict)
    completed_at: str = Field(default_factory=lambda: utc_now().isoformat())


def read_state(cfg: PipelineConfig, source: str) -> SourceState | None:
    path = cfg.state_path() / f"{source}.json"
    if not path.is_file():
        return None
    return SourceState.model_validate_json(path.read_text(encoding="utf-8"))


def write_state(cfg: PipelineConfig, state: SourceState) -> None:
    write_json(cfg.state_path() / f"{state.source}.json", state.model_dump(mode="json"))

"""Per-source record of the last batch that reached gold: the unchanged-source skip reads it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from jobforge_core.common.atomic import write_json
from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.models import utc_now
from jobforge_core.history.transition_logs import set_aside


class SourceState(BaseModel):
    source: str
    batch_id: str
    content_sha256: str
    spec_fingerprint: str
    source_file: str
    gold_tables: list[str] = Field(default_factory=list)
    # gold table -> batch id it held when this source's gold was built (foreign keys, lookups)
    upstream: dict[str, str] = Field(default_factory=dict)
    # False after a later batch failed part-way: gold still holds `batch_id`, but staged,
    # bronze or silver may hold the failed batch, so the next run must re-process the source
    # even if its file is back to the bytes of `batch_id`.
    complete: bool = True
    # gold table -> [sha256, size, mtime_ns, inode] of the file this batch wrote
    # (run/checksums.py): damage at rest is told apart from a new version
    gold_files: dict[str, list] = Field(default_factory=dict)
    completed_at: str = Field(default_factory=lambda: utc_now().isoformat())


def read_state(cfg: PipelineConfig, source: str) -> SourceState | None:
    """None when the source has no usable state: never built, or a damaged file (set aside,
    named in the log), so only this source is reprocessed and the others run as usual."""
    path = cfg.state_path() / f"{source}.json"
    if not path.is_file():
        return None
    try:
        return SourceState.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        set_aside(path, exc)
        return None


def write_state(cfg: PipelineConfig, state: SourceState) -> None:
    write_json(cfg.state_path() / f"{state.source}.json", state.model_dump(mode="json"))


def mark_incomplete(cfg: PipelineConfig, source: str) -> None:
    """A batch of `source` failed after its layers may have been replaced: force a re-run."""
    state = read_state(cfg, source)
    if state is not None and state.complete:
        write_state(cfg, state.model_copy(update={"complete": False}))

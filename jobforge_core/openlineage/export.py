"""Replay kept transition logs as OpenLineage events (`jobforge openlineage export`).

A data root built before a lineage server existed, or while it was down, is loaded into it
after the fact: every log in `catalog/lineage/` becomes its START and COMPLETE/FAIL events,
the same ones the run emitted (same run ids, times, datasets; facets read from the files of
that batch where they are still kept, in the current tables or in history).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import LayerTransitionLog
from jobforge_core.history.transition_logs import read_logs
from jobforge_core.sources.spec import SourceSpec


def kept_logs(
    cfg: PipelineConfig, sources: Iterable[str] | None = None
) -> list[LayerTransitionLog]:
    """The transition logs of the data root in the order they ran (optionally some sources)."""
    wanted = set(sources or [])
    logs = [log for log in read_logs(cfg) if not wanted or log.source_name in wanted]
    return sorted(logs, key=lambda log: (log.started_at, Layer(log.target_layer).name))


def replay_events(
    cfg: PipelineConfig,
    namespace: str,
    specs: dict[str, SourceSpec],
    logs: list[LayerTransitionLog],
) -> Iterator[Any]:
    """START then COMPLETE/FAIL per log. The source file's SHA-256 comes from the staged log
    of the same batch (only staging logs it); a source no longer declared gets events without
    its spec's documentation, owners and column lineage."""
    from jobforge_core.openlineage.events import EventContext, end_event, start_event

    sha = {
        log.batch_id: log.source_sha256 for log in read_logs(cfg) if log.source_sha256 is not None
    }
    for log in logs:
        ctx = EventContext(cfg, namespace, specs.get(log.source_name), sha.get(log.batch_id))
        yield start_event(log, ctx)
        yield end_event(log, ctx)

"""Reading a flow run back through the Prefect API, as the UI would."""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    ArtifactFilterTaskRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
)

from flows.api_pages import read_all, read_by_ids


def flow_run_id(state) -> UUID:
    return state.state_details.flow_run_id


def artifacts(run_id: UUID, key_prefix: str | None = None):
    with get_client(sync_client=True) as client:
        found = read_all(
            lambda offset, limit: client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=key_prefix))
                if key_prefix
                else None,
                offset=offset,
                limit=limit,
            )
        )
    return [a for a in found if a.flow_run_id == run_id]


def task_artifacts(run_id: UUID):
    """Artifacts posted on the pages of the flow run's task runs (the transition logs)."""
    ids = [r.id for r in task_runs(run_id)]
    with get_client(sync_client=True) as client:
        return read_by_ids(
            ids,
            lambda chunk, limit: read_all(
                lambda offset, size: client.read_artifacts(
                    artifact_filter=ArtifactFilter(task_run_id=ArtifactFilterTaskRunId(any_=chunk)),
                    offset=offset,
                    limit=min(size, limit),
                )
            ),
        )


def task_runs(run_id: UUID):
    with get_client(sync_client=True) as client:
        return read_all(
            lambda offset, limit: client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
                task_run_filter=TaskRunFilter(),
                offset=offset,
                limit=limit,
            )
        )


def logs(run_id: UUID) -> list[str]:
    with get_client(sync_client=True) as client:
        found = read_all(
            lambda offset, limit: client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])),
                offset=offset,
                limit=limit,
            )
        )
    return [log.message for log in found]


def events(name: str, wanted=lambda event: True, timeout: float = 30.0) -> list:
    """Events are persisted asynchronously by the server: poll until a wanted one arrives."""
    import time

    from prefect.events.filters import EventFilter, EventNameFilter

    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            page = client.read_events(
                filter=EventFilter(event=EventNameFilter(name=[name])), limit=50
            )
        found = [e for e in page.events if wanted(e)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)

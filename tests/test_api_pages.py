"""Reads of many records from a real Prefect server stay within its API limit (issue 23)."""

from __future__ import annotations

from prefect import flow, task
from prefect.client.orchestration import get_client

from flows.api_pages import page_size, read_all
from flows.recorded import await_recorded, unrecorded

MORE_THAN_A_PAGE = 230


@task
def _noop(i: int) -> int:
    return i


def test_task_runs_past_the_servers_limit_are_read_back_in_pages(prefect_harness):
    """A run of 300 sources has over 1,000 task runs; `limit=len(wanted)` above 200 made the
    server answer 422 after every transition had succeeded."""
    assert page_size() == 200

    @flow
    def many() -> list[str]:
        futures = [_noop.submit(i) for i in range(MORE_THAN_A_PAGE)]
        for f in futures:
            f.wait()
        still = await_recorded(futures)
        assert still == []
        assert unrecorded(futures) == []
        return [str(f.task_run_id) for f in futures]

    ids = many()
    assert len(set(ids)) == MORE_THAN_A_PAGE


def test_read_all_pages_through_every_record(prefect_harness):
    @flow
    def more() -> str:
        futures = [_noop.submit(i) for i in range(MORE_THAN_A_PAGE)]
        for f in futures:
            f.wait()
        await_recorded(futures)
        from prefect.runtime import flow_run

        return flow_run.get_id()

    run_id = more()
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        found = read_all(
            lambda offset, limit: client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
                sort=TaskRunSort.ID_DESC,
                offset=offset,
                limit=limit,
            )
        )
    assert len({r.id for r in found}) == MORE_THAN_A_PAGE

"""Wait until the Prefect server has recorded the final state of this run's task runs.

Prefect 3 orchestrates task runs in the client: their states reach the server as events,
which the server's `task_run_recorder` service writes to its database one by one, some time
later. A flow that returns before that has two faults. The run's record lags (the UI and the
API show task runs `Running` after the flow ended). And with the embedded server of
`jobforge run`, which stops when the command exits, the recorder is cancelled in the middle
of a write and logs `ERROR ... Error flushing 1 events` with a `CancelledError` traceback
after a successful run. Prefect's client side drains its own queues at exit
(`EventsWorker.drain_all`, run by Prefect's exit hooks before the embedded server stops);
what it offers for the server side is the API: read the task runs back until the server
shows each one in the final state the engine reported, as `PrefectDistributedFuture` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterId
from prefect.futures import PrefectFuture

from flows.api_pages import read_by_ids

POLL_SECONDS = 0.1
TIMEOUT_SECONDS = 60.0


def unrecorded(futures: Iterable[PrefectFuture]) -> list[str]:
    """Task runs whose final state the server does not show yet (names, for a message)."""
    wanted = {f.task_run_id: f.state for f in futures}
    if not wanted:
        return []
    with get_client(sync_client=True) as client:
        found = read_by_ids(
            list(wanted),
            lambda ids, limit: client.read_task_runs(
                task_run_filter=TaskRunFilter(id=TaskRunFilterId(any_=ids)), limit=limit
            ),
        )
    by_id = {run.id: run for run in found}
    missing = []
    for task_run_id, state in wanted.items():
        run = by_id.get(task_run_id)
        if run is None or run.state is None or run.state.type != state.type:
            missing.append(run.name if run is not None else str(task_run_id))
    return missing


def await_recorded(futures: Iterable[PrefectFuture], timeout: float = TIMEOUT_SECONDS) -> list[str]:
    """Poll until every finished future's task run is recorded; return what is still not."""
    futures = [f for f in futures if f.state.is_final()]
    deadline = time.monotonic() + timeout
    while True:
        missing = unrecorded(futures)
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(POLL_SECONDS)

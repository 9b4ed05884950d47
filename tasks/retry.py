"""Retry policy for tasks: transient faults only (invariant 7)."""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from jobforge_core.common.errors import is_transient

RETRIES = 3
RETRY_DELAYS = exponential_backoff(backoff_factor=0.5)
RETRY_JITTER = 0.5


def retry_transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: look at the exception inside the failed state."""
    try:
        state.result()
    except Exception as exc:  # the state re-raises the task's exception
        return is_transient(exc)
    return False

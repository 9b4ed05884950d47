"""Prefect settings for flows run in the foreground (the CLI, the benchmark), not by a worker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

_HEARTBEAT_VARS = ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")


@contextmanager
def foreground_run(api_url: str | None = None) -> Iterator[None]:
    """No flow-run heartbeats, unless the user set a frequency; `api_url`: the server this
    command started itself (flows/embedded.py).

    Heartbeats let the server mark a deployment's run crashed when its worker dies; the crash
    of a run started in a terminal is seen by whoever started it. Prefect 3.9 stops the
    heartbeat thread at flow exit by joining it while it sleeps in 1 s steps: up to 1 s added
    to every run, the largest single cost of a small source's run (bench/RESULTS.md).
    """
    heartbeats = any(os.environ.get(name) for name in _HEARTBEAT_VARS)
    if heartbeats and api_url is None:
        yield
        return
    from prefect.context import SettingsContext
    from prefect.settings import get_current_settings

    # A copy, not `temporary_settings`: that re-reads and re-validates every setting (0.2 s).
    current = SettingsContext.get()
    settings = get_current_settings()
    updated = settings
    if not heartbeats:
        flows = settings.flows.model_copy(update={"heartbeat_frequency": None})
        updated = updated.model_copy(update={"flows": flows})
    if api_url is not None:
        api = settings.api.model_copy(update={"url": api_url})
        updated = updated.model_copy(update={"api": api})
    with SettingsContext(profile=current.profile, settings=updated):
        yield

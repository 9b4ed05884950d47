"""Foreground runs (CLI, benchmark) send no flow-run heartbeats unless the user asks for them."""

from __future__ import annotations

import pytest
from prefect.settings import (
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    get_current_settings,
    temporary_settings,
)

from flows.adhoc import foreground_run


def test_foreground_run_turns_heartbeats_off_and_restores_them(monkeypatch) -> None:
    monkeypatch.delenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", raising=False)
    monkeypatch.delenv("PREFECT_RUNNER_HEARTBEAT_FREQUENCY", raising=False)
    # Prefect's default (180 s), set here: the session's test harness, which may already be
    # running in this worker, turns heartbeats off for every test.
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 180}):
        before = get_current_settings()
        with foreground_run():
            inside = get_current_settings()
            assert inside.flows.heartbeat_frequency is None
            assert inside.api.url == before.api.url  # everything else is the caller's
        assert get_current_settings().flows.heartbeat_frequency == 180


@pytest.mark.parametrize(
    "variable", ["PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY"]
)
def test_a_frequency_the_user_set_is_kept(monkeypatch, variable: str) -> None:
    monkeypatch.setenv(variable, "45")
    user = temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 45})  # what the variable sets
    with user, foreground_run():
        assert get_current_settings().flows.heartbeat_frequency == 45


def test_polars_morsel_size_default_is_set_before_polars_loads() -> None:
    """JobForge's default applies when it is imported first; a user's value wins."""
    import os
    import subprocess
    import sys

    script = (
        "import os, sys; import flows.cli; import polars; "
        "print(os.environ['POLARS_IDEAL_MORSEL_SIZE'], 'polars' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "POLARS_IDEAL_MORSEL_SIZE"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["20000", "True"], out.stderr
    env["POLARS_IDEAL_MORSEL_SIZE"] = "50000"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["50000", "True"], out.stderr

"""The deployments' pull step (flows/deploy_steps.py) in process: which checkout a worker runs
from, and why it refuses one (issue 12 item 11). The step on a real worker is exercised by
tests/test_deploy.py; these are the fast tier's checks of its rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import REPO

from flows import deploy_steps


def test_the_checkout_is_the_named_one_else_the_one_installed_from(tmp_path, monkeypatch):
    monkeypatch.delenv(deploy_steps.HOME_VAR, raising=False)
    assert deploy_steps.checkout() == REPO
    monkeypatch.setenv(deploy_steps.HOME_VAR, str(REPO))
    assert deploy_steps.checkout() == REPO
    assert deploy_steps.checkout(str(REPO / "flows" / "..")) == REPO
    with pytest.raises(FileNotFoundError, match=r"JOBFORGE_HOME=.* is not a JobForge checkout"):
        deploy_steps.checkout(str(tmp_path))


def test_use_checkout_moves_into_it_and_names_nothing_outside_a_flow_run(monkeypatch):
    monkeypatch.delenv("PREFECT__FLOW_RUN_ID", raising=False)
    monkeypatch.delenv(deploy_steps.HOME_VAR, raising=False)
    here = Path.cwd()
    try:
        os.chdir("/")
        assert deploy_steps.use_checkout() == {"directory": str(REPO)}
        assert Path.cwd() == REPO
    finally:
        os.chdir(here)

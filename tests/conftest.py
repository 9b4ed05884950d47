"""Shared fixtures: sample and real data locations, a data root per test, one Prefect harness."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import processes  # noqa: E402

processes.install()  # no server or worker a test starts outlives a killed suite
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "source"

# The fast tier (`pytest -m fast`, issue 29): about a minute on a quiet 2-core machine, and it
# reaches every module (`python tests/fast_tier.py` checks that, in CI). The direct tests of
# the core, plus one file that drives every command of the CLI through a real Prefect run.
FAST_TIER = {
    "test_adhoc.py",
    "test_atomic_encoding.py",
    "test_bench_sections.py",
    "test_cli_polish.py",
    "test_core_units.py",
    "test_declared_rules.py",
    "test_declared_sources.py",
    "test_deploy_steps.py",
    "test_docs.py",
    "test_expectations.py",
    "test_expected_failures.py",
    "test_explore_data_root_file.py",
    "test_explore_ndjson.py",
    "test_explore_numbers.py",
    "test_explore_partial_failure.py",
    "test_explore_spec_files.py",
    "test_explore_spec_load.py",
    "test_explore_spreadsheets.py",
    "test_expression_guard.py",
    "test_gold_links.py",
    "test_gold_slices.py",
    "test_gold_units.py",
    "test_integrity.py",
    "test_layout.py",
    "test_openlineage_safety.py",
    "test_planning.py",
    "test_query_fence.py",
    "test_quarantine.py",
    "test_readers.py",
    "test_readme_examples.py",
    "test_reconcile_units.py",
    "test_records.py",
    "test_release_changes.py",
    "test_rowsets.py",
    "test_spec_merge.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in FAST_TIER and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.fast)


REAL = REPO.parent / "shared" / "data" / "real"


@pytest.fixture
def cfg(tmp_path: Path):
    from jobforge_core.common.config import PipelineConfig

    return PipelineConfig(data_root=tmp_path / "data", source_dir=SAMPLES)


@pytest.fixture
def source_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled samples, for tests that damage a file."""
    target = tmp_path / "source"
    shutil.copytree(SAMPLES, target)
    return target


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The real files; in CI their absence is a failure, elsewhere a skip."""
    if not (REAL / "noc_structure_en.csv").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"real data missing at {REAL} (required in CI)")
        pytest.skip(f"real data not available at {REAL}")
    return REAL


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One Prefect test server for the whole session (starting one costs seconds)."""
    storage = tmp_path_factory.mktemp("prefect-results")
    os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(storage)
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # Registers the jobforge logger forwarding, and makes Prefect configure its logging now, on
    # the session's streams: configured later, inside a test using capsys, Prefect's console
    # handler would keep writing to that test's closed capture file.
    import flows.pipeline  # noqa: F401

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture(scope="session")
def real_flow_run(real_dir: Path, prefect_harness, tmp_path_factory: pytest.TempPathFactory):
    """`jobforge run --source-dir <real files>`, as docs/gold-model.md shows, once a session
    for the tests that only read what it built: (data root, exit code)."""
    from flows.cli import main

    data_root = tmp_path_factory.mktemp("real-run") / "data"
    code = main(["run", "--source-dir", str(real_dir), "--data-root", str(data_root)])
    return data_root, code


@pytest.fixture(scope="session")
def sample_flow_run(prefect_harness, tmp_path_factory: pytest.TempPathFactory):
    """`jobforge run` on the bundled samples, once per session: (data root, exit code, run id)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    from flows.cli import main

    data_root = tmp_path_factory.mktemp("sample-run") / "data"
    code = main(["run", "--data-root", str(data_root), "--source-dir", str(SAMPLES)])
    with get_client(sync_client=True) as client:
        (latest,) = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
    return data_root, code, latest.id


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium per test module (tests/browser.py); CI must have one."""
    from browser import Browser, find_chromium

    executable = find_chromium()
    if executable is None:
        message = "chromium not found (apt-get install -y chromium, or set JOBFORGE_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with Browser(executable) as b:
        yield b

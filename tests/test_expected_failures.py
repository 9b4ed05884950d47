"""Issue 28: what `ExpectedFailures` does to Prefect's log records, record by record (the
deployment run that shows it end to end is tests/test_deploy_surfaces.py)."""

from __future__ import annotations

import logging
import sys
import uuid

import pytest

from flows.summary import RunFailed
from jobforge_core.common.errors import ReconciliationError, SourceFileError, SpecError
from tasks.run_logging import failed_on_purpose, quiet_expected_failures

# Records made here belong to no flow run: Prefect's API handler says so and sends nothing.
pytestmark = pytest.mark.filterwarnings("ignore:Logger 'prefect:UserWarning")


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept():
    quiet_expected_failures()
    handler = _Keep()
    names = ("prefect.flow_runs", "prefect.task_runs", "prefect.engine")
    for name in names:
        logging.getLogger(name).addHandler(handler)
    yield handler
    for name in names:
        logging.getLogger(name).removeHandler(handler)


def _raised(exc: BaseException):
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


def test_the_engines_final_reraise_of_an_expected_failure_is_not_logged(kept):
    run_failed = RunFailed("1 source(s) failed: oasis_labels", {"sources": []})
    for exc in (run_failed, SpecError("specs/x.yaml: not valid YAML")):
        logging.getLogger("prefect.flow_runs").error(
            "Engine execution exited with unexpected exception", exc_info=_raised(exc)
        )
    assert kept.records == []


def test_any_other_report_of_an_expected_failure_is_a_one_line_warning(kept):
    logging.getLogger("prefect.task_runs").error(
        "Task run failed with exception: SourceFileError - Retries are exhausted",
        exc_info=_raised(SourceFileError("binary content", file="x.csv")),
    )
    (record,) = kept.records
    assert record.levelno == logging.WARNING and record.exc_info is None


def test_an_unexpected_exception_keeps_its_error_and_traceback(kept):
    for exc in (ValueError("a bug"), ReconciliationError("rows lost")):
        logging.getLogger("prefect.flow_runs").error(
            "Engine execution exited with unexpected exception", exc_info=_raised(exc)
        )
    assert [r.levelno for r in kept.records] == [logging.ERROR, logging.ERROR]
    assert all(r.exc_info for r in kept.records)


def test_only_a_task_run_failed_on_purpose_finishes_as_a_warning(kept):
    on_purpose, other = str(uuid.uuid4()), str(uuid.uuid4())
    failed_on_purpose(on_purpose)
    log = logging.getLogger("prefect.task_runs")
    for task_run_id in (on_purpose, other):
        log.error("Finished in state Failed('bad file')", extra={"task_run_id": task_run_id})
    assert [r.levelno for r in kept.records] == [logging.WARNING, logging.ERROR]

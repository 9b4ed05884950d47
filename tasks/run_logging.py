"""Forward JobForge's structlog records to Prefect run logs, in whichever process runs them."""

from __future__ import annotations

import logging

from jobforge_core.common.logs import LOGGER_NAME, configure_logging


def attach_run_logging() -> None:
    """Copy Prefect's extra-logger handlers onto `jobforge`, even when Prefect was imported
    before PREFECT_LOGGING_EXTRA_LOGGERS could be set (workers, Dask processes)."""
    configure_logging()
    quiet_expected_failures()
    target = logging.getLogger(LOGGER_NAME)
    for handler in logging.getLogger("prefect.extra").handlers:
        if handler not in target.handlers:
            target.addHandler(handler)


# Task runs this process ended `Failed` on purpose (a data error: quarantined, DESIGN 7).
_FAILED_ON_PURPOSE: set[str] = set()


def failed_on_purpose(task_run_id: str | None) -> None:
    """Mark a task run that returns a `Failed` state for bad data: Prefect's "Finished in state
    Failed(...)" line for it is a warning, not an error (the quarantine is the expected path)."""
    if task_run_id:
        _FAILED_ON_PURPOSE.add(str(task_run_id))


class ExpectedFailures(logging.Filter):
    """Prefect's words for outcomes JobForge ends on purpose, put right (DESIGN 15).

    - A flow that returns `Failed(data=exc)` still has Prefect's engine raise `exc` at the end
      of a deployment run (`run_flow(return_type="result")`), which logs "Engine execution
      exited with unexpected exception" and the whole traceback into the flow run's logs and
      the worker's output. When `exc` says it is expected (`expected_failure`: a failed source,
      a spec error, bad data), that record is dropped: the run's final state already says it,
      in one line. Any other record carrying such an exception is kept as a one-line warning.
    - A task run failed on purpose (`failed_on_purpose`) is logged by Prefect at ERROR; it
      is a WARNING here. A task that raised something unexpected keeps its ERROR and traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and getattr(exc, "expected_failure", False):
            if "unexpected exception" in str(record.msg):
                return False  # the engine's final re-raise: untrue, and said by the state
            # any other report of it: one line, a warning, no traceback
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            return True
        task_run_id = getattr(record, "task_run_id", None)
        if (
            record.levelno >= logging.ERROR
            and task_run_id in _FAILED_ON_PURPOSE
            and str(record.msg).startswith("Finished in state")
        ):
            _FAILED_ON_PURPOSE.discard(task_run_id)  # its last line: the set stays small
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_FILTER = ExpectedFailures()
_PREFECT_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect.engine")


def quiet_expected_failures() -> None:
    """Install `ExpectedFailures` on the loggers Prefect's engine reports runs with (once)."""
    for name in _PREFECT_LOGGERS:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)

"""Forward JobForge's structlog records to Prefect run logs, in whichever process runs them."""

from __future__ import annotations

import logging

from jobforge_core.common.logs import LOGGER_NAME, configure_logging


def attach_run_logging() -> None:
    """Copy Prefect's extra-logger handlers onto `jobforge`, even when Prefect was imported
    before PREFECT_LOGGING_EXTRA_LOGGERS could be set (workers, Dask processes)."""
    configure_logging()
    target = logging.getLogger(LOGGER_NAME)
    for handler in logging.getLogger("prefect.extra").handlers:
        if handler not in target.handlers:
            target.addHandler(handler)

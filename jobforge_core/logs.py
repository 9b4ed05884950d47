"""structlog configured onto the stdlib logger `jobforge`, so Prefect can forward it to the UI."""

from __future__ import annotations

import logging

import structlog

LOGGER_NAME = "jobforge"
_configured = False


def configure_logging(level: int = logging.INFO) -> None:
    """Idempotent: key=value lines through stdlib, which Prefect's handlers pick up."""
    global _configured
    logging.getLogger(LOGGER_NAME).setLevel(level)
    if _configured:
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=False),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _configured = True


def get_logger(**bound: object) -> structlog.stdlib.BoundLogger:
    configure_logging()
    return structlog.get_logger(LOGGER_NAME).bind(**bound)

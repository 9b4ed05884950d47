"""structlog configured onto the stdlib logger `jobforge`, so Prefect can forward it to the UI."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

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
            _notify,
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


# --- listeners and the per-run log file -------------------------------------------------------

_listeners: list[Callable[[dict[str, Any]], None]] = []
_listeners_lock = threading.Lock()


def _notify(_logger: object, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: hand a copy of every event to the listeners (the CLI's progress
    lines), then carry on to the renderer. A failing listener never breaks the pipeline."""
    for listener in tuple(_listeners):
        with suppress(Exception):  # display only
            listener(dict(event_dict))
    return event_dict


@contextmanager
def listening(listener: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Call `listener(event_dict)` for every JobForge event logged in this process."""
    configure_logging()
    with _listeners_lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _listeners_lock:
            _listeners.remove(listener)


# The run's own events, and Prefect's flow and task run records (they carry the tracebacks of
# failed tasks, which the console does not show by default).
RUN_LOGGERS = (LOGGER_NAME, "prefect.flow_runs", "prefect.task_runs")


@contextmanager
def log_to_file(
    path: Path,
    loggers: tuple[str, ...] = RUN_LOGGERS,
    formatter: logging.Formatter | None = None,
) -> Iterator[Path]:
    """Append every record of `loggers` (INFO and up, with tracebacks) to `path`."""
    configure_logging()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(
        formatter or logging.Formatter("%(asctime)s | %(levelname)-7s | %(name)s - %(message)s")
    )
    for name in loggers:
        logging.getLogger(name).addHandler(handler)
    try:
        yield path
    finally:
        for name in loggers:
            logging.getLogger(name).removeHandler(handler)
        handler.close()

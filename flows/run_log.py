"""The full log of every flow run, written to a file under the data root.

The console stays concise (one line per source); the file keeps everything: JobForge's
structlog events and Prefect's flow and task run records, tracebacks included. Runs still log
to Prefect (the UI) as before. With the Dask runner, tasks log from the worker processes: their
records reach Prefect, not this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from prefect.logging.formatters import PrefectFormatter
from prefect.runtime import flow_run

from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.logs import log_to_file
from jobforge_core.common.models import utc_now

_current: ContextVar[Path | None] = ContextVar("jobforge_run_log", default=None)


_FORMAT = "%(asctime)s | %(levelname)-7s | {}%(message)s"


def _formatter() -> PrefectFormatter:
    """Prefect's console layout (names the flow or task run), with the date."""
    return PrefectFormatter(
        format=_FORMAT.format("%(name)s - "),
        flow_run_fmt=_FORMAT.format("Flow run %(flow_run_name)r - "),
        task_run_fmt=_FORMAT.format("Task run %(task_run_name)r - "),
    )


def run_log_path(data_root: Path, run_name: str) -> Path:
    """`<data root>/logs/<UTC start>-<flow run name>.log`: sorted by time, named for the run."""
    safe = re.sub(r"[^A-Za-z0-9._+-]+", "-", run_name).strip("-") or "run"
    return data_root / "logs" / f"{utc_now():%Y%m%dT%H%M%SZ}-{safe}.log"


@contextmanager
def run_log(data_root: str | None) -> Iterator[Path]:
    """Log this flow run to its file for the duration of the block."""
    root = PipelineConfig.from_settings(data_root=Path(data_root) if data_root else None).data_root
    path = run_log_path(root, flow_run.get_name() or "run")
    with log_to_file(path, formatter=_formatter()):
        token = _current.set(path)
        try:
            yield path
        finally:
            _current.reset(token)


def current_run_log() -> str | None:
    """The log file of the flow run in progress in this context, if any."""
    path = _current.get()
    return str(path) if path else None

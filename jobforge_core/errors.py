"""Error taxonomy: data errors quarantine and never retry; transient errors retry."""

from __future__ import annotations

import re
from typing import Any


class JobForgeError(Exception):
    """Base of everything JobForge raises on purpose."""


class SpecError(JobForgeError):
    """A source spec (YAML) is invalid; names the spec file and the field."""


class DataError(JobForgeError):
    """Bad input: the file, or a row of it, cannot be processed. Never retried."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        layer: str | None = None,
        row: int | None = None,
        column: str | None = None,
        rule: str | None = None,
        rows: int | None = None,
    ) -> None:
        self.file, self.layer, self.row, self.column, self.rule = file, layer, row, column, rule
        self.rows = rows  # rows that broke `rule`, when counted
        where = [f"file {file}" if file else None, f"row {row}" if row is not None else None]
        where.append(f"column {column!r}" if column else None)
        prefix = ", ".join(w for w in where if w)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.message = message

    def report(self) -> dict[str, Any]:
        return {
            "exception": type(self).__name__,
            "message": str(self),
            "file": self.file,
            "layer": self.layer,
            "row": self.row,
            "column": self.column,
            "rule": self.rule,
        }


class SourceFileError(DataError):
    """The whole file is unusable: unreadable, empty, missing required columns."""


class ExpectationFailed(DataError):
    """An expectation declared with action `fail` did not hold."""


class SchemaChanged(DataError):
    """The batch changes a table's columns and the spec says `on_schema_change: fail`."""


class ReconciliationError(JobForgeError):
    """Rows were lost between layers: a bug in a transition, never bad data."""


class TransientError(JobForgeError):
    """A fault worth retrying (lock held, flaky storage)."""


_PERMANENT_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


def is_transient(exc: BaseException) -> bool:
    """Retry policy in one place: I/O and lock faults retry, data and logic errors do not."""
    if isinstance(exc, TransientError | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, OSError):
        return not isinstance(exc, _PERMANENT_OS_ERRORS)
    name = type(exc).__name__
    # DuckDB signals a held file lock as IOException; polars wraps OS faults in ComputeError text.
    # Quoted file names are left out: a path with "lock" in it is no lock error.
    return name == "IOException" and "lock" in re.sub(r'"[^"]*"', "", str(exc)).lower()

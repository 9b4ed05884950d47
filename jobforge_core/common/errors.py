"""Error taxonomy: data errors quarantine and never retry; transient errors retry."""

from __future__ import annotations

import errno
import re
import shutil
from pathlib import Path
from typing import Any


class JobForgeError(Exception):
    """Base of everything JobForge raises on purpose."""

    # An outcome the run reports as its result (a bad file, an invalid spec), not a fault of
    # the software: the orchestrator logs it without an ERROR and a traceback.
    expected_failure = False


class SpecError(JobForgeError):
    """A source spec (YAML) is invalid; names the spec file and the field."""

    expected_failure = True


class DataError(JobForgeError):
    """Bad input: the file, or a row of it, cannot be processed. Never retried."""

    expected_failure = True

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


class ThresholdExceeded(DataError):
    """A batch crossed a volume guard (`thresholds:`): its layer table is not replaced, its
    quarantine is written, and the counts travel with the error into the failed log."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        layer: str,
        rule: str,
        counts: dict[str, Any],
    ) -> None:
        rows = counts.get("row_count_quarantined")
        super().__init__(
            message, file=file, layer=layer, rule=rule, rows=rows if isinstance(rows, int) else None
        )
        self.counts = counts


class SpecDataMismatch(DataError):
    """A spec's column or expression does not fit the data it runs on (a gold `columns:`
    naming a column silver lacks, a `where` on a misspelt column, a `derive` whose CAST fails
    on a value): polars' own error, cut to its first line, naming the layer and the spec."""


# polars errors that say a spec's columns or SQL do not fit the data, never a fault of the
# machine (those are ComputeError/OSError and go through the disk-full and retry checks).
_POLARS_PLAN_ERRORS = {
    "ColumnNotFoundError",
    "SchemaFieldNotFoundError",
    "SchemaError",
    "DuplicateError",
    "InvalidOperationError",
    "SQLInterfaceError",
    "SQLSyntaxError",
}


def spec_mismatch(
    exc: BaseException, *, file: str, layer: str, spec: str
) -> SpecDataMismatch | None:
    """The one-line DataError for a polars plan error, or None for anything else. polars'
    message runs to a dump of the query plan; its first line and its "Did you mean" say it."""
    kind = type(exc)
    if not kind.__module__.startswith("polars") or kind.__name__ not in _POLARS_PLAN_ERRORS:
        return None
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = lines[0] if lines else kind.__name__
    hint = next((line for line in lines[1:] if line.startswith("Did you mean")), None)
    return SpecDataMismatch(
        f"{layer}: the spec {spec} does not fit the data: {said}" + (f" ({hint})" if hint else ""),
        file=file,
        layer=layer,
        rule="spec_mismatch",
    )


class ReconciliationError(JobForgeError):
    """Rows were lost between layers: a bug in a transition, never bad data."""


class StorageError(JobForgeError):
    """The data root cannot be written (a full disk, a read-only mount): not the data's fault,
    so no quarantine; not retried, since waiting seconds rarely frees a disk."""


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


_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_DISK_FULL_TEXT = ("no space left on device", "os error 28", "disk quota exceeded")
_IO_TEXT = ("thrift", "transport error", "io error", "i/o error", "out of specification")
_NEARLY_FULL = 1 << 20  # bytes


def disk_full_message(exc: BaseException, where: Path | None = None) -> str | None:
    """'no space left on device ...' when exc or its cause is a full disk, else None.

    polars, pyarrow and DuckDB wrap the OS error in their own exceptions, or lose it: a parquet
    footer cut short by a full disk reads back as "Invalid thrift: transport error". So the
    errno chain and the text are checked, and, when `where` is given, an I/O-looking error on a
    file system with (almost) no free space left is reported as what it is.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    found = None  # the deepest match: the library's own words, not a wrapper's
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "errno", None)
        text = str(current).lower()
        if code == errno.EFBIG or "file too large" in text:
            found = f"file too large for the file system or the process's size limit ({current})"
        elif code in _DISK_FULL_ERRNOS or any(t in text for t in _DISK_FULL_TEXT):
            found = f"no space left on device ({current})"
        current = current.__cause__ or current.__context__
    if found is not None:
        return found
    if where is not None and any(t in str(exc).lower() for t in _IO_TEXT):
        free = _free_bytes(where)
        if free is not None and free < _NEARLY_FULL:
            return f"no space left on device ({free} bytes free under {where}; {exc})"
    return None


def _free_bytes(where: Path) -> int | None:
    for candidate in (where, *where.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return None

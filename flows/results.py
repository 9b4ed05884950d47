"""What a `jobforge` command computes, before any formatting.

Every command returns a `Result`; `flows.render` turns any `Result` into table, csv or json.
Commands never print their data themselves, so each of them honours every `--format` by
construction. Messages for people (progress, hints, warnings) are `notes`: they go to stderr
and never mix with the data on stdout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class Section:
    """One part of a result: records (a table) or fields (one record shown as `key: value`).

    `rows` may hold nested values (dicts, lists): json keeps them, csv writes them as JSON
    text, the table shows a dict as one `key value` line per entry. `columns` chooses and
    orders the columns of the table view; csv and json always get every key. A section
    limited to some `formats` repeats, for people, data that another section carries whole.
    """

    key: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    kind: Literal["records", "fields"] = "records"
    title: str | None = None
    columns: list[str] | None = None
    max_width: int | None = 60  # table view: a longer one-line cell ends with an ellipsis
    formats: tuple[str, ...] = ("table", "csv", "json")  # where this section appears

    @classmethod
    def fields(cls, key: str, values: dict[str, Any], title: str | None = None) -> Section:
        return cls(key=key, rows=[values], kind="fields", title=title, max_width=None)


@dataclass
class Result:
    """A command's answer: its sections, messages for stderr, and its exit code."""

    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    exit_code: int = 0
    printed: bool = False  # the command wrote its data to stdout itself, as it came (streamed)


class CommandError(Exception):
    """A command cannot answer; the CLI prints one line to stderr and exits with `exit_code`."""

    exit_code = 1


class UsageError(CommandError):
    """Wrong option, unknown name, missing directory: nothing was done (exit 2)."""

    exit_code = 2


class NothingBuilt(CommandError):
    """The data root holds no run yet, so there is nothing to show (exit 1)."""


_PREFECT_WORDING = re.compile(r"(?:Task|Flow) run encountered an exception:?\s*")


def our_words(text: str | None) -> str | None:
    """A reason in JobForge's words: Prefect's "Task run encountered an exception" (the
    message of a task run that raised something unexpected) removed, the exception kept."""
    if not text:
        return text
    return _PREFECT_WORDING.sub("", text).strip() or text


def spec_error_line(exc: Exception) -> str:
    """One line for a spec error: the file, then each invalid field and why."""
    from pydantic import ValidationError

    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        head = str(exc).splitlines()[0].rstrip(":")
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(spec)'}: {e['msg']}" for e in cause.errors()
        )
        return f"{head}: {fields}"
    return " ".join(part.strip() for part in str(exc).splitlines() if part.strip())

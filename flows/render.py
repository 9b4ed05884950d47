"""One renderer for every command: a `Result` as an aligned table, CSV or one JSON document.

Contract (docs/querying.md, "Output formats"): json is exactly one JSON document on stdout (a result
of one part is that part: a list of records or an object; of several, an object with one key
per part); csv is
RFC 4180 with one header and no trailing blank record; a result of several sections becomes
one CSV table with a leading `section` column (columns are the union of the sections'); the
table view is for people. Notes go to stderr in every format.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TextIO

from flows.results import Result, Section

FORMATS = ("table", "csv", "json")
ELLIPSIS = "…"


def _plain(value: Any) -> Any:
    """JSON-safe value: NaN and infinities are null (JSON has none), dates ISO text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def _section_json(section: Section) -> Any:
    if section.kind == "fields":
        return _plain(section.rows[0] if section.rows else {})
    return _plain(section.rows)


def render_json(result: Result) -> str:
    """One section: its value (a list of records, or an object); several: an object keyed by
    section. So `query --format json` is a list of rows, `lineage --where` an object."""
    if len(result.sections) == 1:
        document = _section_json(result.sections[0])
    else:
        document = {s.key: _section_json(s) for s in result.sections}
    return json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def _columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


# Cells a spreadsheet would run as a formula (`=1+1`, `+cmd|' /C calc'!A0`, `@SUM(1,2)`).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SPREADSHEET_SAFE = {"on": False}  # --spreadsheet-safe: set once by the command line


def _csv_cell(value: Any) -> Any:
    cell = _csv_value(value)
    if SPREADSHEET_SAFE["on"] and isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell  # shown as text, never run (OWASP's CSV injection advice)
    return cell


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):  # as in json: true / false, not Python's True / False
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return json.dumps(_plain(value), ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return _plain(value)


def _csv_records(section: Section) -> list[dict[str, Any]]:
    if section.kind == "fields":
        values = section.rows[0] if section.rows else {}
        return [{"field": k, "value": v} for k, v in values.items()]
    return section.rows


def render_csv(result: Result) -> str:
    parts = [(s, _csv_records(s)) for s in result.sections]
    stacked = len(parts) > 1
    header = (["section"] if stacked else []) + _columns(r for _, rows in parts for r in rows)
    if not stacked and parts and not parts[0][1] and parts[0][0].columns:
        header = list(parts[0][0].columns)  # no rows: still the header
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for section, rows in parts:
        for row in rows:
            cells = {"section": section.key, **row} if stacked else row
            writer.writerow([_csv_cell(cells.get(c)) for c in header])
    return out.getvalue()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "\n".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):  # as in json and csv
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


# C0 and C1 control characters other than the line break a cell may span: data printed raw
# could retitle the terminal (OSC) or clear the screen.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _visible(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _cut(line: str, width: int | None) -> str:
    if width is None or len(line) <= width:
        return line
    return line[: width - 1] + ELLIPSIS


def table_lines(rows: list[dict[str, Any]], columns: list[str], width: int | None) -> list[str]:
    """Aligned columns; a cell of several lines (EXPLAIN plans, per-table counts) spans as
    many physical lines, uncut; a one-line cell longer than `width` ends with an ellipsis."""

    def cell(value: Any) -> list[str]:
        lines = [_visible(x) for x in _text(value).split("\n")] if value is not None else [""]
        return lines if len(lines) > 1 else [_cut(lines[0], width)]

    cells = [{c: cell(r.get(c)) for c in columns} for r in rows]
    widths = {c: max([len(c)] + [len(x) for row in cells for x in row[c]]) for c in columns}
    last = columns[-1] if columns else None

    def line(values: dict[str, str]) -> str:
        return "  ".join(
            values[c] if c == last else values[c].ljust(widths[c]) for c in columns
        ).rstrip()

    out = [line({c: c for c in columns}), line({c: "-" * widths[c] for c in columns})]
    for row in cells:
        height = max(len(v) for v in row.values())
        for i in range(height):
            out.append(line({c: row[c][i] if i < len(row[c]) else "" for c in columns}))
    return out


def _section_table(section: Section) -> list[str]:
    if section.kind == "fields":
        values = section.rows[0] if section.rows else {}
        pad = max((len(k) for k in values), default=0)
        lines = []
        for k, v in values.items():
            text = _text(v).splitlines() or [""]
            lines.append(f"{k.rjust(pad)}: {_cut(text[0], section.max_width)}")
            lines += [" " * (pad + 2) + _cut(x, section.max_width) for x in text[1:]]
        return lines
    columns = section.columns or _columns(section.rows)
    if not columns:
        return ["(no rows)"]
    return table_lines(section.rows, columns, section.max_width)


def render_table(result: Result) -> str:
    blocks = []
    for section in result.sections:
        lines = _section_table(section)
        if section.title:
            lines = [section.title, *lines]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def render(result: Result, fmt: str) -> str:
    shown = [s for s in result.sections if fmt in s.formats]
    result = Result(shown, result.notes, result.exit_code)
    if fmt == "json":
        return render_json(result)
    if fmt == "csv":
        return render_csv(result)
    if fmt == "table":
        return render_table(result)
    raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")


def jobforge_command() -> str:
    """`jobforge` as the user can paste it where they are: the plain name when it is on PATH,
    else the script that is running (`.venv/bin/jobforge` of a venv never activated), else the
    script beside this interpreter, else this interpreter with `-m flows.cli`. Never a form
    that needs an activated venv."""
    import shlex
    import shutil
    from pathlib import Path

    if shutil.which("jobforge"):
        return "jobforge"
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    candidates = [argv0] if argv0 is not None and argv0.name == "jobforge" else []
    candidates.append(Path(sys.executable).parent / "jobforge")
    for script in candidates:
        if script.is_file() and os.access(script, os.X_OK):
            return shlex.quote(_pasteable(script))
    return f"{shlex.quote(_pasteable(Path(sys.executable)))} -m flows.cli"


def _pasteable(path: Any) -> str:
    """A path as typed from the working directory: relative below it, else absolute (symlinks
    kept: a venv's `bin/python` must stay the venv's)."""
    absolute = os.path.abspath(path)
    here = os.getcwd()
    if absolute.startswith(here + os.sep):
        relative = os.path.relpath(absolute, here)
        return relative if os.sep in relative else os.path.join(".", relative)
    return absolute


def note(message: str, stream: TextIO | None = None) -> None:
    """A message for people: stderr, never mixed with the data on stdout."""
    print(message, file=stream or sys.stderr, flush=True)


def drop_stdout() -> None:
    """The reader of stdout has gone (`| head`): whatever is still to be written, and
    Python's own flush at exit, go nowhere instead of raising a BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def emit(result: Result, fmt: str) -> int:
    """Write the result to stdout and its notes to stderr; returns the result's exit code.

    A reader that stops early (`| head`) closes the pipe: the rest of the output is dropped
    quietly, with the command's own exit code, and Python's flush at exit is kept from
    printing a BrokenPipeError."""
    text = "" if result.printed else render(result, fmt)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        drop_stdout()
    for message in result.notes:
        note(message)
    return result.exit_code

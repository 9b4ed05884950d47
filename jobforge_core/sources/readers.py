"""Read any declared source as all-text columns with its original headers (staged contract)."""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from jobforge_core.common.atomic import temp_path_for
from jobforge_core.common.errors import SourceFileError
from jobforge_core.sources import nested
from jobforge_core.sources.records import FIELDS, RECORD, TEXT, RecordCheck, check_records
from jobforge_core.sources.spec import SourceSpec

_SNIFF_BYTES = 1 << 20
_BINARY_HEAD = 65536
_TEXT_FORMATS = {"csv", "json", "ndjson"}
# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class SourceRead:
    """A source opened for staging.

    `frame` is all-String with one column per header (for CSV: RFC 4180 unescaped, a repeated
    header with polars' `_duplicated_<n>` suffix); `headers` is a CSV file's header record as
    a CSV reader returns it; `check` the records of a CSV file whose field count differs from
    the header's (None for formats that are rectangular by construction).
    """

    frame: pl.LazyFrame
    headers: list[str] | None = None
    check: RecordCheck | None = field(default=None)
    # A child table's items by the lists' lengths (the rows staging must write), and the
    # records of the document it walked; None for other tables.
    items: int | None = None
    records: int | None = None


def is_wide(encoding: str) -> bool:
    """UTF-16 and UTF-32 text is full of NUL bytes; they are not a sign of binary content."""
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def probe(path: Path, fmt: str, encoding: str = "utf-8") -> None:
    """Reject files that cannot be a table before any parser sees them."""
    if not path.is_file():
        raise SourceFileError("source file not found", file=str(path))
    if path.stat().st_size == 0:
        raise SourceFileError("file is empty (0 bytes)", file=str(path))
    if fmt in _TEXT_FORMATS and not is_wide(encoding):
        with path.open("rb") as fh:
            head = fh.read(_BINARY_HEAD)
        if b"\x00" in head:
            raise SourceFileError(
                f"binary content (NUL bytes) in a {fmt} file: not readable as text (UTF-16 or "
                "UTF-32 text without a byte-order mark needs `reader: {encoding: utf-16}`)",
                file=str(path),
            )


def detect_encoding(path: Path, declared: str) -> str:
    """The declared codec; with `auto`, a byte-order mark (UTF-8/16/32) decides, else UTF-8
    when the first MiB decodes as UTF-8, else cp1252."""
    if declared.lower() != "auto":
        return codecs.lookup(declared).name
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    for bom, name in _BOMS:
        if head.startswith(bom) and name != "utf-8":
            return name
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


@contextmanager
def _utf8_copy(path: Path, encoding: str, workdir: Path) -> Iterator[Path]:
    """Stream a file in another encoding into a temporary UTF-8 copy polars can scan."""
    tmp = temp_path_for(workdir / f"{path.stem}.utf8.csv")
    try:
        with (
            path.open("r", encoding=encoding, newline="") as src,
            tmp.open("w", encoding="utf-8", newline="") as dst,
        ):
            while chunk := src.read(_SNIFF_BYTES):
                dst.write(chunk)
        yield tmp
    except UnicodeDecodeError as exc:
        raise SourceFileError(f"cannot decode as {encoding}: {exc}", file=str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)


def first_nul(path: Path) -> int | None:
    """Byte offset of the first NUL byte in the whole file (a memchr per MiB: ~0.2 s per GB)."""
    return scan_bytes(path)[0]


def scan_bytes(path: Path) -> tuple[int | None, int]:
    """(offset of the first NUL byte or None, number of lines) in one read of the file.

    Lines as a line-wise reader counts them: every LF ends one, and a last line without
    one counts too. The count rides on the NUL scan that reads every byte anyway; counted
    by polars instead, the scan memory-mapped the whole file (RSS: +0.6 GiB per 10M rows).
    """
    offset, newlines, last = 0, 0, b""
    nul = None
    with path.open("rb") as fh:
        while chunk := fh.read(_SNIFF_BYTES):
            if nul is None:
                at = chunk.find(b"\x00")
                if at >= 0:
                    nul = offset + at
            newlines += chunk.count(b"\n")
            offset += len(chunk)
            last = chunk[-1:]
    return nul, newlines + (1 if offset and last != b"\n" else 0)


def _dialect(spec: SourceSpec) -> dict[str, object]:
    quote = spec.reader.quote_char
    if not quote:
        return {"delimiter": spec.reader.delimiter, "quoting": csv.QUOTE_NONE}
    return {"delimiter": spec.reader.delimiter, "quotechar": quote, "doublequote": True}


def locate_nul(path: Path, offset: int, spec: SourceSpec) -> tuple[int, int]:
    """(record, field index) holding the byte at `offset` of a UTF-8 CSV file; record 0 is
    the header. Pure Python, so only called once a NUL byte has been found."""
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        with path.open("rb") as fh:
            for raw in fh:
                consumed += len(raw)
                yield raw.decode("utf-8", errors="replace")

    record: list[str] = []
    index = -1
    for index, record in enumerate(csv.reader(lines(), **_dialect(spec))):  # noqa: B007
        if consumed > offset:
            break
    where = next((i for i, value in enumerate(record) if "\x00" in value), max(len(record) - 1, 0))
    return max(index, 0), where


def _reject_nul(read_path: Path, path: Path, spec: SourceSpec, headers: list[str]) -> int:
    """The binary check covers the whole file; a NUL byte past the first 64 KiB is named by
    record and column (NUL bytes would otherwise pass into gold). Returns the file's lines."""
    offset, lines = scan_bytes(read_path)
    if offset is None:
        return lines
    record, index = locate_nul(read_path, offset, spec)
    column = headers[index] if index < len(headers) else f"field {index + 1}"
    where = "the header" if record == 0 else f"record {record}"
    raise SourceFileError(
        f"binary content: NUL byte in {where}, column {column!r} (byte offset {offset} of the "
        "text read)",
        file=str(path),
        row=record or None,
        column=column,
    )


def csv_header(path: Path, spec: SourceSpec) -> list[str]:
    """The header record as an RFC 4180 reader returns it (quotes unescaped, `""` -> `"`)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        try:
            record = next(csv.reader(fh, **_dialect(spec)), None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SourceFileError(f"unreadable header: {exc}", file=str(path), row=0) from exc
    if not record or record == [""]:
        raise SourceFileError("no header row", file=str(path))
    return record


def repeated_headers(headers: list[str]) -> dict[str, list[int]]:
    """Trimmed header -> its 1-based column positions, for every header given more than once
    (renames and required columns are keyed on the trimmed header, so `Level ` repeats `Level`)."""
    positions: dict[str, list[int]] = {}
    for i, header in enumerate(headers, start=1):
        positions.setdefault(header.strip(), []).append(i)
    return {h: where for h, where in positions.items() if len(where) > 1}


def frame_names(headers: list[str], spec: SourceSpec, file: str) -> list[str]:
    """Column names for the staged frame: the headers, unless one repeats. Then the file is
    quarantined, or with `reader: {duplicate_headers: number}` the 2nd, 3rd... occurrence
    becomes "<header> (2)", "<header> (3)": a name a spec can rename, never a silent suffix."""
    repeated = repeated_headers(headers)
    if not repeated:
        return headers
    described = "; ".join(
        f"{h!r} at columns {', '.join(map(str, where))}" for h, where in repeated.items()
    )
    if spec.reader.duplicate_headers == "fail":
        raise SourceFileError(
            f"duplicate header(s): {described}. Fix the file, or declare "
            "`reader: {duplicate_headers: number}` to stage a repeat as '<header> (2)' and "
            "rename it",
            file=file,
            column=next(iter(repeated)),
            rule="duplicate_header",
        )
    count: dict[str, int] = {}
    names = []
    for header in headers:
        key = header.strip()
        count[key] = count.get(key, 0) + 1
        names.append(header if count[key] == 1 else f"{key} ({count[key]})")
    clash = [n for n in names if names.count(n) > 1]
    if clash:
        raise SourceFileError(
            f"numbering the duplicate header(s) {described} gives {clash[0]!r}, which the file "
            "already has",
            file=file,
            column=clash[0],
            rule="duplicate_header",
        )
    return names


_POLARS_REPEAT = re.compile(r"^(?P<header>.*)_duplicated_\d+$")


def reject_repeated_names(names: list[str], file: str) -> None:
    """Spreadsheet and other readers suffix a repeated header (`Level_duplicated_0`): refuse."""
    present = set(names)
    for i, name in enumerate(names, start=1):
        match = _POLARS_REPEAT.match(name)
        if match and match["header"] in present:
            first = names.index(match["header"]) + 1
            raise SourceFileError(
                f"duplicate header: {match['header']!r} at columns {first} and {i}",
                file=file,
                column=match["header"],
                rule="duplicate_header",
            )


def _all_text(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns(pl.all().cast(pl.String))


@contextmanager
def _read_nested(spec: SourceSpec, path: Path, workdir: Path, fmt: str) -> Iterator[SourceRead]:
    """JSON and NDJSON through the record walk of `nested` (envelopes, flattening, child
    tables), written to a temporary parquet file that staging scans. A flat NDJSON file of a
    source without child tables keeps polars' all-text scan, the fastest read there is."""
    if fmt == "ndjson" and not spec.reader.items and not spec.children:
        flat = _flat_ndjson(path)
        if flat is not None:
            yield SourceRead(flat)
            return
    if fmt == "json":
        nested.json_records(path, spec)  # size limit, syntax and envelope, before any write

        def records() -> Iterator:
            return nested.json_records(path, spec)
    else:

        def records() -> Iterator:
            return nested.ndjson_records(path)

    tmp = temp_path_for(workdir / f"{path.stem}.{spec.name}.rows.parquet")
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        walk = nested.write_table(records, spec, tmp)
        items = walk.items if spec.reader.items else None
        yield SourceRead(pl.scan_parquet(tmp), items=items, records=walk.records)
    finally:
        tmp.unlink(missing_ok=True)


def _empty_rows(df: pl.DataFrame) -> RecordCheck:
    """A sheet's empty rows, marked like a CSV's blank lines (a record with no field: bronze
    quarantines it as `ragged_record`). polars drops them by default, and every later
    record's `_source_row` was then off by the empty rows above it."""
    empty = (
        df.with_row_index(RECORD, offset=1)
        .filter(pl.all_horizontal(pl.exclude(RECORD).is_null()))
        .select(
            pl.col(RECORD).cast(pl.Int64),
            pl.lit(0, pl.Int64).alias(FIELDS),
            pl.lit(None, pl.String).alias(TEXT),
        )
    )
    return RecordCheck(records=df.height, headers=df.columns, ragged=empty)


def _flat_ndjson(path: Path) -> pl.LazyFrame | None:
    """Every value as text, read as text: the field names from one inference pass, then the
    values under an all-String schema. Cast to text after inference instead, an integer
    field holding a float in another line became Float64 (`12345678901234567` reached gold
    as '1.2345678901234568e+16'). None when a field holds objects or lists: those go through
    the record walk (flattened, Unicode kept)."""
    try:
        schema = pl.scan_ndjson(path, infer_schema_length=None).collect_schema()
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceFileError(f"unreadable: {first}", file=str(path)) from exc
    if any(dtype.is_nested() for dtype in schema.values()):
        return None
    return pl.scan_ndjson(path, schema=dict.fromkeys(schema.names(), pl.String))


def _read_csv(spec: SourceSpec, read_path: Path, path: Path) -> SourceRead:
    """The header by the csv module, field counts by one polars pass over the raw lines, the
    values by polars (ragged records truncated or padded there; the check says which)."""
    _reject_cr_line_ends(read_path, path)
    headers = csv_header(read_path, spec)
    lines = _reject_nul(read_path, path, spec, headers)
    check = check_records(
        read_path, spec.reader.delimiter, spec.reader.quote_char, headers, lines=lines
    )
    names = frame_names(headers, spec, str(path))
    found: list[int] = []

    def rename(columns: list[str]) -> list[str]:
        # Never raise here: an exception inside polars' callback becomes a Rust panic
        # (PanicException, not an Exception) that took the whole run down with a traceback.
        if len(columns) != len(names):
            found.append(len(columns))
            return columns
        return names

    frame = pl.scan_csv(
        read_path,
        separator=spec.reader.delimiter,
        quote_char=spec.reader.quote_char or None,
        infer_schema=False,
        truncate_ragged_lines=True,
        with_column_names=rename,
    )
    if found:
        raise SourceFileError(
            f"header has {len(headers)} fields by the CSV reader but {found[0]} by polars",
            file=str(path),
            row=0,
        )
    return SourceRead(frame, headers, check)


def _reject_cr_line_ends(read_path: Path, path: Path) -> None:
    """Lines ended by a lone CR (classic Mac OS) are one line to polars: refuse them in words
    (translating them would change CRs inside quoted values, and staged changes no value)."""
    with read_path.open("rb") as fh:
        head = fh.read(_BINARY_HEAD)
    if b"\r" in head and b"\n" not in head:
        raise SourceFileError(
            "lines end with a lone CR (\\r, classic Mac OS line ends), which the CSV parser "
            "does not split on: save the file with LF or CRLF line ends",
            file=str(path),
            rule="line_ends",
        )


@contextmanager
def open_source(spec: SourceSpec, path: Path, workdir: Path) -> Iterator[SourceRead]:
    """Yield the source as a lazy all-String frame; temporary copies vanish on exit."""
    fmt = spec.file_format()
    encoding = "utf-8"
    if fmt == "csv" and path.is_file():
        encoding = detect_encoding(path, spec.reader.encoding)
    probe(path, fmt, encoding)
    if fmt == "csv":
        if encoding in ("utf-8", "utf-8-sig"):
            yield _read_csv(spec, path, path)
        else:
            with _utf8_copy(path, encoding, workdir) as copy:
                yield _read_csv(spec, copy, path)
    elif fmt == "xlsx":
        try:
            df = pl.read_excel(
                path, sheet_name=spec.reader.sheet, infer_schema_length=0, drop_empty_rows=False
            )
        except Exception as exc:  # calamine raises its own types for corrupt workbooks
            raise SourceFileError(f"unreadable Excel workbook: {exc}", file=str(path)) from exc
        yield SourceRead(_all_text(df.lazy()), check=_empty_rows(df))
    elif fmt in ("json", "ndjson"):
        with _read_nested(spec, path, workdir, fmt) as read:
            yield read
    elif fmt == "parquet":
        yield SourceRead(_all_text(pl.scan_parquet(path)))
    else:
        raise SourceFileError(f"unsupported format {fmt!r}", file=str(path))

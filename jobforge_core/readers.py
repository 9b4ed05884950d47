"""Read any declared source as all-text columns with its original headers (staged contract)."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from jobforge_core.atomic import temp_path_for
from jobforge_core.errors import SourceFileError
from jobforge_core.spec import SourceSpec

_SNIFF_BYTES = 1 << 20
_TEXT_FORMATS = {"csv", "json", "ndjson"}


def probe(path: Path, fmt: str) -> None:
    """Reject files that cannot be a table before any parser sees them."""
    if not path.is_file():
        raise SourceFileError("source file not found", file=str(path))
    if path.stat().st_size == 0:
        raise SourceFileError("file is empty (0 bytes)", file=str(path))
    if fmt in _TEXT_FORMATS:
        with path.open("rb") as fh:
            head = fh.read(65536)
        if b"\x00" in head:
            raise SourceFileError(
                f"binary content (NUL bytes) in a {fmt} file: not readable as text", file=str(path)
            )


def detect_encoding(path: Path, declared: str) -> str:
    """UTF-8 (with or without BOM) when the first MiB decodes as UTF-8, else cp1252."""
    if declared.lower() != "auto":
        return codecs.lookup(declared).name
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


@contextmanager
def _utf8_copy(path: Path, encoding: str, workdir: Path) -> Iterator[Path]:
    """Stream a legacy-encoded file into a temporary UTF-8 copy polars can scan."""
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


def _all_text(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns(pl.all().cast(pl.String))


def _read_json(path: Path) -> pl.LazyFrame:
    try:
        records = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceFileError(f"not valid JSON: {exc}", file=str(path)) from exc
    if isinstance(records, dict):  # {"data": [...]} style envelopes
        lists = [v for v in records.values() if isinstance(v, list)]
        records = lists[0] if len(lists) == 1 else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SourceFileError("JSON must be a list of objects", file=str(path))
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))

    def text(v: object) -> str | None:
        return None if v is None else v if isinstance(v, str) else json.dumps(v)

    data = {c: [text(r.get(c)) for r in records] for c in columns}
    return pl.LazyFrame(data, schema=dict.fromkeys(columns, pl.String))


@contextmanager
def open_source(spec: SourceSpec, path: Path, workdir: Path) -> Iterator[pl.LazyFrame]:
    """Yield the source as a lazy all-String frame; temporary copies vanish on exit."""
    fmt = spec.file_format()
    probe(path, fmt)
    if fmt == "csv":
        encoding = detect_encoding(path, spec.reader.encoding)
        options = {
            "separator": spec.reader.delimiter,
            "quote_char": spec.reader.quote_char,
            "infer_schema": False,
        }
        if encoding in ("utf-8", "utf-8-sig"):
            yield pl.scan_csv(path, **options)
        else:
            with _utf8_copy(path, encoding, workdir) as copy:
                yield pl.scan_csv(copy, **options)
    elif fmt == "xlsx":
        try:
            df = pl.read_excel(path, sheet_name=spec.reader.sheet, infer_schema_length=0)
        except Exception as exc:  # calamine raises its own types for corrupt workbooks
            raise SourceFileError(f"unreadable Excel workbook: {exc}", file=str(path)) from exc
        yield _all_text(df.lazy())
    elif fmt == "json":
        yield _read_json(path)
    elif fmt == "ndjson":
        yield _all_text(pl.scan_ndjson(path, infer_schema_length=None))
    elif fmt == "parquet":
        yield _all_text(pl.scan_parquet(path))
    else:
        raise SourceFileError(f"unsupported format {fmt!r}", file=str(path))

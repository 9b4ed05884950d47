"""Field count of every CSV record, from one polars pass over the raw lines.

polars pads a record with too few fields with nulls and, told to truncate, cuts one with too
many; neither says which records were ragged. This module finds them so staging can mark
them and bronze can quarantine them (`ragged_record`) with their record number and counts.

A line is read whole (separator NUL, which the whole-file binary check has excluded; no
quoting). For RFC 4180 text the quote state is the parity of the quote characters seen, so:
- the common case: no line has an odd number of quotes, every line is one record, and its
  field count is 1 + the separators left once the quoted segments are removed;
- otherwise (a quoted field spans lines, or a quote never closes) each line's separators
  outside quotes are counted for both states it may start in, and a running quote parity
  groups the lines into records. Only integers per line are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import polars as pl

from jobforge_core.common.errors import SourceFileError

RECORD, FIELDS, TEXT = "record", "fields", "text"
_LINE = "__line"
_SHOWN = 500  # characters of a ragged record's text kept in its quarantine detail


@dataclass(frozen=True)
class RecordCheck:
    """`records`: data records (after the header); `ragged`: record, fields, text (text of
    records with too many fields only: the values polars cut off) of the ragged ones."""

    records: int
    headers: list[str]
    ragged: pl.DataFrame

    def details(self) -> pl.DataFrame:
        """record -> quarantine detail text: the counts, the columns left empty or the full
        text of a record polars cut (so no value is lost)."""
        expected = len(self.headers)
        missing = {n: f"; no value for {self.headers[n:]}" for n in range(expected)}
        last = self.headers[-1]
        shown = pl.col(TEXT).str.slice(0, _SHOWN)
        detail = pl.concat_str(
            pl.lit("record "),
            pl.col(RECORD).cast(pl.String),
            pl.lit(" has "),
            pl.col(FIELDS).cast(pl.String),
            pl.lit(f" field(s), the header has {expected}"),
            pl.when(pl.col(TEXT).is_not_null())
            .then(
                pl.concat_str(pl.lit(f"; fields after column {last!r} were cut, record: "), shown)
            )
            .otherwise(pl.col(FIELDS).replace_strict(missing, default="", return_dtype=pl.String)),
        )
        return self.ragged.select(RECORD, detail.alias("detail"))


def _lines(path: Path) -> pl.LazyFrame:
    return pl.scan_csv(
        path,
        has_header=False,
        separator="\x00",
        quote_char=None,
        schema={_LINE: pl.String},
        raise_if_empty=False,
    )


def _outside(text: pl.Expr, delimiter: str, quote: str | None, cut_open: bool) -> pl.Expr:
    """Separators outside quoted segments; with `cut_open`, only those before a quote that
    opens and does not close on this line."""
    if quote:
        q = re.escape(quote)
        text = text.str.replace_all(f"{q}[^{q}]*{q}", "")
        if cut_open:
            text = text.str.replace(f"(?s){q}.*", "")
    return text.str.count_matches(delimiter, literal=True)


def count_lines(path: Path) -> int:
    """Lines as the line scan reads them: every LF ends one, a last line without one counts."""
    lines, size, last = 0, 0, b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    return lines + (1 if size and last != b"\n" else 0)


def check_records(
    path: Path, delimiter: str, quote: str | None, headers: list[str], lines: int | None = None
) -> RecordCheck:
    """Field counts of the records of a UTF-8 CSV file without NUL bytes.

    One polars pass over the lines; `lines` (the file's line count, from the reader's NUL
    scan) saves counting them again. Raises SourceFileError naming the record and column
    where a quote opens and never closes.
    """
    expected = len(headers)
    text = pl.col(_LINE).fill_null("")
    quotes = text.str.count_matches(quote, literal=True) if quote else pl.lit(0, pl.UInt32)
    fields = _outside(text, delimiter, quote, cut_open=False) + 1
    odd = quotes % 2 == 1
    suspicious = (
        _lines(path)
        .with_row_index("line")
        .filter((fields != expected) | odd)
        .select(
            "line",
            odd.alias("odd"),
            fields.alias(FIELDS),
            pl.when(fields > expected).then(text).alias(TEXT),
        )
        .collect(engine="streaming")
    )
    if not suspicious["odd"].any():
        if lines is None:  # not polars' count: it memory-maps the file (+0.6 GiB RSS at 10M)
            lines = count_lines(path)
        ragged = suspicious.filter(pl.col("line") > 0).select(
            pl.col("line").cast(pl.Int64).alias(RECORD), pl.col(FIELDS).cast(pl.Int64), TEXT
        )
        return RecordCheck(max(lines - 1, 0), headers, ragged)
    return _multiline(path, delimiter, quote or '"', headers)


def _grammar(delimiter: str, quote: str) -> tuple[str, str]:
    """RFC 4180 shape of a line starting outside and inside a quoted field: a closing quote
    is followed by a separator or the end of the line, a quote inside a field is doubled."""
    q, d = re.escape(quote), re.escape(delimiter)
    field = f"(?:{q}(?:[^{q}]|{q}{q})*{q}|[^{q}{d}]*)"
    opened = f"{q}(?:[^{q}]|{q}{q})*"
    rest = f"(?:{field}{d})*(?:{opened}|{field})"
    return f"^{rest}$", f"^(?:[^{q}]|{q}{q})*(?:{q}(?:{d}{rest})?)?$"


def _where(record: int) -> str:
    return "the header" if record == 0 else f"record {record}"


def _malformed(
    path: Path, problem: str, record: int, index: int, line: int, headers: list[str]
) -> NoReturn:
    """A file quarantine naming the record, the column and the physical line."""
    column = headers[index] if 0 <= index < len(headers) else f"field {index + 1}"
    raise SourceFileError(
        problem.format(where=f"{_where(record)}, column {column!r} (line {line + 1})"),
        file=str(path),
        row=record or None,
        column=column,
    )


def _multiline(path: Path, delimiter: str, quote: str, headers: list[str]) -> RecordCheck:
    """Records that span lines: group lines by the running quote parity (ints only)."""
    expected = len(headers)
    text = pl.col(_LINE).fill_null("")
    outside, inside_start = _grammar(delimiter, quote)
    per_line = (
        _lines(path)
        .select(
            text.str.count_matches(quote, literal=True).alias("q"),
            _outside(text, delimiter, quote, cut_open=True).alias("a"),
            _outside(pl.concat_str(pl.lit(quote), text), delimiter, quote, True).alias("b"),
            text.str.contains(outside).alias("ok_a"),
            text.str.contains(inside_start).alias("ok_b"),
        )
        .collect(engine="streaming")
        .with_row_index("line")
    )
    inside = ((pl.col("q").cum_sum() - pl.col("q")) % 2) == 1
    lines = per_line.with_columns(
        pl.when(inside).then(pl.col("b")).otherwise(pl.col("a")).alias("seps"),
        pl.when(inside).then(pl.col("ok_b")).otherwise(pl.col("ok_a")).alias("ok"),
        (~inside).cum_sum().cast(pl.Int64).sub(1).alias(RECORD),
    ).with_columns((pl.col("seps").cum_sum().over(RECORD) - pl.col("seps")).alias("seps_before"))
    bad = lines.filter(~pl.col("ok")).head(1)
    if bad.height:  # the first line where the quoting breaks the RFC 4180 shape
        row = bad.row(0, named=True)
        first = lines.filter(pl.col(RECORD) == row[RECORD])["line"][0]
        problem = (
            "malformed quoting: a quote inside an unquoted field, a quote not doubled inside a "
            "quoted field, or a closing quote not followed by a separator, in {where}"
        )
        if first != row["line"]:
            problem = (
                "malformed quoting: the quoted field opened in {where} "
                f"runs to line {row['line'] + 1}, where a quote is neither doubled nor followed "
                "by a separator (an unterminated quote?)"
            )
        _malformed(path, problem, row[RECORD], row["seps_before"], first, headers)
    records = lines.group_by(RECORD, maintain_order=True).agg(
        pl.col("line").first().alias("first"),
        pl.col("line").last().alias("last"),
        (pl.col("seps").sum() + 1).cast(pl.Int64).alias(FIELDS),
    )
    if per_line["q"].sum() % 2 == 1:
        last = records.row(-1, named=True)
        problem = "unterminated quote: the quoted field opened in {where} never closes"
        _malformed(path, problem, last[RECORD], last[FIELDS] - 1, last["first"], headers)
    ragged = records.filter((pl.col(RECORD) > 0) & (pl.col(FIELDS) != expected))
    too_many = ragged.filter(pl.col(FIELDS) > expected)
    texts = pl.DataFrame(schema={RECORD: pl.Int64, TEXT: pl.String})
    if too_many.height:
        wanted = pl.int_ranges(pl.col("first"), pl.col("last") + 1).alias("line")
        spans = too_many.select(RECORD, wanted).explode("line")
        texts = (
            _lines(path)
            .with_row_index("line")
            .join(spans.lazy().with_columns(pl.col("line").cast(pl.UInt32)), on="line")
            .group_by(RECORD, maintain_order=True)
            .agg(pl.col(_LINE).fill_null("").str.join("\n").alias(TEXT))
            .collect()
        )
    ragged = ragged.select(RECORD, FIELDS).join(texts, on=RECORD, how="left").sort(RECORD)
    return RecordCheck(max(records.height - 1, 0), headers, ragged)

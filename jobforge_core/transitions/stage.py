"""source -> staged: read as it is, every value as text, provenance added, nothing dropped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

from jobforge_core.common.atomic import commit, discard, parquet_rows, sink_all
from jobforge_core.common.config import Layer
from jobforge_core.common.errors import DataError, SourceFileError
from jobforge_core.common.models import LayerTransitionLog, TransitionStatus, utc_now
from jobforge_core.common.provenance import (
    MALFORMED,
    PROVENANCE,
    RAGGED,
    SOURCE_ROW,
    provenance_exprs,
)
from jobforge_core.sources.naming import check_declared_columns, column_mapping, missing_required
from jobforge_core.sources.readers import open_source, reject_repeated_names
from jobforge_core.sources.records import RECORD, RecordCheck
from jobforge_core.transitions.context import BatchContext


def stage_source(ctx: BatchContext) -> LayerTransitionLog:
    started = utc_now()
    path, file = ctx.source_path, str(ctx.source_path)
    target = ctx.cfg.table_path(Layer.STAGED, ctx.table)
    with (
        _named_as_source(ctx),
        open_source(ctx.spec, ctx.input_path, target.parent) as read,
    ):
        lf = read.frame
        headers = _headers(lf, file)
        marks = [MALFORMED] if MALFORMED in headers else []  # JSON records and list items
        headers = [h for h in headers if h != MALFORMED]
        if read.headers is None:  # CSV headers were checked by the reader
            reject_repeated_names(headers, file)
        missing = missing_required(ctx.spec, headers)
        if missing:
            raise SourceFileError(
                f"missing required column(s) {missing}; found {[h.strip() for h in headers]}"
                + _did_you_mean(missing, headers),
                file=file,
                column=missing[0],
            )
        mapping = column_mapping(ctx.spec, headers, file)  # fail early on colliding names
        check_declared_columns(ctx.spec, list(mapping.values()), file)
        staged = (
            lf.with_row_index(SOURCE_ROW, offset=1)
            .with_columns(
                pl.col(SOURCE_ROW).cast(pl.Int64),
                *provenance_exprs(path.name, ctx.batch_id, ctx.ingested_at),
            )
            .with_columns(_ragged_marks(read.check))
            .select(*headers, *PROVENANCE, RAGGED, *marks)
        )
        temps = _sink(staged, target, file)
    rows = parquet_rows(temps[target])
    if read.check is not None and read.check.records != rows:
        discard(temps)
        raise SourceFileError(
            f"{read.check.records} records by quote parity but {rows} read by the CSV parser: "
            "the quoting is malformed",
            file=file,
        )
    if read.items is not None and read.items != rows:
        discard(temps)
        raise SourceFileError(
            f"{read.items} list items in the document but {rows} child rows written",
            file=file,
            rule="item_count",
        )
    if rows == 0 and not (read.items is not None and read.records):
        # A child table whose parent has records but empty lists is empty, not a bad file.
        # A header without records would replace every gold table of the source with an
        # empty one (and empty the facts whose foreign keys point at them).
        discard(temps)
        raise SourceFileError(
            f"no data rows: the file has a header ({len(headers)} columns) but no records",
            file=file,
            rule="no_data_rows",
        )
    commit(temps)
    return LayerTransitionLog(
        source_name=ctx.spec.name,
        batch_id=ctx.batch_id,
        source_layer="source",
        target_layer=Layer.STAGED,
        source_files=[file],
        source_sha256=ctx.content_sha256,
        target_file=str(target),
        target_files=[str(target)],
        row_count_in=rows if read.items is None else read.items,
        row_count_out=rows,
        transforms_applied=[
            "read_as_text",
            "strip_bom",
            "add_provenance",
            "mark_ragged_records",
            *(["unnest_list_items"] if read.items is not None else []),
        ],
        started_at=started,
        completed_at=utc_now(),
        status=TransitionStatus.SUCCESS,
    )


def _ragged_marks(check: RecordCheck | None) -> pl.Expr:
    """`_ragged_record`: null, or why the record's field count differs from the header's.

    Staged keeps every record (a short one padded with nulls, a long one cut to the header's
    width; the detail holds its full text); bronze quarantines the marked ones.
    """
    if check is None or check.ragged.is_empty():
        return pl.lit(None, pl.String).alias(RAGGED)
    details = check.details()
    return (
        pl.col(SOURCE_ROW)
        .replace_strict(details[RECORD], details["detail"], default=None, return_dtype=pl.String)
        .alias(RAGGED)
    )


@contextmanager
def _named_as_source(ctx: BatchContext) -> Iterator[None]:
    """Errors raised while reading the snapshot name the user's file, not the private copy."""
    try:
        yield
    except DataError as exc:
        if ctx.read_path is None or exc.file != str(ctx.read_path):
            raise
        renamed = type(exc)(
            exc.message.replace(str(ctx.read_path), str(ctx.source_path)),
            file=str(ctx.source_path),
            layer=exc.layer,
            row=exc.row,
            column=exc.column,
            rule=exc.rule,
        )
        raise renamed from exc


def _did_you_mean(missing: list[str], headers: list[str]) -> str:
    """A renamed header (`Occupation_Name` for `Occupation Name`), named: compared with case,
    spaces, dashes and underscores set aside, then by similarity."""
    import difflib

    def bare(text: str) -> str:
        return "".join(ch for ch in text.casefold() if ch.isalnum())

    hints = []
    for name in missing:
        same = [h for h in headers if bare(h) == bare(name)]
        close = same or difflib.get_close_matches(name, headers, n=1, cutoff=0.75)
        if close:
            hints.append(f"{close[0]!r} for {name!r}")
    return f"; did you mean {', '.join(hints)}?" if hints else ""


def _headers(lf: pl.LazyFrame, file: str) -> list[str]:
    try:
        headers = lf.collect_schema().names()
    except pl.exceptions.NoDataError as exc:
        raise SourceFileError(f"no header row: {exc}", file=file) from exc
    except (pl.exceptions.ComputeError, UnicodeDecodeError) as exc:
        raise SourceFileError(f"unreadable: {exc}", file=file) from exc
    if not headers:
        raise SourceFileError("no columns found", file=file)
    return headers


def _sink(staged: pl.LazyFrame, target, file: str):
    try:
        return sink_all({target: staged})
    except pl.exceptions.PolarsError as exc:
        raise SourceFileError(f"unreadable: {_first_line(exc)}", file=file) from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

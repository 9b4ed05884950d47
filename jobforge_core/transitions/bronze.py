"""staged -> bronze: snake_case names, declared types and null markers; bad casts quarantined."""

from __future__ import annotations

import re

import polars as pl

from jobforge_core.checks.expectations import split_on_rules
from jobforge_core.checks.quarantine import commit_row_quarantine
from jobforge_core.common.atomic import commit
from jobforge_core.common.config import Layer
from jobforge_core.common.models import LayerTransitionLog, utc_now
from jobforge_core.common.provenance import (
    MALFORMED,
    PROVENANCE,
    QUARANTINE_DETAIL,
    QUARANTINE_REASON,
    RAGGED,
    data_columns,
    with_layer,
)
from jobforge_core.sources.naming import column_mapping
from jobforge_core.sources.spec import SourceSpec
from jobforge_core.transitions.common import (
    checked_split,
    checks,
    finish_log,
    sink_split,
)
from jobforge_core.transitions.context import BatchContext

CAST_RULE = "cast_error"
RAGGED_RULE = "ragged_record"
MALFORMED_RULE = "malformed_item"
_TRUE = ["true", "t", "yes", "y", "1", "oui", "vrai"]
_FALSE = ["false", "f", "no", "n", "0", "non", "faux"]


def _grouped(separator: str) -> str:
    """A number whose separators group thousands: `8,238,800`, `-1,234.5`; not `1,5`."""
    sep = re.escape(separator)
    return rf"^[+-]?\d{{1,3}}(?:{sep}\d{{3}})+(?:\.\d*)?$"


def _misplaced(text: pl.Expr, separator: str) -> pl.Expr:
    return text.str.contains(separator, literal=True) & ~text.str.contains(_grouped(separator))


def _without_thousands(text: pl.Expr, separator: str) -> pl.Expr:
    """Thousands separators removed where they group digits by three; any other use of the
    separator (a decimal comma `1,5`, `12,34`) fails the cast instead of becoming 15 or 1234."""
    removed = text.str.replace_all(separator, "", literal=True)
    return pl.when(_misplaced(text, separator)).then(pl.lit(None, pl.String)).otherwise(removed)


def _typed(text: pl.Expr, kind: str, spec: SourceSpec) -> pl.Expr:
    """Non-strict cast of trimmed text: a value that does not cast becomes null (= failed)."""
    if kind in ("int", "float"):
        if spec.thousands_separator:
            text = _without_thousands(text, spec.thousands_separator)
        if kind == "int":  # "12.0" (spreadsheet exports) is an int; "12.5" is not
            return text.str.strip_suffix(".0").cast(pl.Int64, strict=False)
        return text.cast(pl.Float64, strict=False)
    if kind == "bool":
        lower = text.str.to_lowercase()
        return pl.when(lower.is_in(_TRUE)).then(True).when(lower.is_in(_FALSE)).then(False)
    if kind == "date":
        if spec.date_format:
            return text.str.to_date(spec.date_format, strict=False)
        # A spreadsheet's date cell reads as '2024-01-02 00:00:00': a date at midnight is
        # that date; a time of day other than midnight is not a date and fails the cast.
        stamp = text.str.to_datetime(strict=False)
        midnight = pl.when(stamp.dt.time() == pl.time(0)).then(stamp.dt.date())
        return pl.coalesce(text.str.to_date(strict=False), midnight)
    raise ValueError(kind)


def _separator_hint(text: pl.Expr, kind: str, spec: SourceSpec) -> pl.Expr:
    """Why a number holding the thousands separator failed: it does not group thousands."""
    sep = spec.thousands_separator
    if kind not in ("int", "float") or not sep:
        return pl.lit("")
    return (
        pl.when(_misplaced(text, sep))
        .then(pl.lit(f" (thousands separator {sep!r} not between groups of 3 digits)"))
        .otherwise(pl.lit(""))
    )


def bronze_plan(
    staged: pl.LazyFrame, spec: SourceSpec, file: str
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Two lazy outputs over one input: typed good rows, and failed rows with original values.

    Each cast is computed once into a helper column that the output and the check both read.
    """
    names = staged.collect_schema().names()
    headers = data_columns(names)
    mapping = column_mapping(spec, headers, file)
    markers = [m.strip() for m in spec.null_markers]
    texts, values, rules, outputs = [], [], [], []
    if RAGGED in names:  # first, so a ragged record is quarantined as that, not as a bad cast
        rules.append((RAGGED_RULE, pl.col(RAGGED).is_not_null(), pl.col(RAGGED)))
    if MALFORMED in names:  # a JSON record or list item of the wrong shape, named by its path
        rules.append((MALFORMED_RULE, pl.col(MALFORMED).is_not_null(), pl.col(MALFORMED)))
    for i, (header, name) in enumerate(mapping.items()):
        kind = spec.types.get(name, spec.default_type)
        raw = pl.col(header)
        stripped = raw.str.strip_chars()
        if kind == "str":
            outputs.append(pl.when(stripped.is_in(markers)).then(None).otherwise(raw).alias(name))
            continue
        # Helper columns, so the trimmed text is computed once and read by cast and check.
        text, value = f"__text_{i}", f"__value_{i}"
        texts.append(pl.when(stripped.is_in(markers)).then(None).otherwise(stripped).alias(text))
        values.append(_typed(pl.col(text), kind, spec).alias(value))
        failed = pl.col(text).is_not_null() & pl.col(value).is_null()
        outputs.append(pl.col(value).alias(name))
        message = pl.concat_str(
            pl.lit(f"column {name!r} (header {header.strip()!r}): '"),
            raw,
            pl.lit(f"' is not {kind}"),
            _separator_hint(stripped, kind, spec),
        )
        rules.append((CAST_RULE, failed, message))
    marked = staged.with_columns(texts).with_columns(values)
    good, bad = split_on_rules(marked, rules, helpers=[])
    good = good.select(*outputs, *PROVENANCE)
    bad = bad.select(*headers, *PROVENANCE, QUARANTINE_DETAIL, QUARANTINE_REASON)
    return with_layer(good, Layer.BRONZE), bad


def promote_to_bronze(ctx: BatchContext) -> LayerTransitionLog:
    started = utc_now()
    cfg = ctx.cfg
    source = cfg.table_path(Layer.STAGED, ctx.table)
    target = cfg.table_path(Layer.BRONZE, ctx.table)
    quarantine = cfg.row_quarantine_file(Layer.BRONZE, ctx.table, ctx.batch_id)
    quarantine.parent.mkdir(parents=True, exist_ok=True)
    temps = sink_split(
        pl.scan_parquet(source),
        lambda lf: bronze_plan(lf, ctx.spec, str(ctx.source_path)),
        source,
        target,
        quarantine,
    )
    split = checked_split(ctx, Layer.BRONZE, source, target, quarantine, temps)
    rows_in, rows_out = split.rows_in, split.rows_out
    rows_q, by_rule = split.rows_quarantined, split.rows_by_rule
    commit({target: temps.pop(target)})
    commit_row_quarantine(temps[quarantine], quarantine)
    return finish_log(
        ctx,
        started,
        source_layer=Layer.STAGED,
        target_layer=Layer.BRONZE,
        source_files=[str(source)],
        targets=[target],
        rows_in=rows_in,
        rows_out=rows_out,
        rows_quarantined=rows_q,
        rows_by_rule=by_rule,
        quarantine=quarantine if rows_q else None,
        transforms=[
            "ragged_records",
            "snake_case_names",
            "null_markers",
            "declared_types",
            "thousands_separator",
        ],
        rule_checks=checks(
            ctx.table,
            [(RAGGED_RULE, "drop")]
            + ([(MALFORMED_RULE, "drop")] if _is_json(ctx.spec) else [])
            + ([(CAST_RULE, "cast")] if _typed_columns(ctx.spec) else []),
            by_rule,
        ),
    )


def _typed_columns(spec: SourceSpec) -> bool:
    """Whether any column is cast from text, i.e. whether `cast_error` was checked at all."""
    return spec.default_type != "str" or any(t != "str" for t in spec.types.values())


def _is_json(spec: SourceSpec) -> bool:
    """Whether records and list items were checked for their shape (`malformed_item`)."""
    return spec.file_format() in ("json", "ndjson")

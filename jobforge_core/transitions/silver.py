"""bronze -> silver: trim, normalise codes, deduplicate on keys, apply expectations."""

from __future__ import annotations

import polars as pl

from jobforge_core.checks.expectations import (
    Rule,
    expectation_rule,
    helper_columns,
    key_rules,
    prepared,
    split_on_rules,
)
from jobforge_core.checks.quarantine import commit_row_quarantine
from jobforge_core.common.atomic import commit, discard
from jobforge_core.common.config import Layer
from jobforge_core.common.errors import ExpectationFailed
from jobforge_core.common.models import LayerTransitionLog, utc_now
from jobforge_core.common.provenance import (
    SOURCE_ROW,
    data_columns,
    with_layer,
)
from jobforge_core.sources.spec import SourceSpec
from jobforge_core.transitions.common import (
    checked_split,
    checks,
    finish_log,
    sink_split,
)
from jobforge_core.transitions.context import BatchContext


def _normalise(column: str, ops: list[str]) -> pl.Expr:
    expr = pl.col(column).cast(pl.String)
    for op in ops:
        if op == "upper":
            expr = expr.str.to_uppercase()
        elif op == "lower":
            expr = expr.str.to_lowercase()
        elif op == "collapse_spaces":
            expr = expr.str.replace_all(r"\s+", " ")
        elif op.startswith("pad_left:"):
            expr = expr.str.pad_start(int(op.split(":")[1]), "0")
        elif op.startswith("decimal_code:"):
            expr = _decimal_code(expr, op.split(":")[1])
    return expr.alias(column)


def _decimal_code(expr: pl.Expr, shape: str) -> pl.Expr:
    """'10010' and '31100.1' -> '10010.00' and '31100.10' for shape 5.2 (OaSIS profile codes)."""
    whole, frac = (int(n) for n in shape.split("."))
    parts = expr.str.split_exact(".", 1)
    head = parts.struct.field("field_0").str.pad_start(whole, "0")
    tail = parts.struct.field("field_1").fill_null("").str.pad_end(frac, "0")
    return pl.when(expr.is_null()).then(None).otherwise(pl.concat_str(head, pl.lit("."), tail))


def _trimmed_normalised(lf: pl.LazyFrame, spec: SourceSpec) -> pl.LazyFrame:
    """Trim every text column (empty becomes null), then the declared normalisations."""
    schema = lf.collect_schema()
    text_cols = [c for c in data_columns(schema.names()) if schema[c] == pl.String]
    # when/then, not .replace("", None): polars 2.1 does not stream `replace` and held the
    # whole table (2.4 GiB at 10M rows, against 0.6 GiB this way; bench/RESULTS.md).
    stripped = [pl.col(c).str.strip_chars() for c in text_cols]
    trimmed = lf.with_columns(
        [
            pl.when(s == "").then(None).otherwise(s).alias(c)
            for s, c in zip(stripped, text_cols, strict=True)
        ]
    )
    return trimmed.with_columns([_normalise(c, ops) for c, ops in spec.normalise.items()])


def cleaned(lf: pl.LazyFrame, spec: SourceSpec) -> pl.LazyFrame:
    """Silver values: trimmed, normalised, then the declared corrections applied."""
    return _trimmed_normalised(lf, spec).with_columns(
        [recoded(c, mapping) for c, mapping in spec.recode.items()]
    )


def recoded(column: str, mapping: dict[str, str]) -> pl.Expr:
    """A when/then chain: streams, where `Expr.replace` holds the whole table (polars 2.1)."""
    expr: pl.Expr = pl.col(column)
    for wrong, right in mapping.items():
        expr = pl.when(pl.col(column) == wrong).then(pl.lit(right)).otherwise(expr)
    return expr.alias(column)


def _recode_counts(lf: pl.LazyFrame, spec: SourceSpec) -> dict[str, int]:
    """How many rows each declared correction touched, for the transition log."""
    if not spec.recode:
        return {}
    counts = lf.select(
        [pl.col(c).is_in(list(m)).sum().alias(c) for c, m in spec.recode.items()]
    ).collect()
    return {f"recode:{c}": int(n) for c, n in counts.row(0, named=True).items() if n}


def rules_for(spec: SourceSpec) -> list[Rule]:
    """Key rules and expectations; one switched `off` is not run (the log still names it)."""
    active = [expectation_rule(e) for e in spec.expectations if e.action != "off"]
    return key_rules(spec.key_columns) + active


def _check_blocking(lf: pl.LazyFrame, rules: list[Rule], file: str) -> dict[str, int]:
    """Count warn/fail rules in one pass over the silver rows; a `fail` stops the file here."""
    counted = [r for r in rules if r.action in ("warn", "fail")]
    if not counted:
        return {}
    counts = (
        lf.select([r.failing.sum().alias(f"{i}") for i, r in enumerate(counted)]).collect().row(0)
    )
    for rule, n in zip(counted, counts, strict=True):
        if rule.action == "fail" and n:
            first = lf.filter(rule.failing).select(SOURCE_ROW, rule.detail).head(1).collect()
            row, detail = first.row(0)
            raise ExpectationFailed(
                f"expectation {rule.rule_id!r} ({rule.describe}) failed on {n} row(s); "
                f"first: {detail}",
                file=file,
                layer=Layer.SILVER.value,
                row=row,
                column=rule.column,
                rule=rule.rule_id,
                rows=int(n),
            )
    return {r.rule_id: n for r, n in zip(counted, counts, strict=True) if r.action == "warn" and n}


def silver_plan(lf: pl.LazyFrame, rules: list[Rule]) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Good rows and quarantined rows; `lf` already carries the rules' helper columns."""
    dropping = [(r.rule_id, r.failing, r.detail) for r in rules if r.action == "drop"]
    good, bad = split_on_rules(lf, dropping, helper_columns(rules))
    return with_layer(good, Layer.SILVER), bad


def promote_to_silver(ctx: BatchContext) -> LayerTransitionLog:
    started = utc_now()
    cfg = ctx.cfg
    source = cfg.table_path(Layer.BRONZE, ctx.table)
    target = cfg.table_path(Layer.SILVER, ctx.table)
    quarantine = cfg.row_quarantine_file(Layer.SILVER, ctx.table, ctx.batch_id)
    quarantine.parent.mkdir(parents=True, exist_ok=True)
    recode_counts = _recode_counts(_trimmed_normalised(pl.scan_parquet(source), ctx.spec), ctx.spec)
    rules = rules_for(ctx.spec)
    dropping = [r for r in rules if r.action == "drop"]
    counted = [r for r in rules if r.action != "drop"]
    base = prepared(cleaned(pl.scan_parquet(source), ctx.spec), dropping)  # keys seen once
    temps = sink_split(base, lambda lf: silver_plan(lf, rules), source, target, quarantine)
    try:  # warn/fail rules read the written rows: no second pass over bronze
        warned = _check_blocking(
            prepared(pl.scan_parquet(temps[target]), counted), counted, str(ctx.source_path)
        )
    except BaseException:
        discard(temps)
        raise
    split = checked_split(ctx, Layer.SILVER, source, target, quarantine, temps)
    rows_in, rows_out = split.rows_in, split.rows_out
    rows_q, by_rule = split.rows_quarantined, split.rows_by_rule
    try:
        commit({target: temps[target]})
    except BaseException:
        discard(temps)
        raise
    commit_row_quarantine(temps[quarantine], quarantine)
    return finish_log(
        ctx,
        started,
        source_layer=Layer.BRONZE,
        target_layer=Layer.SILVER,
        source_files=[str(source)],
        targets=[target],
        rows_in=rows_in,
        rows_out=rows_out,
        rows_quarantined=rows_q,
        rows_by_rule={**by_rule, **recode_counts, **{f"warn:{k}": v for k, v in warned.items()}},
        quarantine=quarantine if rows_q else None,
        transforms=["trim", *[f"normalise:{c}" for c in ctx.spec.normalise]]
        + [f"recode:{c}" for c in ctx.spec.recode]
        + [f"rule:{r.rule_id}:{r.action}" for r in rules]
        + [f"rule:{e.id}:off" for e in ctx.spec.expectations if e.action == "off"],
        warnings=[f"{k}: {v} row(s) failed (warn only)" for k, v in warned.items()],
        rule_checks=checks(
            ctx.table,
            [(f"recode:{c}", "recode") for c in ctx.spec.recode]
            + [(r.rule_id, r.action) for r in rules],
            {**by_rule, **recode_counts, **warned},
        ),
    )

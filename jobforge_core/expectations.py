"""Silver rules as polars expressions: each yields a mask of failing rows and a detail text."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from jobforge_core.spec import Expectation


@dataclass(frozen=True)
class Rule:
    rule_id: str
    action: str  # warn | drop | fail
    column: str
    failing: pl.Expr
    detail: pl.Expr
    describe: str


def _value_text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).fill_null("<null>")


def _detail(column: str, what: str) -> pl.Expr:
    return pl.concat_str(pl.lit(f"column {column!r}: '"), _value_text(column), pl.lit(f"' {what}"))


def later_duplicate(columns: list[str]) -> pl.Expr:
    """True for the 2nd and later rows of a key; the first (lowest _source_row) is kept."""
    return pl.int_range(pl.len()).over(columns) > 0


def key_rules(keys: list[str]) -> list[Rule]:
    if not keys:
        return []
    null_key = pl.any_horizontal([pl.col(k).is_null() for k in keys])
    key_text = pl.concat_str([_value_text(k) for k in keys], separator="|")
    return [
        Rule(
            "null_key",
            "drop",
            keys[0],
            null_key,
            pl.concat_str(pl.lit(f"key {keys} has a null: '"), key_text, pl.lit("'")),
            f"key {keys} not null",
        ),
        Rule(
            "duplicate_key",
            "drop",
            keys[0],
            ~null_key & later_duplicate(keys),
            pl.concat_str(pl.lit(f"key {keys} = '"), key_text, pl.lit("' repeats an earlier row")),
            f"key {keys} unique (first row kept)",
        ),
    ]


def expectation_rule(exp: Expectation) -> Rule:
    col = pl.col(exp.column)
    present = col.is_not_null()
    if exp.rule == "not_null":
        failing, what = col.is_null(), "is null"
    elif exp.rule == "unique":
        failing, what = present & later_duplicate([exp.column]), "repeats an earlier row"
    elif exp.rule == "regex":
        failing = present & ~col.cast(pl.String).str.contains(exp.pattern or "")
        what = f"does not match /{exp.pattern}/"
    elif exp.rule == "range":
        low = col < exp.min if exp.min is not None else pl.lit(False)
        high = col > exp.max if exp.max is not None else pl.lit(False)
        failing, what = present & (low | high), f"is outside [{exp.min}, {exp.max}]"
    else:  # accepted_values
        failing = present & ~col.cast(pl.String).is_in(exp.values or [])
        what = f"is not one of {exp.values}"
    rule_id = exp.id or exp.rule
    return Rule(rule_id, exp.action, exp.column, failing, _detail(exp.column, what), what)


def join_details(details: list[pl.Expr]) -> pl.Expr:
    """'a; b' of the non-null details, or null when none applies (so it can mark bad rows)."""
    if not details:
        return pl.lit(None, pl.String)
    joined = pl.concat_str(details, separator="; ", ignore_nulls=True)
    return pl.when(joined == "").then(None).otherwise(joined)

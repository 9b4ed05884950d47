"""Silver rules as polars expressions: each yields a mask of failing rows and a detail text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from jobforge_core.common.provenance import QUARANTINE_DETAIL, QUARANTINE_REASON, SOURCE_ROW
from jobforge_core.sources.spec import Expectation

_HASH, _FIRST, _FLAGGED = "__key_hash", "__first_row", "__flagged"
_HASH_SPACE = 1 << 32  # key hashes are cut to 32 bits (see later_duplicates)
# Rows per pass of the repeated-hash search: its group-by holds one entry per distinct hash
# of the pass (10M rows: 0.39 GiB), so a bigger table is searched a slice of the hash space
# at a time (100M rows in one pass: 4.5 GiB peak for the whole flow).
PART_ROWS = 8_000_000


@dataclass(frozen=True)
class Rule:
    rule_id: str
    action: str  # warn | drop | fail
    column: str
    failing: pl.Expr
    detail: pl.Expr
    describe: str
    # Adds the helper columns `failing` reads (e.g. a duplicate flag); removed after use.
    prepare: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None
    helpers: tuple[str, ...] = ()


def prepared(lf: pl.LazyFrame, rules: list[Rule]) -> pl.LazyFrame:
    for rule in rules:
        if rule.prepare is not None:
            lf = rule.prepare(lf)
    return lf


def helper_columns(rules: list[Rule]) -> list[str]:
    return list(dict.fromkeys(h for rule in rules for h in rule.helpers))


def _value_text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).fill_null("<null>")


def _detail(column: str, what: str) -> pl.Expr:
    return pl.concat_str(pl.lit(f"column {column!r}: '"), _value_text(column), pl.lit(f"' {what}"))


def later_duplicates(
    lf: pl.LazyFrame, keys: list[str], order: str = SOURCE_ROW, part_rows: int = PART_ROWS
) -> pl.Series:
    """The `order` values of the 2nd and later rows of each key (the lowest `order` is kept).

    Two passes that read only the key columns. A group-by of 32-bit key hashes finds the
    hashes seen more than once: 4 bytes per distinct key, where grouping the keys themselves
    held every key (10M codes: 1.2 GiB peak; 64-bit hashes 0.64 GiB, 32-bit 0.43 GiB). Only
    rows with such a hash are then grouped by their real key, so a collision (about 17,000
    among 10M keys) costs a few candidate rows and can never mark a row.
    Rows with a null key are never marked: joins do not match nulls (null_key drops them).
    Past `part_rows` rows the first pass runs once per slice of the hash space (hash modulo
    the number of slices), each holding the hashes of about `part_rows` rows: the same
    repeated hashes, in bounded memory.
    """
    keyed = pl.struct(keys) if len(keys) > 1 else pl.col(keys[0])
    hashed = (keyed.hash(seed=0) % _HASH_SPACE).cast(pl.UInt32).alias(_HASH)
    rows = lf.select(pl.len()).collect().item()
    parts = max(1, -(-rows // part_rows))
    # Collected between the passes: as one plan, polars cached the shared scan (0.72 GiB
    # against 0.44 GiB peak at 10M rows).
    found = []
    for part in range(parts):
        hashes = lf.select(hashed)
        if parts > 1:
            hashes = hashes.filter(pl.col(_HASH) % parts == part)
        found.append(
            hashes.group_by(_HASH)
            .agg(pl.len().alias("n"))
            .filter(pl.col("n") > 1)
            .select(_HASH)
            .collect()
            .to_series()
        )
    repeated = pl.concat(found)
    candidates = lf.select(*keys, order, hashed).filter(pl.col(_HASH).is_in(repeated.implode()))
    first = candidates.group_by(keys).agg(pl.col(order).min().alias(_FIRST))
    later = candidates.join(first, on=keys).filter(pl.col(order) != pl.col(_FIRST))
    return later.select(order).collect().to_series()


def mark_later_duplicates(
    lf: pl.LazyFrame, keys: list[str], flag: str, order: str = SOURCE_ROW
) -> pl.LazyFrame:
    """Add `flag`: True on the 2nd and later rows of a key; `order` must be unique per row.

    The repeated rows are found first (`later_duplicates`, collected: usually few), then
    marked by membership, which streams, where a join back onto the table held it.
    """
    later = later_duplicates(lf, keys, order)
    return lf.with_columns(pl.col(order).is_in(later.implode()).alias(flag))


def duplicate_rule(
    rule_id: str, keys: list[str], detail: pl.Expr, describe: str, action: str = "drop"
) -> Rule:
    flag = f"__dup_{rule_id}"
    return Rule(
        rule_id,
        action,
        keys[0],
        pl.col(flag),
        detail,
        describe,
        prepare=lambda lf: mark_later_duplicates(lf, keys, flag),
        helpers=(flag,),
    )


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
        duplicate_rule(
            "duplicate_key",
            keys,
            pl.concat_str(pl.lit(f"key {keys} = '"), key_text, pl.lit("' repeats an earlier row")),
            f"key {keys} unique (first row kept)",
        ),
    ]


def expectation_rule(exp: Expectation) -> Rule:
    col = pl.col(exp.column)
    present = col.is_not_null()
    rule_id = exp.id or exp.rule
    if exp.rule == "unique":
        what = "repeats an earlier row"
        return duplicate_rule(rule_id, [exp.column], _detail(exp.column, what), what, exp.action)
    if exp.rule == "not_null":
        failing, what = col.is_null(), "is null"
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
    return Rule(rule_id, exp.action, exp.column, failing, _detail(exp.column, what), what)


def join_details(details: list[pl.Expr]) -> pl.Expr:
    """'a; b' of the non-null details, or null when none applies (so it can mark bad rows)."""
    if not details:
        return pl.lit(None, pl.String)
    joined = pl.concat_str(details, separator="; ", ignore_nulls=True)
    return pl.when(joined == "").then(None).otherwise(joined)


Flagged = tuple[str, pl.Expr, pl.Expr]  # rule id, failing mask, detail text


def split_on_rules(
    lf: pl.LazyFrame, rules: list[Flagged], helpers: list[str]
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Rows no rule flags, and flagged rows with `_quarantine_reason` (the first rule that
    flags them) and `_quarantine_detail` (every rule that does); `helpers` are dropped.

    One boolean splits the rows and reason and detail are built on the flagged rows only:
    built for every row and then filtered on, they doubled the cost of bronze.
    """
    flagged = pl.any_horizontal([f for _, f, _ in rules]) if rules else pl.lit(False)
    marked = lf.with_columns(flagged.fill_null(False).alias(_FLAGGED))
    drop = [*helpers, _FLAGGED]
    good = marked.filter(~pl.col(_FLAGGED)).drop(drop, strict=False)
    reason = pl.coalesce([pl.when(f).then(pl.lit(rid)) for rid, f, _ in rules]) if rules else None
    bad = (
        marked.filter(pl.col(_FLAGGED))
        .with_columns(
            (pl.lit(None, pl.String) if reason is None else reason).alias(QUARANTINE_REASON),
            join_details([pl.when(f).then(d) for _, f, d in rules]).alias(QUARANTINE_DETAIL),
        )
        .drop(drop, strict=False)
    )
    return good, bad

"""Vectorised, seeded value generators: polars expressions over a row index column `i`.

Values derive from a hash of the row index, not from a stateful RNG, so any chunk of any file
can be produced on its own (streaming generation) and the same seed gives the same bytes.
"""

from __future__ import annotations

import polars as pl

SEED = 20_240_601
ROW = pl.col("i")
# One bad row kind per 2000 rows each (0.05% + 0.05% = 0.1% of the rows).
BAD_PERIOD = 2000
CAST_ERROR_AT = 1000  # a non-numeric value in a numeric column: `cast_error` at bronze
DUPLICATE_AT = 1001  # repeats the key of row i - 2: `duplicate_key` at silver
DUPLICATE_OF = 2


def rand(k: int, salt: int) -> pl.Expr:
    """Uniform-ish integer in [0, k): an independent stream per salt."""
    return ROW.hash(seed=SEED + salt) % k


def choice(values: list[str], salt: int) -> pl.Expr:
    return rand(len(values), salt).replace_strict(dict(enumerate(values)), return_dtype=pl.String)


def chance(per_mille: int, salt: int) -> pl.Expr:
    return rand(1000, salt) < per_mille


def is_cast_error_row() -> pl.Expr:
    return ROW % BAD_PERIOD == CAST_ERROR_AT


def is_duplicate_row() -> pl.Expr:
    return ROW % BAD_PERIOD == DUPLICATE_AT


def key_row() -> pl.Expr:
    """The row whose key this row carries: itself, or an earlier row for a duplicate."""
    return pl.when(is_duplicate_row()).then(ROW - DUPLICATE_OF).otherwise(ROW)


def padded(expr: pl.Expr, width: int) -> pl.Expr:
    return expr.cast(pl.String).str.zfill(width)


def thousands(n: pl.Expr) -> pl.Expr:
    """8238800 -> '8,238,800' (the CSV writer then quotes it, as the publishers do)."""
    millions, rest_k, units = n // 1_000_000, (n // 1000) % 1000, padded(n % 1000, 3)
    head = (
        pl.when(n >= 1_000_000)
        .then(pl.concat_str(millions.cast(pl.String), pl.lit(","), padded(rest_k, 3), pl.lit(",")))
        .when(n >= 1000)
        .then(pl.concat_str((n // 1000).cast(pl.String), pl.lit(",")))
        .otherwise(pl.lit(""))
    )
    tail = pl.when(n >= 1000).then(units).otherwise((n % 1000).cast(pl.String))
    return pl.concat_str(head, tail)


def count_value(salt: int) -> pl.Expr:
    """A head count from 0 to 9 million, spread over magnitudes (1 to 7 digits)."""
    divisor = rand(4, salt + 1).replace_strict(
        {0: 1, 1: 32, 2: 1024, 3: 32768}, return_dtype=pl.UInt64
    )
    return rand(9_000_000, salt) // divisor


def with_markers(value: pl.Expr, salt: int, na_per_mille: int, marker: str = "N/A") -> pl.Expr:
    return pl.when(chance(na_per_mille, salt)).then(pl.lit(marker)).otherwise(value)


def decimal(whole: pl.Expr, hundredths: pl.Expr) -> pl.Expr:
    return pl.concat_str(whole.cast(pl.String), pl.lit("."), padded(hundredths, 2))

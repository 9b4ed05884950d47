"""Plain-polars baseline: the same logical transforms and the same four parquet writes.

No orchestration, provenance, quarantine, reconciliation or logs: what a hand-written script
would do. staged: read all as text + write; bronze: rename + cast (thousands separators,
null markers) + write; silver: trim (+ code normalisation) + dedupe on key + write;
gold: select / unpivot + write. Bad casts simply become null and duplicates simply vanish.

`python -m bench.baseline --dataset generic --source FILE --out DIR --result FILE.json`
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from bench.datasets import DESCRIPTORS, GENERIC_HEADERS, YEARS

NULL_MARKERS = ["", "N/A", "N/D"]
AGGREGATE = (
    (pl.col("code") == "00000")
    | pl.col("code").str.starts_with("TEER")
    | pl.col("code").str.starts_with("NOC1")
)
GENERIC_NAMES = [
    "code", "province", "ville", "annee", "emploi", "salaire_horaire", "taux_chomage",
    "postes_vacants", "teer", "actif",
]  # fmt: skip
GENERIC_TYPES = {
    "annee": pl.Int64, "emploi": pl.Int64, "salaire_horaire": pl.Float64,
    "taux_chomage": pl.Float64, "postes_vacants": pl.Int64, "teer": pl.Int64,
    "actif": pl.Boolean,
}  # fmt: skip
SNAKE_DESCRIPTORS = {d: f"d{n:02d}" for n, d in enumerate(DESCRIPTORS)}


def typed(header: str, dtype: pl.DataType) -> pl.Expr:
    """Null markers -> null, thousands separators removed, non-strict cast."""
    text = pl.col(header).str.strip_chars()
    text = pl.when(text.is_in(NULL_MARKERS)).then(None).otherwise(text)
    if dtype == pl.Boolean:
        return text.str.to_lowercase().replace_strict(
            {"oui": True, "non": False}, default=None, return_dtype=pl.Boolean
        )
    if dtype == pl.String:
        return text
    return text.str.replace_all(",", "", literal=True).cast(dtype, strict=False)


def trimmed(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Trim, empty -> null; when/then streams, where `.replace("", None)` holds the table."""
    schema = lf.collect_schema()
    text = [c for c, t in schema.items() if t == pl.String]
    stripped = {c: pl.col(c).str.strip_chars() for c in text}
    return lf.with_columns(
        pl.when(e == "").then(None).otherwise(e).alias(c) for c, e in stripped.items()
    )


def _bronze(
    headers: list[str], names: list[str], types: dict[str, pl.DataType]
) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    pairs = list(zip(headers, names, strict=True))

    def build(lf: pl.LazyFrame) -> pl.LazyFrame:
        return lf.select(typed(h, types.get(n, pl.String)).alias(n) for h, n in pairs)

    return build


def _oasis_code(expr: pl.Expr) -> pl.Expr:
    parts = expr.str.split_exact(".", 1)
    head = parts.struct.field("field_0").str.zfill(5)
    tail = parts.struct.field("field_1").fill_null("").str.pad_end(2, "0")
    return pl.concat_str(head, pl.lit("."), tail)


def _cops_gold(lf: pl.LazyFrame, aggregate: bool, cols: dict[str, str]) -> pl.LazyFrame:
    rows = lf.filter(AGGREGATE if aggregate else ~AGGREGATE)
    index = [c for c in lf.collect_schema().names() if c not in YEARS]
    long = rows.unpivot(on=YEARS, index=index, variable_name="year", value_name="employment")
    long = long.with_columns(pl.col("year").cast(pl.Int64))
    return long.select(pl.col(src).alias(dst) for dst, src in cols.items())


def _oasis_gold(lf: pl.LazyFrame) -> pl.LazyFrame:
    names = list(SNAKE_DESCRIPTORS.values())
    long = lf.with_columns(pl.col("oasis_code").str.slice(0, 5).alias("noc_code")).unpivot(
        on=names,
        index=["oasis_code", "oasis_label", "noc_code"],
        variable_name="descriptor",
        value_name="proficiency",
    )
    labels = {v: k for k, v in SNAKE_DESCRIPTORS.items()}
    descriptor = pl.col("descriptor").replace_strict(labels, return_dtype=pl.String)
    return long.select("oasis_code", "noc_code", descriptor, "proficiency")


class Plan:
    """One dataset's transforms: bronze builder, silver key and normalisation, gold tables."""

    def __init__(
        self,
        bronze: Callable[[pl.LazyFrame], pl.LazyFrame],
        key: str,
        gold: dict[str, Callable[[pl.LazyFrame], pl.LazyFrame]],
        normalise: dict[str, Callable[[pl.Expr], pl.Expr]] | None = None,
    ) -> None:
        self.bronze, self.key, self.gold = bronze, key, gold
        self.normalise = normalise or {}


COPS_NAMES = ["code", "occupation_name_en", "occupation_name_fr", *YEARS]
PLANS = {
    "generic": Plan(
        _bronze(GENERIC_HEADERS, GENERIC_NAMES, GENERIC_TYPES),
        "code",
        {"fact": lambda lf: lf.select(GENERIC_NAMES[:7] + ["teer"])},
    ),
    "cops": Plan(
        _bronze(
            ["Code", "Occupation Name", "Nom de la profession", *YEARS],
            COPS_NAMES,
            dict.fromkeys(YEARS, pl.Int64),
        ),
        "code",
        {
            "fact": lambda lf: _cops_gold(
                lf, False, {"noc_code": "code", "year": "year", "employment": "employment"}
            ),
            "agg": lambda lf: _cops_gold(
                lf,
                True,
                {
                    "aggregate_code": "code",
                    "aggregate_name_en": "occupation_name_en",
                    "aggregate_name_fr": "occupation_name_fr",
                    "year": "year",
                    "employment": "employment",
                },
            ),
        },
    ),
    "oasis": Plan(
        _bronze(
            ["OaSIS Code - Final", "OaSIS Label - Final", *DESCRIPTORS],
            ["oasis_code", "oasis_label", *SNAKE_DESCRIPTORS.values()],
            dict.fromkeys(SNAKE_DESCRIPTORS.values(), pl.Float64),
        ),
        "oasis_code",
        {"fact": _oasis_gold},
        {"oasis_code": _oasis_code},
    ),
}


def run(dataset: str, source: Path, out: Path) -> dict[str, object]:
    plan = PLANS[dataset]
    out.mkdir(parents=True, exist_ok=True)
    paths = {layer: out / f"{layer}.parquet" for layer in ("staged", "bronze", "silver")}
    marks = {"start": time.time()}
    pl.scan_csv(source, infer_schema=False).sink_parquet(paths["staged"])
    marks["staged"] = time.time()
    plan.bronze(pl.scan_parquet(paths["staged"])).sink_parquet(paths["bronze"])
    marks["bronze"] = time.time()
    silver = trimmed(pl.scan_parquet(paths["bronze"]))
    silver = silver.with_columns(f(pl.col(c)).alias(c) for c, f in plan.normalise.items())
    silver.unique(subset=[plan.key], keep="first", maintain_order=True).sink_parquet(
        paths["silver"]
    )
    marks["silver"] = time.time()
    gold_rows = 0
    for table, build in plan.gold.items():
        target = out / f"gold_{table}.parquet"
        build(pl.scan_parquet(paths["silver"])).sink_parquet(target)
        gold_rows += pq.ParquetFile(target).metadata.num_rows
    marks["gold"] = time.time()
    rows = {layer: pq.ParquetFile(p).metadata.num_rows for layer, p in paths.items()}
    return {"marks": marks, "rows": {**rows, "gold": gold_rows}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(PLANS), required=True)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    result = run(args.dataset, args.source, args.out)
    args.result.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

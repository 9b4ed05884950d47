"""What changed in a release, as an analyst asks it: by the grain key, with deltas and labels.

`diff_files` (diff.py) says which rows differ; this says what that means for a release: the
year window that moved (rows dropped at the start, added at the end) apart from the values
that changed; per key column the values added, removed and changed (occupations, descriptors);
per numeric measure the total delta; the changed values with their delta (absolute and %) and
the dimension's label (the occupation title for a noc_code); and the rows of the new batch
that a rule sent to quarantine (a new unit group missing from dim_noc), said as such rather
than as absent.

Memory: every pass is a lazy polars query run by the streaming engine; what is collected is
the distinct values of each key column, the rows found different (read back by key hash) and
the aggregates, never a whole table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from jobforge_core.common.provenance import QUARANTINE_REASON
from jobforge_core.history.diff import (
    KEY_HASH,
    TableDiff,
    diff_files,
    key_hash,
    text_if_dictionary,
)


@dataclass
class Label:
    """Where a key column's label lives: `column` of the dimension file, matched on `ref`."""

    file: Path
    ref: str
    column: str


@dataclass
class ReleaseChanges:
    diff: TableDiff
    window: dict[str, Any] | None = None
    rows: dict[str, int] = field(default_factory=dict)
    by_key: list[dict[str, Any]] = field(default_factory=list)
    values: list[dict[str, Any]] = field(default_factory=list)  # per key value changed
    measures: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self, table: str) -> dict[str, Any]:
        """The sections `jobforge diff --format json` prints and the site's "what changed"
        page shows: one shape for both."""
        d = self.diff
        return {
            "diff": {
                "table": table,
                "key": d.key,
                "from_batch": d.from_batch,
                "to_batch": d.to_batch,
                "rows_from": d.rows_from,
                "rows_to": d.rows_to,
                **self.rows,
                "columns_added": d.columns_added,
                "columns_removed": d.columns_removed,
            },
            "window": self.window or {},
            "by_key": self.by_key,
            "measures": self.measures,
            "values": self.values,
            "changed": self.changed,
            "changes_by_column": [
                {"column": c, "rows_changed": n} for c, n in d.changes_by_column.items()
            ],
            "quarantined": self.quarantined,
        }


def _values(lf: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """The distinct values of a column, as text, lazily (joined, counted, never a Python set:
    a one-column key of 10M rows has 10M values)."""
    return lf.select(pl.col(column).cast(pl.String)).unique()


def _listed(values: pl.LazyFrame, column: str, n: int) -> list[str]:
    return values.sort(column).head(n).collect(engine="streaming")[column].to_list()


def _key_column(
    column: str,
    old_lf: pl.LazyFrame,
    new_lf: pl.LazyFrame,
    q_lf: pl.LazyFrame | None,
    touched_by: list[pl.LazyFrame],
    sample: int,
) -> dict[str, Any]:
    """A key column's values added, removed (not to quarantine), changed (some row of the
    value added, removed or changed while the value is on both sides) and in quarantine."""
    old_v, new_v = _values(old_lf, column), _values(new_lf, column)
    q_v = _values(q_lf, column) if q_lf is not None else new_v.head(0)
    added = new_v.join(old_v, on=column, how="anti")
    removed = old_v.join(new_v, on=column, how="anti").join(q_v, on=column, how="anti")
    to_q = q_v.join(new_v, on=column, how="anti")
    touched = (
        pl.concat([_values(lf, column) for lf in touched_by])
        .unique()
        .join(old_v, on=column, how="semi")
        .join(new_v, on=column, how="semi")
    )
    return {
        "column": column,
        "from": _count(old_v),
        "to": _count(new_v),
        "added": _count(added),
        "removed": _count(removed),
        "changed": _count(touched),
        "quarantined": _count(to_q),
        "added_values": _listed(added, column, sample),  # the first `sample` of each
        "removed_values": _listed(removed, column, sample),
        "quarantined_values": _listed(to_q, column, sample),
    }


def _distinct(lf: pl.LazyFrame, column: str) -> set[Any]:
    return set(
        lf.select(pl.col(column).cast(pl.String)).unique().collect(engine="streaming")[column]
    )


def _labels(values: list[str], label: Label | None) -> dict[str, str]:
    if label is None or not values or not label.file.is_file():
        return {}
    found = (
        pl.scan_parquet(label.file)
        .select(pl.col(label.ref).cast(pl.String), pl.col(label.column).cast(pl.String))
        .filter(pl.col(label.ref).is_in(values))
        .collect(engine="streaming")
    )
    return dict(zip(found[label.ref], found[label.column], strict=True))


def _window_values(old: set[str], new: set[str]) -> dict[str, list[int]]:
    def num(values: set[str]) -> list[int]:
        return sorted(int(v) for v in values if v is not None and v.lstrip("-").isdigit())

    o, n = num(old), num(new)
    return {
        "from": [o[0], o[-1]] if o else [],
        "to": [n[0], n[-1]] if n else [],
        "dropped": [v for v in o if v not in set(n)],
        "added": [v for v in n if v not in set(o)],
    }


def release_changes(
    before: Path,
    after: Path,
    key: list[str],
    *,
    window: str | None = None,
    labels: dict[str, Label] | None = None,
    quarantine: Path | None = None,
    sample: int = 10,
) -> ReleaseChanges:
    """The release story of `after` against `before`; `window` is the key column whose values
    move (COPS's year), `quarantine` the new batch's row quarantine file for this table."""
    labels = labels or {}
    d, (added_h, removed_h, changed_h) = diff_files(before, after, key, sample=sample, hashes=True)
    old_lf, new_lf = pl.scan_parquet(before), pl.scan_parquet(after)
    if window is not None and window not in key:
        window = None
    entity = [k for k in key if k != window]
    out = ReleaseChanges(diff=d)

    def keyed(lf: pl.LazyFrame, hashes: pl.Series) -> pl.LazyFrame:
        return lf.with_columns(key_hash(lf, key)).filter(pl.col(KEY_HASH).is_in(hashes.implode()))

    q_lf = pl.scan_parquet(quarantine) if quarantine is not None and quarantine.is_file() else None
    if q_lf is not None and not set(key) <= set(q_lf.collect_schema().names()):
        q_lf = None
    added_lf, removed_lf = keyed(new_lf, added_h), keyed(old_lf, removed_h)
    in_window = {"dropped": pl.lit(False), "added": pl.lit(False)}
    if window is not None:
        w = _window_values(_distinct(old_lf, window), _distinct(new_lf, window))
        wcol = pl.col(window).cast(pl.Int64)
        in_window = {"dropped": wcol.is_in(w["dropped"]), "added": wcol.is_in(w["added"])}
        w["rows_dropped"] = _count(removed_lf.filter(in_window["dropped"]))
        w["rows_added"] = _count(added_lf.filter(in_window["added"]))
        if w["dropped"] or w["added"]:  # said only when the window moved
            out.window = {"column": window, **w}
    removed_rest = removed_lf.filter(~in_window["dropped"])
    added_rest = added_lf.filter(~in_window["added"])
    quarantined_keys = pl.Series(KEY_HASH, [], pl.UInt64)
    if q_lf is not None:
        quarantined_keys = q_lf.select(key_hash(q_lf, key)).collect(engine="streaming")[KEY_HASH]
    gone_to_quarantine = removed_rest.filter(pl.col(KEY_HASH).is_in(quarantined_keys.implode()))
    n_gone = _count(gone_to_quarantine)
    out.rows = {
        "added": _count(added_rest),
        "removed": _count(removed_rest) - n_gone,
        "changed": d.changed,
        "unchanged": d.unchanged,
        "removed_to_quarantine": n_gone,
        "quarantined_in_new_batch": _count(q_lf) if q_lf is not None else 0,
    }
    changed_lf = keyed(new_lf, changed_h)
    for column in entity:
        out.by_key.append(
            _key_column(
                column, old_lf, new_lf, q_lf, [changed_lf, added_rest, removed_rest], sample
            )
        )
        shown = {k: v for k, v in out.by_key[-1].items() if k.endswith("_values")}
        names = _labels([v for vs in shown.values() for v in vs], labels.get(column))
        for k, vs in shown.items():
            out.by_key[-1][k] = [_named(v, names) for v in vs]
    _measures(out, old_lf, new_lf, changed_h, key, entity, labels, sample)
    if q_lf is not None:
        by_rule = q_lf.group_by(QUARANTINE_REASON).len().sort(QUARANTINE_REASON)
        rows = by_rule.collect(engine="streaming")
        values = {c: _listed(_values(q_lf, c), c, sample) for c in entity}
        out.quarantined = [
            {"rule": r, "rows": n, **{f"{c}_values": v[:sample] for c, v in values.items()}}
            for r, n in rows.iter_rows()
        ]
    return out


def story(found: dict[str, Any]) -> list[str]:
    """The diff in a few sentences, for people (stderr; the sections carry the numbers); the
    site's "what changed" page says the same sentences."""
    lines = []
    if found["window"]:
        w = found["window"]
        span = "-".join(map(str, w["from"])) + " -> " + "-".join(map(str, w["to"]))
        lines.append(
            f"{w['column']} window {span}: {w['rows_dropped']} row(s) of {w['dropped']} "
            f"dropped, {w['rows_added']} row(s) of {w['added']} added (not counted below)"
        )
    for k in found["by_key"]:
        part = f"{k['column']}: {k['added']} added, {k['removed']} removed, {k['changed']} changed"
        if k["quarantined"]:
            part += f", {k['quarantined']} in quarantine (not in gold)"
        lines.append(part)
    for m in found["measures"]:
        lines.append(
            f"{m['column']}: {m['rows_changed']} value(s) changed, total {m['delta']:+,} "
            f"({'n/a' if m['pct'] is None else format(m['pct'], '+')}%)"
        )
    r = found["diff"]
    lines.append(
        f"rows: {r['added']} added, {r['removed']} removed, {r['changed']} changed, "
        f"{r['unchanged']} unchanged, {r['quarantined_in_new_batch']} of the new batch in "
        f"quarantine (by {', '.join(r['key'])})"
    )
    return lines


def _named(value: str, names: dict[str, str]) -> str:
    return f"{value} {names[value]}" if value in names else value


def _numeric(schema: pl.Schema, column: str) -> bool:
    return schema[column].is_numeric()


def _measures(
    out: ReleaseChanges,
    old_lf: pl.LazyFrame,
    new_lf: pl.LazyFrame,
    changed_h: pl.Series,
    key: list[str],
    entity: list[str],
    labels: dict[str, Label],
    sample: int,
) -> None:
    """Per numeric measure: rows changed and the total delta; the largest changes with their
    delta, % and label; per value of the first key column, the delta summed."""
    schema = new_lf.collect_schema()
    old_schema = old_lf.collect_schema()
    measures = [
        c
        for c in out.diff.changes_by_column
        if c in old_schema and _numeric(schema, c) and _numeric(old_schema, c)
    ]
    if not measures or not len(changed_h):
        return
    old = old_lf.with_columns(key_hash(old_lf, key)).filter(
        pl.col(KEY_HASH).is_in(changed_h.implode())
    )
    new = new_lf.with_columns(key_hash(new_lf, key)).filter(
        pl.col(KEY_HASH).is_in(changed_h.implode())
    )
    pairs = old.select(
        KEY_HASH,
        *text_if_dictionary(old_lf, key),
        *[pl.col(m).cast(pl.Float64).alias(f"{m}__from") for m in measures],
    ).join(
        new.select(KEY_HASH, *[pl.col(m).cast(pl.Float64).alias(f"{m}__to") for m in measures]),
        on=KEY_HASH,
    )
    cells = pl.concat(
        [
            pairs.select(
                *key,
                pl.lit(m).alias("column"),
                pl.col(f"{m}__from").alias("from"),
                pl.col(f"{m}__to").alias("to"),
            ).filter(pl.col("from").ne_missing(pl.col("to")))
            for m in measures
        ]
    ).with_columns(
        (pl.col("to") - pl.col("from")).alias("delta"),
        _pct(pl.col("to") - pl.col("from"), pl.col("from")),
    )
    totals = (
        cells.group_by("column")
        .agg(
            pl.len().alias("rows_changed"),
            pl.col("from").sum().alias("sum_from"),
            pl.col("to").sum().alias("sum_to"),
            pl.col("delta").sum().alias("delta"),
        )
        .with_columns(_pct(pl.col("delta"), pl.col("sum_from")))
        .sort("column")
        .collect(engine="streaming")
    )
    out.measures = [_tidy(r) for r in totals.to_dicts()]
    top = (
        cells.sort(pl.col("delta").abs(), *key, descending=[True] + [False] * len(key))
        .head(sample)
        .collect(engine="streaming")
    )
    first = entity[0] if entity else key[0]
    names = _labels(sorted(set(top[first].cast(pl.String))), labels.get(first))
    out.changed = [
        _tidy({**r, "label": names.get(str(r[first]), "")}, key=[*key, "label"])
        for r in top.to_dicts()
    ]
    per_value = (
        cells.group_by(first, "column")
        .agg(
            pl.len().alias("rows_changed"),
            pl.col("from").sum().alias("from"),
            pl.col("to").sum().alias("to"),
            pl.col("delta").sum().alias("delta"),
        )
        .with_columns(_pct(pl.col("delta"), pl.col("from")))
        .sort(pl.col("delta").abs(), first, descending=[True, False])
        .head(max(sample, 1) * 5)
        .collect(engine="streaming")
    )
    names = _labels(sorted(set(per_value[first].cast(pl.String))), labels.get(first))
    out.values = [
        _tidy({**r, "label": names.get(str(r[first]), "")}, key=[first, "label"])
        for r in per_value.to_dicts()
    ]


def _pct(delta: pl.Expr, base: pl.Expr) -> pl.Expr:
    """delta as a % of base, 2 decimals; none from 0 (no infinity in JSON)."""
    return pl.when(base != 0).then((delta / base.abs() * 100).round(2)).alias("pct")


def _tidy(row: dict[str, Any], key: list[str] | None = None) -> dict[str, Any]:
    """Whole numbers as ints (an employment count reads 9760, not 9760.0); key first."""
    for k, v in row.items():
        if isinstance(v, float) and v.is_integer() and k != "pct":
            row[k] = int(v)
    order = [*(key or []), *[k for k in row if k not in (key or [])]]
    return {k: row[k] for k in order}


def _count(lf: pl.LazyFrame) -> int:
    return lf.select(pl.len()).collect(engine="streaming").item()

"""silver -> gold: the declared model (select, derive, lookups, unpivot, split, foreign keys).

One source may feed several gold tables (a dimension and a fact, or a fact and its aggregate
rows); reconciliation is on `_source_row` coverage across all of them plus quarantine.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from jobforge_core.checks.expectations import mark_later_duplicates, split_on_rules
from jobforge_core.checks.quarantine import commit_row_quarantine, reason_counts
from jobforge_core.checks.volume_guard import quarantine_share_breach, row_drop_breach
from jobforge_core.common.atomic import commit, discard, parquet_rows, sink_all
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import DataError, ReconciliationError
from jobforge_core.common.models import LayerTransitionLog, RuleCheck, utc_now
from jobforge_core.common.provenance import (
    BATCH_ID,
    INGESTED_AT,
    LAYER,
    PROVENANCE,
    SOURCE_FILE,
    SOURCE_ROW,
    constant,
    data_columns,
)
from jobforge_core.sources.column_use import columns_not_carried
from jobforge_core.sources.naming import labels
from jobforge_core.sources.spec import GoldCheck, GoldOutput, Lookup, Unpivot
from jobforge_core.transitions.common import checks, finish_log, guard_counts, refuse_batch
from jobforge_core.transitions.context import BatchContext
from jobforge_core.transitions.grain import grain_is_guaranteed
from jobforge_core.transitions.silver import recoded

FK_RULE = "foreign_key"
GRAIN_RULE = "duplicate_grain"
# Chunked unpivots: about this many long rows per slice of silver rows.
_LONG_ROWS_PER_SLICE, _MIN_SLICE_ROWS = 4_000_000, 50_000
_POLARS_TYPES = {"str": pl.String, "int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean}


class GoldBuild:
    """Builds the lazy plans of one source's gold tables, resolving references as it goes."""

    def __init__(self, ctx: BatchContext) -> None:
        self.ctx = ctx
        silver = pl.scan_parquet(ctx.cfg.table_path(Layer.SILVER, ctx.table))
        self.constants = self._batch_constants(silver)
        # Per-batch constants are re-added as literals at the end: carried through an unpivot
        # they would be copied once per long row.
        self.silver = silver.drop(*self.constants, LAYER)
        staged = ctx.cfg.table_path(Layer.STAGED, ctx.table)
        staged_headers = data_columns(list(pl.read_parquet_schema(staged)))
        self.labels = labels(ctx.spec, staged_headers, str(ctx.source_path))
        self.produced: dict[str, Path] = {}  # gold table -> temp file written in this step
        self.unpivot_width: dict[str, int] = {}  # gold table -> columns unpivoted
        self._current = ""

    def _batch_constants(self, silver: pl.LazyFrame) -> dict[str, object]:
        first = silver.select(SOURCE_FILE, INGESTED_AT, BATCH_ID).head(1).collect()
        if len(first):
            return first.row(0, named=True)
        ctx = self.ctx
        return {
            SOURCE_FILE: ctx.source_path.name,
            INGESTED_AT: ctx.ingested_at,
            BATCH_ID: ctx.batch_id,
        }

    def with_provenance(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        data = [c for c in lf.collect_schema().names() if c not in PROVENANCE]
        values = {**self.constants, LAYER: Layer.GOLD.value}
        constants = [
            constant(v).alias(k) if isinstance(v, str) else pl.lit(v).alias(k)
            for k, v in values.items()
        ]
        return lf.with_columns(constants).select(*data, *PROVENANCE)

    def gold_table(self, table: str) -> pl.LazyFrame:
        path = self.produced.get(table) or self.ctx.cfg.table_path(Layer.GOLD, table)
        if not path.exists():
            raise DataError(
                f"references gold table {table!r}, which has not been built "
                "(its source failed or has not run)",
                file=str(self.ctx.source_path),
                layer=Layer.GOLD.value,
                rule="missing_reference",
            )
        return pl.scan_parquet(path)

    def filtered(self, out: GoldOutput, lf: pl.LazyFrame | None = None) -> pl.LazyFrame:
        """Silver rows the output reads (`lf`: a slice of silver, for chunked unpivots)."""
        lf = self.silver if lf is None else lf
        if out.where:
            lf = lf.filter(pl.sql_expr(out.where))
        for name, expr in out.derive.items():
            lf = lf.with_columns(pl.sql_expr(expr).alias(name))
        return lf

    def _lookup(self, lf: pl.LazyFrame, lk: Lookup) -> pl.LazyFrame:
        ref = self.silver if lk.table == "self" else self.gold_table(lk.table)
        if lk.where:
            ref = ref.filter(pl.sql_expr(lk.where))
        ref = ref.select(
            pl.sql_expr(lk.ref_key).alias("__lookup_key"),
            *[pl.col(src).alias(new) for new, src in lk.columns.items()],
        ).unique("__lookup_key", keep="first", maintain_order=True)
        keyed = lf.with_columns(pl.sql_expr(lk.key).alias("__lookup_key"))
        joined = keyed.join(ref, on="__lookup_key", how="left", maintain_order="left")
        return joined.drop("__lookup_key")

    def _chunked_unpivot(self, out: GoldOutput, u: Unpivot) -> pl.LazyFrame:
        """One unpivot per slice of silver rows, concatenated: the rows of a single unpivot
        (not its order, which polars sets per morsel anyway), in memory bounded by one slice.
        polars 2.1's streaming unpivot holds its output (1.1 GiB for 33M long rows; 260 MiB in
        slices, at the same speed).
        Only for outputs without lookups, whose every step before the unpivot is row by row.
        """
        keep = self._needed_after_unpivot(out)
        first = self._unpivot(self.filtered(out), u, keep)  # checks the columns; sets the width
        step = max(_MIN_SLICE_ROWS, _LONG_ROWS_PER_SLICE // self.unpivot_width[out.table])
        rows = parquet_rows(self.ctx.cfg.table_path(Layer.SILVER, self.ctx.table))
        if rows <= step:
            return first
        return pl.concat(
            [
                self._unpivot(self.filtered(out, self.silver.slice(start, step)), u, keep)
                for start in range(0, rows, step)
            ]
        )

    def _unpivot(self, lf: pl.LazyFrame, u: Unpivot, keep: set[str] | None) -> pl.LazyFrame:
        """Wide to long. `keep` limits the copied index columns to those the output selects:
        every index value is copied once per long row, and polars does not prune them here."""
        names = lf.collect_schema().names()
        if u.columns is None:
            on = [c for c in data_columns(names) if c not in u.index]
        elif isinstance(u.columns, str):
            on = [c for c in data_columns(names) if re.search(u.columns, c)]
        else:
            on = list(u.columns)
        if not on:
            raise DataError(
                f"unpivot matches no column with {u.columns!r}; columns are {data_columns(names)}",
                file=str(self.ctx.source_path),
                layer=Layer.GOLD.value,
            )
        self.unpivot_width[self._current] = len(on)
        index = [c for c in names if c not in on and (keep is None or c in keep)]
        if u.variable_from == "label":
            # Rename before unpivoting: the labels arrive as the variable values for free,
            # where a value mapping afterwards would run on every long row.
            labels = {c: self.labels.get(c, c) for c in on}
            clash = set(labels.values()) & set(index)
            if clash or len(set(labels.values())) != len(labels):
                raise DataError(
                    f"unpivot labels are not distinct from each other and from {index}",
                    file=str(self.ctx.source_path),
                    layer=Layer.GOLD.value,
                )
            lf, on = lf.rename(labels), list(labels.values())
        long = lf.unpivot(on=on, index=index, variable_name=u.variable, value_name=u.value)
        variable = pl.col(u.variable)
        if u.variable_pattern:
            variable = variable.str.extract(u.variable_pattern, 1)
        long = long.with_columns(variable.cast(_POLARS_TYPES.get(u.variable_type, pl.String)))
        if u.drop_nulls:
            long = long.filter(pl.col(u.value).is_not_null())
        return long

    def model(self, out: GoldOutput) -> pl.LazyFrame:
        self._current = out.table
        if out.unpivot and not out.lookups:
            lf = self._chunked_unpivot(out, out.unpivot)
        else:
            lf = self.filtered(out)
            for lk in out.lookups:
                lf = self._lookup(lf, lk)
            if out.unpivot:
                lf = self._unpivot(lf, out.unpivot, self._needed_after_unpivot(out))
        for name, expr in out.derive_after.items():
            lf = lf.with_columns(pl.sql_expr(expr).alias(name))
        lf = lf.with_columns([recoded(c, m) for c, m in out.recode.items()])
        for lk in out.lookups_after:
            lf = self._lookup(lf, lk)
        if out.sequence:
            seq = out.sequence
            lf = lf.with_columns(
                pl.col(seq.order_by)
                .rank("ordinal")
                .over(seq.partition_by)
                .cast(pl.Int64)
                .alias(seq.name)
            )
        mapping = out.column_map()
        if mapping is not None:
            lf = lf.select(*[pl.col(src).alias(dst) for dst, src in mapping.items()], SOURCE_ROW)
        return self.with_provenance(lf)

    def _with_fk_flags(
        self, lf: pl.LazyFrame, out: GoldOutput
    ) -> tuple[pl.LazyFrame, list[tuple[str, pl.Expr, pl.Expr]]]:
        """Join a presence flag per foreign key; a null key is allowed, an unknown one is not."""
        rules = []
        for i, fk in enumerate(out.foreign_keys):
            if fk.deferred:  # checked on the files at the end of the run
                continue
            flag, key = f"__fk_{i}", f"__fk_key_{i}"
            ref = (
                self.gold_table(fk.references)
                .select(pl.col(fk.target_column).alias(key))
                .unique()
                .with_columns(pl.lit(True).alias(flag))
            )
            lf = lf.join(ref, left_on=fk.column, right_on=key, how="left", maintain_order="left")
            orphan = pl.col(flag).is_null()
            if not fk.required:
                orphan = pl.col(fk.column).is_not_null() & orphan
            detail = pl.concat_str(
                pl.lit(f"{fk.column} '"),
                pl.col(fk.column).cast(pl.String).fill_null("<null>"),
                pl.lit(f"' not in {fk.references}.{fk.target_column}"),
            )
            rules.append((FK_RULE, orphan, detail))
        return lf, rules

    def declared_checks(self, out: GoldOutput) -> dict[str, int]:
        """Rows (or distinct values) failing each declared check, on the rows `out` reads."""
        return {check.id: self._failing(out, check) for check in out.checks}

    def checked_rows(self, out: GoldOutput, check: GoldCheck, fed: int) -> int:
        """What a declared check's count is out of: the rows it read, or their distinct
        values of `count_distinct` (1 profile of 9, not 1 of 9 x 33 descriptors)."""
        if not check.count_distinct:
            return fed
        lf = self.filtered(out)
        if not set(check.count_distinct) <= set(lf.collect_schema().names()):
            return fed  # counted on a looked-up column: the rows read are the best measure
        return lf.select(pl.struct(check.count_distinct).n_unique()).collect().item()

    def _failing(self, out: GoldOutput, check: GoldCheck) -> int:
        lf = self.filtered(out)
        for lk in [*out.lookups, *check.lookups]:
            lf = self._lookup(lf, lk)
        failing = lf.filter(~pl.sql_expr(check.condition).fill_null(True))
        if check.count_distinct:
            return failing.select(pl.struct(check.count_distinct).n_unique()).collect().item()
        return _count(failing)

    @staticmethod
    def _needed_after_unpivot(out: GoldOutput) -> set[str] | None:
        """Columns read after the unpivot, or None when expressions make that unknowable."""
        mapping = out.column_map()
        if mapping is None or out.derive_after or out.sequence or out.recode or out.lookups_after:
            return None
        return {*mapping.values(), SOURCE_ROW}

    def split_rejects(
        self, lf: pl.LazyFrame, out: GoldOutput
    ) -> tuple[pl.LazyFrame, pl.LazyFrame | None]:
        """Orphans (foreign_key) and repeats of the grain (duplicate_grain) go to quarantine."""
        lf, rules = self._with_fk_flags(lf, out)
        if out.key_columns and not grain_is_guaranteed(self.ctx.spec, out):
            keys = out.key_columns
            key_text = pl.concat_str(
                [pl.col(k).cast(pl.String).fill_null("<null>") for k in keys], separator="|"
            )
            detail = pl.concat_str(
                pl.lit(f"grain {keys} = '"), key_text, pl.lit("' repeats an earlier row")
            )
            lf = mark_later_duplicates(lf.with_row_index("__row"), keys, "__dup_grain", "__row")
            rules.append((GRAIN_RULE, pl.col("__dup_grain"), detail))
        helpers = [c for c in lf.collect_schema().names() if c.startswith("__")]
        if not rules:  # nothing to reject: one output, so polars streams without buffering
            return lf.drop(helpers), None
        return split_on_rules(lf, rules, helpers)


def promote_to_gold(ctx: BatchContext) -> LayerTransitionLog:
    started = utc_now()
    cfg = ctx.cfg
    build = GoldBuild(ctx)
    all_temps: dict[Path, Path] = {}
    rows_by_table: dict[str, int] = {}
    rows_by_rule: dict[str, int] = {}
    rule_checks: list[RuleCheck] = []
    warnings: list[str] = []
    quarantined = 0
    try:
        for out in ctx.spec.gold:
            target = cfg.table_path(Layer.GOLD, out.table)
            qfile = cfg.row_quarantine_file(Layer.GOLD, out.table, ctx.batch_id)
            qfile.parent.mkdir(parents=True, exist_ok=True)
            good, bad = build.split_rejects(build.model(out), out)
            temps = sink_all({target: good} if bad is None else {target: good, qfile: bad})
            all_temps.update(temps)
            build.produced[out.table] = temps[target]
            rows_by_table[out.table] = parquet_rows(temps[target])
            n_bad = parquet_rows(temps[qfile]) if qfile in temps else 0
            quarantined += n_bad
            by_reason = reason_counts(temps[qfile]) if n_bad else {}
            for rule, n in by_reason.items():
                rows_by_rule[rule] = rows_by_rule.get(rule, 0) + n
            fed = _count(build.filtered(out))
            empty_rows = _conserve(out, fed, rows_by_table[out.table] + n_bad, build, temps)
            if empty_rows and out.unpivot:
                rows_by_rule[f"{out.unpivot.rule}:{out.table}"] = empty_rows
            # each rule's share is of the rows it looked at: the split rules see the table's
            # (long) rows, a declared check and a reshape the silver rows the output reads
            long_rows = rows_by_table[out.table] + n_bad
            rule_checks += checks(out.table, _applied_rules(ctx, out), by_reason, long_rows)
            warned = build.declared_checks(out)
            rows_by_rule.update({f"warn:{k}": n for k, n in warned.items() if n})
            warnings += [f"{k}: {n} failed (warn only)" for k, n in warned.items() if n]
            rule_checks += checks(
                out.table,
                [(c.id, c.action) for c in out.checks],
                warned,
                {c.id: build.checked_rows(out, c, fed) for c in out.checks},
            )
            if out.unpivot and out.unpivot.drop_nulls:
                rule_checks += checks(
                    out.table, [(out.unpivot.rule, "reshape")], {out.unpivot.rule: empty_rows}, fed
                )
        _check_coverage(build.silver, ctx)
    except BaseException:
        discard(all_temps)
        raise
    silver_path = cfg.table_path(Layer.SILVER, ctx.table)
    _guard(ctx, all_temps, parquet_rows(silver_path), rows_by_table, quarantined, rows_by_rule)
    _commit_gold(all_temps, cfg)
    quarantine_files = [t for t in all_temps if t.parent != cfg.gold_path() and t.exists()]
    log = finish_log(
        ctx,
        started,
        source_layer=Layer.SILVER,
        target_layer=Layer.GOLD,
        source_files=[str(silver_path)],
        targets=[cfg.table_path(Layer.GOLD, out.table) for out in ctx.spec.gold],
        rows_in=parquet_rows(silver_path),
        rows_out=sum(rows_by_table.values()),
        rows_quarantined=quarantined,
        rows_by_rule=rows_by_rule,
        rows_by_table=rows_by_table,
        quarantine=quarantine_files[0] if quarantine_files else None,
        quarantine_files=quarantine_files,
        transforms=[_describe(out) for out in ctx.spec.gold],
        rule_checks=rule_checks,
        warnings=warnings,
    )
    return _with_column_report(log, ctx, build)


def _with_column_report(
    log: LayerTransitionLog, ctx: BatchContext, build: GoldBuild
) -> LayerTransitionLog:
    """Name the silver columns no gold table carries: declared dropped, or not carried."""
    silver_columns = data_columns(build.silver.collect_schema().names())
    not_carried = columns_not_carried(ctx.spec, silver_columns)
    dropped = [c for c in ctx.spec.drop_columns if c in silver_columns]
    unknown = [c for c in ctx.spec.drop_columns if c not in silver_columns]
    warnings = []
    if not_carried:
        warnings.append(f"columns not carried to any gold table: {', '.join(not_carried)}")
    if unknown:
        warnings.append(f"drop_columns names {unknown}, which silver does not have")
    return log.model_copy(
        update={
            "columns_not_carried": not_carried,
            "columns_dropped": dropped,
            "errors": [*log.errors, *warnings],
        }
    )


def _applied_rules(ctx: BatchContext, out: GoldOutput) -> list[tuple[str, str]]:
    """The quarantining rules `split_rejects` applies to this output."""
    applied = [(FK_RULE, "fk")] if any(not fk.deferred for fk in out.foreign_keys) else []
    if out.key_columns and not grain_is_guaranteed(ctx.spec, out):
        applied.append((GRAIN_RULE, "drop"))
    return applied


def _count(lf: pl.LazyFrame) -> int:
    return lf.select(pl.len()).collect().item()


def _conserve(
    out: GoldOutput, fed: int, produced: int, build: GoldBuild, temps: dict[Path, Path]
) -> int:
    """Rows in = rows out + quarantined, per output; an unpivot multiplies by its width.

    Returns how many source rows an unpivot with `drop_nulls` turned into no row at all.
    """
    expected = fed * build.unpivot_width.get(out.table, 1)
    if out.unpivot is not None and out.unpivot.drop_nulls:
        if produced > expected:
            raise ReconciliationError(f"gold {out.table}: {produced} rows, at most {expected}")
        rows = [pl.scan_parquet(p).select(SOURCE_ROW) for p in temps.values()]
        return fed - pl.concat(rows).select(pl.col(SOURCE_ROW).n_unique()).collect().item()
    if produced != expected:
        raise ReconciliationError(
            f"gold {out.table}: {fed} silver rows should give {expected} rows, got {produced} "
            "out + quarantined; nothing was written"
        )
    return 0


def _check_coverage(silver: pl.LazyFrame, ctx: BatchContext) -> None:
    """Every silver row is fed to at least one gold output: their `where`s cover silver."""
    filters = [pl.sql_expr(out.where) for out in ctx.spec.gold if out.where]
    if len(filters) < len(ctx.spec.gold):
        return  # an output without `where` takes every row
    fed_somewhere = pl.any_horizontal(filters).fill_null(False)
    lost = silver.filter(~fed_somewhere).select(SOURCE_ROW).head(5).collect()
    if len(lost):
        raise ReconciliationError(
            f"gold {ctx.table}: silver rows {lost[SOURCE_ROW].to_list()}... reach no gold "
            "table; declare a gold output (or `where`) that covers them; nothing was written"
        )


def _guard(
    ctx: BatchContext,
    temps: dict[Path, Path],
    rows_in: int,
    rows_by_table: dict[str, int],
    quarantined: int,
    rows_by_rule: dict[str, int],
) -> None:
    """Volume guard before any gold table is replaced: quarantine share, then row drop."""
    gold_dir = ctx.cfg.gold_path()
    tables = {t: tmp for t, tmp in temps.items() if t.parent == gold_dir}
    quarantines = {t: tmp for t, tmp in temps.items() if t.parent != gold_dir}
    rows_out = sum(rows_by_table.values())
    counts = guard_counts(
        rows_in, rows_out, quarantined, rows_by_rule, list(quarantines), rows_by_table
    )
    file = str(ctx.source_path)
    breach = quarantine_share_breach(
        ctx.spec,
        Layer.GOLD,
        file=file,
        rows_out=rows_out,
        rows_quarantined=quarantined,
        rows_by_rule=rows_by_rule,
        counts=counts,
    ) or row_drop_breach(ctx.spec, ctx.cfg, rows_by_table, file=file, counts=counts)
    refuse_batch(breach, tables, quarantines)


def _commit_gold(temps: dict[Path, Path], cfg: PipelineConfig) -> None:
    gold = {t: tmp for t, tmp in temps.items() if t.parent == cfg.gold_path()}
    commit(gold)
    for target, tmp in temps.items():
        if target not in gold:
            commit_row_quarantine(tmp, target)


def _describe(out: GoldOutput) -> str:
    steps = [f"{out.model}:{out.table}"]
    if out.where:
        steps.append(f"where {out.where}")
    if out.lookups:
        steps.append(f"lookups {len(out.lookups)}")
    if out.recode:
        steps.append("recode " + ",".join(out.recode))
    if out.lookups_after:
        steps.append(f"lookups_after {len(out.lookups_after)}")
    if out.unpivot:
        steps.append("unpivot")
    if out.foreign_keys:
        steps.append("fk " + ",".join(f"{f.column}->{f.references}" for f in out.foreign_keys))
    return "; ".join(steps)

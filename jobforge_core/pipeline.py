"""Plan and run sources without any orchestrator: the plain-Python face of the pipeline.

Prefect tasks call the same functions; this module is what they wrap.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jobforge_core.config import Layer, PipelineConfig
from jobforge_core.errors import DataError, SchemaChanged, SpecError
from jobforge_core.history import keep_previous, prune, roll_back, undo_keep
from jobforge_core.lineage import write_log
from jobforge_core.models import (
    LayerTransitionLog,
    RuleCheck,
    RunOrigin,
    TransitionStatus,
    utc_now,
)
from jobforge_core.provenance import batch_id_for, content_hash
from jobforge_core.quarantine import quarantine_file
from jobforge_core.schema_drift import schema_changes
from jobforge_core.spec import SourceSpec, gold_dependencies, gold_order
from jobforge_core.state import SourceState, read_state, write_state
from jobforge_core.transitions import (
    promote_to_bronze,
    promote_to_gold,
    promote_to_silver,
    stage_source,
)
from jobforge_core.transitions.context import BatchContext

TRANSITIONS: dict[Layer, Callable[[BatchContext], LayerTransitionLog]] = {
    Layer.STAGED: stage_source,
    Layer.BRONZE: promote_to_bronze,
    Layer.SILVER: promote_to_silver,
    Layer.GOLD: promote_to_gold,
}
PREVIOUS = {
    Layer.STAGED: "source",
    Layer.BRONZE: "staged",
    Layer.SILVER: "bronze",
    Layer.GOLD: "silver",
}


@dataclass(frozen=True)
class SourcePlan:
    """One source's batch for this run: which file, which content, and whether to skip it."""

    spec: SourceSpec
    source_path: Path
    content_sha256: str
    batch_id: str
    unchanged: bool
    ingested_at: datetime = field(default_factory=utc_now)

    @property
    def name(self) -> str:
        return self.spec.name

    def context(self, cfg: PipelineConfig) -> BatchContext:
        return BatchContext(
            cfg=cfg,
            spec=self.spec,
            source_path=self.source_path,
            content_sha256=self.content_sha256,
            batch_id=self.batch_id,
            ingested_at=self.ingested_at,
        )


def select_specs(specs: dict[str, SourceSpec], names: Iterable[str] | None) -> list[str]:
    if not names:
        return list(specs)
    unknown = sorted(set(names) - set(specs))
    if unknown:
        raise SpecError(f"unknown source(s) {unknown}; declared: {sorted(specs)}")
    return list(dict.fromkeys(names))


def source_file(cfg: PipelineConfig, spec: SourceSpec) -> Path:
    """The file a spec names; a glob (`employment_*_noc2021.csv`) picks its newest match by
    name (COPS 2025-2034 sorts after 2024-2033), so a new release needs no spec edit. No
    match: the pattern's path, reported missing like any absent file."""
    base = cfg.resolved_source_dir()
    if not glob.has_magic(spec.file):
        return base / spec.file
    matches = sorted(p for p in base.glob(spec.file) if p.is_file())
    return matches[-1] if matches else base / spec.file


def plan_sources(
    specs: dict[str, SourceSpec],
    cfg: PipelineConfig,
    names: Iterable[str] | None = None,
    force: bool = False,
    files: dict[str, Path] | None = None,
) -> dict[str, SourcePlan]:
    """Hash each selected file; a source is unchanged when its batch and its gold inputs are.

    `files` gives a source a file of the caller's choice (`jobforge run --file SOURCE=PATH`:
    load a given release) instead of the one its spec names.
    """
    selected = set(select_specs(specs, names))
    unknown = sorted(set(files or {}) - set(specs))
    if unknown:
        raise SpecError(f"--file for unknown source(s) {unknown}; declared: {sorted(specs)}")
    absent = sorted(f"{n}={p}" for n, p in (files or {}).items() if not Path(p).is_file())
    if absent:
        raise SpecError(f"--file names no file: {', '.join(absent)}")
    now = utc_now()
    plans: dict[str, SourcePlan] = {}
    for name in gold_order(specs):
        spec = specs[name]
        path = Path((files or {})[name]) if name in (files or {}) else source_file(cfg, spec)
        digest = content_hash(path) if path.is_file() else "missing"
        batch = batch_id_for(name, digest, spec.fingerprint())
        state = read_state(cfg, name)
        same = (
            not force
            and digest != "missing"
            and state is not None
            and state.batch_id == batch
            and all(cfg.table_path(Layer.GOLD, g.table).exists() for g in spec.gold)
            and all(plans[d].unchanged for d in gold_dependencies(spec, specs) if d in plans)
        )
        plans[name] = SourcePlan(spec, path, digest, batch, same, now)
    return {n: p for n, p in plans.items() if n in selected}


def quarantine_failed_source(
    plan: SourcePlan,
    cfg: PipelineConfig,
    layer: Layer,
    exc: DataError,
    origin: RunOrigin | None = None,
) -> LayerTransitionLog:
    """File-level quarantine plus a failed transition log, so the audit trail shows the stop."""
    report = {**exc.report(), "layer": exc.layer or layer.value}
    target = quarantine_file(
        cfg,
        source_name=plan.name,
        batch_id=plan.batch_id,
        source_path=plan.source_path,
        report=report,
    )
    log = LayerTransitionLog(
        source_name=plan.name,
        batch_id=plan.batch_id,
        source_layer=PREVIOUS[layer],
        target_layer=layer,
        source_files=[str(plan.source_path)],
        row_count_in=0,
        row_count_out=0,
        quarantine_file=str(target),
        quarantine_files=[str(target)],
        started_at=plan.ingested_at,
        completed_at=utc_now(),
        status=TransitionStatus.FAILED,
        errors=[str(exc)],
        rule_checks=[
            RuleCheck(table_name=plan.name, rule=exc.rule, action="fail", rows=exc.rows or 0)
        ]
        if exc.rule
        else [],
        **(origin.model_dump() if origin else {}),
    )
    write_log(cfg, log)
    return log


def record_success(plan: SourcePlan, cfg: PipelineConfig) -> None:
    write_state(
        cfg,
        SourceState(
            source=plan.name,
            batch_id=plan.batch_id,
            content_sha256=plan.content_sha256,
            spec_fingerprint=plan.spec.fingerprint(),
            source_file=str(plan.source_path),
            gold_tables=[g.table for g in plan.spec.gold],
        ),
    )


def layer_tables(spec: SourceSpec, layer: Layer) -> list[str]:
    """The tables one layer of a source writes: the source's own, or its gold outputs."""
    return [out.table for out in spec.gold] if layer is Layer.GOLD else [spec.name]


def run_transition(
    plan: SourcePlan, cfg: PipelineConfig, layer: Layer, origin: RunOrigin | None = None
) -> LayerTransitionLog:
    """Run one layer for one source, persist its log; a data error quarantines the file.

    The versions this batch replaces are linked into history first: undone if the transition
    fails before replacing them, put back if the spec rejects the batch's schema changes.
    `origin` (flow and task run ids, UI URL) goes into the log before it is written.
    """
    kept = [
        k
        for table in layer_tables(plan.spec, layer)
        if (k := keep_previous(cfg, layer, table, plan.batch_id)) is not None
    ]
    try:
        log = TRANSITIONS[layer](plan.context(cfg))
        changes = [
            change
            for k in kept
            for change in schema_changes(k.table, k.file, cfg.table_path(layer, k.table))
        ]
        if changes and plan.spec.on_schema_change == "fail":
            for k in kept:
                roll_back(cfg, k)
            raise SchemaChanged(
                "schema changed and the spec says on_schema_change: fail; the previous "
                f"version is kept: {'; '.join(c.describe() for c in changes)}",
                file=str(plan.source_path),
                layer=layer.value,
                column=changes[0].column,
                rule="on_schema_change",
            )
    except BaseException as exc:
        for k in kept:
            undo_keep(cfg, k)
        if isinstance(exc, DataError):
            quarantine_failed_source(plan, cfg, layer, exc, origin)
        raise
    for table in layer_tables(plan.spec, layer):
        prune(cfg, layer, table, plan.spec.history_retention)
    log = log.model_copy(
        update={
            "schema_changes": changes,
            "replaced_batches": {k.table: k.batch_id for k in kept},
            "errors": [*log.errors, *(f"schema change: {c.describe()}" for c in changes)],
            **(origin.model_dump() if origin else {}),
        }
    )
    write_log(cfg, log)
    if layer is Layer.GOLD:
        record_success(plan, cfg)
    return log


def run_source(plan: SourcePlan, cfg: PipelineConfig) -> list[LayerTransitionLog]:
    """All four layers in order, in this process; for scripts, notebooks and benchmarks."""
    return [run_transition(plan, cfg, layer) for layer in Layer]

"""Plan and run sources without any orchestrator: the plain-Python face of the pipeline.

Prefect tasks call the same functions; this module is what they wrap.
"""

from __future__ import annotations

import glob
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from jobforge_core.checks.quarantine import quarantine_file
from jobforge_core.checks.schema_drift import schema_changes
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import (
    DataError,
    SchemaChanged,
    SourceFileError,
    SpecError,
    StorageError,
    disk_full_message,
    spec_mismatch,
)
from jobforge_core.common.fence import fenced_source as fenced
from jobforge_core.common.models import (
    LayerTransitionLog,
    RuleCheck,
    RunOrigin,
    TransitionStatus,
    utc_now,
)
from jobforge_core.common.provenance import batch_id_for
from jobforge_core.history.batches import batch_of, keep_previous, prune, roll_back, undo_keep
from jobforge_core.history.transition_logs import write_log
from jobforge_core.openlineage.emitter import emitter_for
from jobforge_core.run.checksums import fingerprint
from jobforge_core.run.registry import record_spec
from jobforge_core.run.state import SourceState, mark_incomplete, read_state, write_state
from jobforge_core.sources.snapshot import SourceUnreadable, drop_snapshot, inspect, take_snapshot
from jobforge_core.sources.spec import SourceSpec, gold_dependencies, gold_order
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
    snapshot: Path | None = None  # the private copy staging reads (see snapshot.py)
    error: str | None = None  # why the file cannot be read: the source is quarantined
    fault: str | None = None  # why the data root cannot take it (disk full): the source fails

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
            read_path=self.snapshot,
        )


def select_specs(specs: dict[str, SourceSpec], names: Iterable[str] | None) -> list[str]:
    """The named sources, each with its child tables (read from the same file, they follow
    it: a parent run alone would leave its children built from another batch)."""
    if not names:
        return list(specs)
    unknown = sorted(set(names) - set(specs))
    if unknown:
        raise SpecError(f"unknown source(s) {unknown}; declared: {sorted(specs)}")
    selected = list(dict.fromkeys(names))
    for name in selected:  # grows while it is read: grandchildren follow their child
        selected += [n for n, s in specs.items() if s.parent == name and n not in selected]
    return selected


def source_file(cfg: PipelineConfig, spec: SourceSpec) -> Path:
    """The file a spec names; a glob (`employment_*_noc2021.csv`) picks its newest match by
    name (COPS 2025-2034 sorts after 2024-2033), so a new release needs no spec edit. No
    match: the pattern's path, reported missing like any absent file."""
    base = cfg.resolved_source_dir()
    if not glob.has_magic(spec.file):
        return base / spec.file
    # glob.glob, not Path.glob: an absolute pattern is then fenced, not a NotImplementedError.
    found = sorted((base / p for p in glob.glob(spec.file, root_dir=base)), key=release_order)
    files = [p for p in found if p.is_file()]
    # no regular file matches but something does (a directory, a FIFO): that, so that the
    # source's error says what it is rather than "not found"
    chosen = files or found
    return chosen[-1] if chosen else base / spec.file


def release_order(path: Path) -> tuple:
    """Releases ordered by the numbers in their names, compared as numbers (v1.10 after
    v1.9, 2025_2034 after 2024_2033), then by the name."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", path.name))
    return numbers, path.name


def plan_sources(
    specs: dict[str, SourceSpec],
    cfg: PipelineConfig,
    names: Iterable[str] | None = None,
    force: bool = False,
    files: dict[str, Path] | None = None,
) -> dict[str, SourcePlan]:
    """Hash each file; snapshot the ones that will run, so what is staged is what was hashed.

    A source is unchanged when its batch, its gold tables and the gold tables it was built
    against (foreign keys, lookups) are the same as at its last success. Naming a source also
    runs the sources whose gold depends on it when it changes (DESIGN invariant 11).
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
        if name in (files or {}):
            path = Path((files or {})[name])  # named by the operator: --file SOURCE=PATH
        else:
            path = fenced(
                name,
                spec.file,
                source_file(cfg, spec),
                cfg.resolved_source_dir(),
                cfg.allowed_roots,
            )
        seen = inspect(path)
        batch = batch_id_for(name, seen.sha256, spec.fingerprint())
        state = read_state(cfg, name)
        deps = gold_dependencies(spec, specs)
        same = (
            not force
            and seen.error is None
            and state is not None
            and state.batch_id == batch
            and state.complete
            and layers_hold(cfg, spec, batch)
            and all(plans[d].unchanged for d in deps if d in plans)
            and upstream_matches(cfg, spec, state)
        )
        plans[name] = SourcePlan(spec, path, seen.sha256, batch, same, now, error=seen.error)
        named_deps = [d for d in deps if d in selected]
        if (
            name not in selected
            and not same
            and state is not None  # its gold exists and may hold codes the new dimension lacks
            and named_deps
            and (
                any(not plans[d].unchanged for d in named_deps)
                or not upstream_matches(cfg, spec, state)  # built against an older batch
            )
        ):
            selected.add(name)  # a built dependent of a named source follows it
    return {
        n: p if p.unchanged else with_snapshot(p, cfg) for n, p in plans.items() if n in selected
    }


def layers_hold(cfg: PipelineConfig, spec: SourceSpec, batch: str) -> bool:
    """Every layer table of the source exists and holds `batch`: what its state claims. A
    restore or a run killed between two layers leaves them disagreeing, and the source is then
    reprocessed rather than called unchanged."""
    for layer in Layer:
        for table in layer_tables(spec, layer):
            path = cfg.table_path(layer, table)
            if not path.is_file() or batch_of(path) != batch:
                return False
    return True


def upstream_matches(cfg: PipelineConfig, spec: SourceSpec, state: SourceState) -> bool:
    """Were the gold tables this source reads the same batches when it last reached gold?"""
    return state.upstream == upstream_batches(cfg, spec)


def upstream_batches(cfg: PipelineConfig, spec: SourceSpec) -> dict[str, str]:
    """Batch id of each gold table (other than its own) this source's gold step reads."""
    own = {out.table for out in spec.gold}
    tables = {t for out in spec.gold for t in out.read_tables(deferred=False)}
    return {t: gold_batch(cfg, t) for t in sorted(tables - own)}


def gold_batch(cfg: PipelineConfig, table: str) -> str:
    """The batch a gold table holds (one batch per table), or "missing"."""
    path = cfg.table_path(Layer.GOLD, table)
    if not path.is_file():
        return "missing"
    return batch_of(path) or "unknown"


def with_snapshot(plan: SourcePlan, cfg: PipelineConfig) -> SourcePlan:
    """The plan re-keyed on a private copy of its file: batch id and hash of the copied bytes."""
    if plan.error is not None or plan.snapshot is not None:
        return plan
    try:
        copy, sha = take_snapshot(plan.source_path, cfg.staged_path(), plan.name)
    except SourceUnreadable as exc:
        return replace(plan, error=f"cannot read the file: {exc.strerror or exc}")
    except StorageError as exc:
        return replace(plan, fault=str(exc))
    batch = batch_id_for(plan.name, sha, plan.spec.fingerprint())
    return replace(plan, snapshot=copy, content_sha256=sha, batch_id=batch)


def release(plan: SourcePlan) -> None:
    """Remove the plan's snapshot once its chain has ended (success or not)."""
    drop_snapshot(plan.snapshot)


def quarantine_failed_source(
    plan: SourcePlan,
    cfg: PipelineConfig,
    layer: Layer,
    exc: DataError,
    origin: RunOrigin | None = None,
    begun: LayerTransitionLog | None = None,
) -> LayerTransitionLog:
    """File-level quarantine plus a failed transition log, so the audit trail shows the stop."""
    report = {**exc.report(), "layer": exc.layer or layer.value}
    target = quarantine_file(
        cfg,
        source_name=plan.name,
        batch_id=plan.batch_id,
        source_path=plan.source_path,
        report=report,
        copy_from=plan.snapshot,
    )
    # A refused batch (volume guard) reports what it would have written, and where its
    # quarantined rows went; other data errors stop before any count exists.
    counts = dict(getattr(exc, "counts", {}))
    row_files = [q for q in counts.pop("quarantine_files", []) if Path(q).exists()]
    log = LayerTransitionLog(
        **({"transition_id": begun.transition_id} if begun else {}),
        source_name=plan.name,
        batch_id=plan.batch_id,
        source_layer=PREVIOUS[layer],
        target_layer=layer,
        source_files=[str(plan.source_path)],
        # the batch's file hash, as the staged log of a success has it (not the sentinel of
        # a file that could not be read)
        source_sha256=plan.content_sha256 if layer is Layer.STAGED and not plan.error else None,
        **{"row_count_in": 0, "row_count_out": 0, **counts},
        quarantine_file=str(target),
        quarantine_files=[str(target), *row_files],
        started_at=begun.started_at if begun else plan.ingested_at,
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
    mark_incomplete(cfg, plan.name)
    return log


def record_success(plan: SourcePlan, cfg: PipelineConfig) -> None:
    record_spec(cfg, plan.spec)  # the data root knows which spec built these tables
    write_state(
        cfg,
        SourceState(
            source=plan.name,
            batch_id=plan.batch_id,
            content_sha256=plan.content_sha256,
            spec_fingerprint=plan.spec.fingerprint(),
            source_file=str(plan.source_path),
            gold_tables=[g.table for g in plan.spec.gold],
            upstream=upstream_batches(cfg, plan.spec),
            gold_files={
                g.table: fingerprint(cfg.table_path(Layer.GOLD, g.table))
                for g in plan.spec.gold
                if cfg.table_path(Layer.GOLD, g.table).is_file()
            },
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
    Each transition is an OpenLineage run (START, then COMPLETE or FAIL) whose run id is the
    transition id; emitting never fails the transition (jobforge_core.openlineage.emitter).
    """
    begun = _provisional_log(plan, layer, uuid.uuid4().hex, origin)
    lineage = emitter_for(cfg)
    if lineage is not None:
        lineage.started(begun, plan.spec, plan.content_sha256)
    failed: list[LayerTransitionLog] = []  # the failed log, when a data error wrote one
    try:
        log = _run_transition(plan, cfg, layer, origin, begun, failed)
    except BaseException as exc:
        if lineage is not None:
            end = failed[0] if failed else _stopped(begun, exc)
            lineage.finished(end, plan.spec, plan.content_sha256)
        raise
    if lineage is not None:
        lineage.finished(log, plan.spec, plan.content_sha256)
    return log


def _provisional_log(
    plan: SourcePlan, layer: Layer, transition_id: str, origin: RunOrigin | None
) -> LayerTransitionLog:
    """The log of a transition that has just begun: its id and start time are the ones the
    persisted log gets, so the START event and a replay of the log agree. Not persisted."""
    return LayerTransitionLog(
        transition_id=transition_id,
        source_name=plan.name,
        batch_id=plan.batch_id,
        source_layer=PREVIOUS[layer],
        target_layer=layer,
        source_files=[str(plan.source_path)],
        source_sha256=plan.content_sha256 if layer is Layer.STAGED and not plan.error else None,
        row_count_in=0,
        row_count_out=0,
        started_at=utc_now(),
        **(origin.model_dump() if origin else {}),
    )


def _stopped(begun: LayerTransitionLog, error: BaseException) -> LayerTransitionLog:
    """A transition stopped by an error that wrote no log (not a data error): only its FAIL
    event is built from this."""
    return begun.model_copy(
        update={
            "completed_at": utc_now(),
            "status": TransitionStatus.FAILED,
            "errors": [f"{type(error).__name__}: {error}"],
        }
    )


def _run_transition(
    plan: SourcePlan,
    cfg: PipelineConfig,
    layer: Layer,
    origin: RunOrigin | None,
    begun: LayerTransitionLog,
    failed: list[LayerTransitionLog],
) -> LayerTransitionLog:
    kept = [
        k
        for table in layer_tables(plan.spec, layer)
        if (k := keep_previous(cfg, layer, table, plan.batch_id)) is not None
    ]
    try:
        if plan.fault is not None:
            raise StorageError(plan.fault)
        if plan.error is not None:
            raise SourceFileError(plan.error, file=str(plan.source_path), layer=layer.value)
        # Before the layer can be replaced: whatever stops the chain from here (a data error,
        # a bug, a full disk, a killed process), the next run must re-process the source even
        # if its file is back to the bytes gold holds. Gold's success marks it complete.
        mark_incomplete(cfg, plan.name)
        log = TRANSITIONS[layer](plan.context(cfg))
        changes = [
            change
            for k in kept
            for change in schema_changes(k.table, k.file, cfg.table_path(layer, k.table))
        ]
        policy = plan.spec.on_schema_change
        refused = [
            c
            for c in changes
            if policy == "fail"
            or (
                policy == "evolve"
                and not (c.change in ("added", "removed") and plan.spec.evolves(c.column))
            )
        ]
        if refused:
            for k in kept:
                roll_back(cfg, k)
            accepts = "" if policy == "fail" else " (it accepts unpivoted columns coming and going)"
            raise SchemaChanged(
                f"schema changed and the spec says on_schema_change: {policy}{accepts}; the "
                f"previous version is kept: {'; '.join(c.describe() for c in refused)}",
                file=str(plan.source_path),
                layer=layer.value,
                column=refused[0].column,
                rule="on_schema_change",
            )
    except BaseException as exc:
        for k in kept:
            undo_keep(cfg, k)
        _raise_if_disk_full(exc, cfg, f"{layer.value} of {plan.name}")
        mismatch = spec_mismatch(
            exc,
            file=str(plan.source_path),
            layer=layer.value,
            spec=plan.spec.spec_path or plan.spec.name,
        )
        error = mismatch or exc
        if isinstance(error, DataError):
            try:
                failed.append(quarantine_failed_source(plan, cfg, layer, error, origin, begun))
            except Exception as failed:
                _raise_if_disk_full(failed, cfg, f"quarantine of {plan.name}")
                raise
        if mismatch is not None:
            raise mismatch from exc
        raise
    for table in layer_tables(plan.spec, layer):
        prune(cfg, layer, table, plan.spec.history_retention)
    log = log.model_copy(
        update={
            "transition_id": begun.transition_id,
            "started_at": begun.started_at,
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


def _raise_if_disk_full(exc: BaseException, cfg: PipelineConfig, doing: str) -> None:
    """A full disk is said as such, whatever library noticed it (never 'unreadable file')."""
    if isinstance(exc, StorageError) or not isinstance(exc, Exception):
        return
    message = disk_full_message(exc, cfg.data_root)
    if message is not None:
        raise StorageError(f"{doing}: {message}") from exc


def run_source(plan: SourcePlan, cfg: PipelineConfig) -> list[LayerTransitionLog]:
    """All four layers in order, in this process; for scripts, notebooks and benchmarks."""
    plan = with_snapshot(plan, cfg)
    try:
        return [run_transition(plan, cfg, layer) for layer in Layer]
    finally:
        release(plan)

"""OpenLineage run events for one layer transition, built with the official client's classes.

One transition = one OpenLineage run: START when it begins, COMPLETE or FAIL from its
`LayerTransitionLog`. The events are a function of the log, the spec and the files under the
data root, so `jobforge openlineage export` rebuilds the same events from the kept logs long
after the run (the file of an older batch is found in history; when it is gone, the dataset
is still named, without its schema and statistics).

This module imports `openlineage.client` at import time: only `emitter.py` and the export
command import it, when there is an event to build (the CLI's start time stays low).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import attr
import polars as pl
import pyarrow.parquet as pq
from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.facet_v2 import (
    DatasetFacet,
    column_lineage_dataset,
    data_quality_assertions_dataset,
    data_quality_metrics_dataset,
    dataset_version_dataset,
    datasource_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    lifecycle_state_change_dataset,
    output_statistics_output_dataset,
    ownership_dataset,
    ownership_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    symlinks_dataset,
)
from openlineage.client.serde import Serde

import jobforge_core
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import LayerTransitionLog, TransitionStatus
from jobforge_core.common.provenance import RAGGED, data_columns
from jobforge_core.common.table_names import split_name
from jobforge_core.history.batches import batch_of, history_file
from jobforge_core.openlineage import naming
from jobforge_core.sources.column_lineage import gold_column_lineage
from jobforge_core.sources.spec import SourceSpec

# JobForge has no public site: the reserved `.invalid` host says so. The custom facet's
# schema ships in the package (jobforge_core/openlineage/schemas/) under this $id.
SITE = "https://jobforge.invalid"
PRODUCER = f"{SITE}/jobforge/{jobforge_core.__version__}"
SCHEMA_DIR = Path(__file__).parent / "schemas"
QUARANTINE_FACET = "jobforge_quarantine"
QUARANTINE_SCHEMA_URL = (
    f"{SITE}/spec/facets/1-0-0/JobForgeQuarantineDatasetFacet.json"
    "#/$defs/JobForgeQuarantineDatasetFacet"
)
PREVIOUS = {Layer.BRONZE: Layer.STAGED, Layer.SILVER: Layer.BRONZE, Layer.GOLD: Layer.SILVER}
LAYER_DOCS = {
    Layer.STAGED: "Reads the source file as it is: every value as text, original headers, BOM "
    "removed, every record kept, provenance added.",
    Layer.BRONZE: "Technical standardisation: snake_case names, declared types, null markers, "
    "number formats; ragged records and values that do not cast go to quarantine.",
    Layer.SILVER: "Cleaning and validation: trim, normalisation, declared corrections, key "
    "deduplication, expectations; failing rows go to quarantine.",
    Layer.GOLD: "The business model: dimensions and facts (filters, derived columns, lookups, "
    "unpivot, sequences), foreign keys checked (orphans go to quarantine).",
}
# Rule checks that test the data (assertions); recode and reshape are declared transforms.
ASSERTED = {"drop", "cast", "warn", "fail", "fk"}
RULE_DESCRIPTIONS = {
    "ragged_record": "every record has as many fields as the header",
    "cast_error": "every value casts to its declared type",
    "null_key": "no key column is null",
    "duplicate_key": "the key is unique",
    "foreign_key": "every code exists in the referenced dimension",
}


@attr.define
class JobForgeQuarantineDatasetFacet(DatasetFacet):
    """Rows (or the file) a transition sent to quarantine, by rule (custom facet)."""

    layer: str
    batchId: str  # noqa: N815
    rowsQuarantined: int  # noqa: N815
    rowsByRule: dict[str, int] = attr.field(factory=dict)  # noqa: N815
    files: list[str] = attr.field(factory=list)
    fileQuarantined: bool = False  # noqa: N815
    error: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return QUARANTINE_SCHEMA_URL


@attr.define
class DataQualityMetrics(data_quality_metrics_dataset.DataQualityMetricsDatasetFacet):
    """The standard facet, declared at the spec's published version 1-0-0: the client labels
    it 1-0-1 (which adds `captureDate`), a version the published spec folder does not hold.
    JobForge fills only 1-0-0 fields, so the event validates against the published schema."""

    @staticmethod
    def _get_schema() -> str:
        return (
            "https://openlineage.io/spec/facets/1-0-0/DataQualityMetricsDatasetFacet.json"
            "#/$defs/DataQualityMetricsDatasetFacet"
        )


@dataclass(frozen=True)
class EventContext:
    """What an event needs besides the log: where the data root is, the source's spec (None
    when it is no longer declared: the events then lack its documentation), the namespace."""

    cfg: PipelineConfig
    namespace: str
    spec: SourceSpec | None = None
    source_sha256: str | None = None  # of the batch's file (the staged log holds it)


def _p(cls: type, **kwargs: Any) -> Any:
    return cls(**kwargs, producer=PRODUCER)


def to_json(event: RunEvent) -> str:
    return Serde.to_json(event)


def to_dict(event: RunEvent) -> dict[str, Any]:
    return json.loads(Serde.to_json(event))


def _time(value: datetime | None) -> str:
    return (value or datetime.now().astimezone()).isoformat()


def _layer(log: LayerTransitionLog) -> Layer:
    return Layer(log.target_layer)


def _tables(log: LayerTransitionLog, spec: SourceSpec | None) -> list[str]:
    layer = _layer(log)
    if spec is not None:
        return [o.table for o in spec.gold] if layer is Layer.GOLD else [spec.name]
    named = [Path(f).stem for f in log.target_files]
    return named or [log.source_name]


# --- job and run -------------------------------------------------------------------------------


def _job(log: LayerTransitionLog, ctx: EventContext) -> Job:
    layer = _layer(log)
    facets: dict[str, Any] = {
        "jobType": _p(
            job_type_job.JobTypeJobFacet,
            processingType="BATCH",
            integration="JOBFORGE",
            jobType="LAYER_TRANSITION",
        ),
        "documentation": _p(
            documentation_job.DocumentationJobFacet,
            description=f"{log.source_name}: {_previous_name(layer)} -> {layer.value}. "
            f"{LAYER_DOCS[layer]}",
        ),
    }
    if ctx.spec is not None:
        facets["ownership"] = _p(
            ownership_job.OwnershipJobFacet,
            owners=[
                ownership_job.Owner(name=ctx.spec.owner, type="OWNER"),
                ownership_job.Owner(name=ctx.spec.steward, type="STEWARD"),
            ],
        )
    return Job(namespace=ctx.namespace, name=naming.job_name(log.source_name, layer), facets=facets)


def _previous_name(layer: Layer) -> str:
    return PREVIOUS[layer].value if layer in PREVIOUS else "source"


def _run(log: LayerTransitionLog, ctx: EventContext, failed: bool) -> Run:
    from openlineage.client.constants import __version__ as client_version

    facets: dict[str, Any] = {
        "processing_engine": _p(
            processing_engine_run.ProcessingEngineRunFacet,
            version=jobforge_core.__version__,
            name="JobForge",
            openlineageAdapterVersion=client_version,
        )
    }
    if log.flow_run_id:
        facets["parent"] = _p(
            parent_run.ParentRunFacet,
            run=parent_run.Run(runId=naming.run_id(log.flow_run_id)),
            job=parent_run.Job(namespace=ctx.namespace, name=log.flow_name or "prefect_flow"),
        )
    if failed:
        facets["errorMessage"] = _p(
            error_message_run.ErrorMessageRunFacet,
            message="; ".join(log.errors) or "the transition failed",
            programmingLanguage="python",
        )
    return Run(runId=naming.run_id(log.transition_id), facets=facets)


# --- datasets ----------------------------------------------------------------------------------


def _batch_file(cfg: PipelineConfig, layer: Layer, table: str, batch: str) -> Path | None:
    """The parquet holding `batch` of a table: the current file, else its copy in history."""
    current = cfg.table_path(layer, table)
    try:
        if current.is_file() and batch_of(current) == batch:
            return current
    except Exception:  # unreadable footer: no facets from it
        return None
    kept = history_file(cfg, layer, table, batch)
    return kept if kept.is_file() else None


def _type_name(dtype: pl.DataType) -> str:
    return "String" if isinstance(dtype, (pl.Enum, pl.Categorical)) else str(dtype)


def _descriptions(spec: SourceSpec | None, table: str) -> dict[str, str]:
    from jobforge_core.sources.glossary import PROVENANCE_DESCRIPTIONS

    if spec is None:
        return dict(PROVENANCE_DESCRIPTIONS)
    out = next((o for o in spec.gold if o.table == table), None)
    return {
        **spec.column_descriptions,
        **(out.column_descriptions if out else {}),
        **PROVENANCE_DESCRIPTIONS,
    }


def _schema(columns: dict[str, str], descriptions: dict[str, str]) -> Any:
    return _p(
        schema_dataset.SchemaDatasetFacet,
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=name,
                type=dtype,
                description=descriptions.get(name) or None,
                ordinal_position=i,
            )
            for i, (name, dtype) in enumerate(columns.items(), start=1)
        ],
    )


def _file_facts(path: Path) -> tuple[dict[str, str], int, int, dict[str, int]]:
    """Schema, rows, bytes and null counts per column, all from the parquet footer."""
    schema = {n: _type_name(t) for n, t in pl.read_parquet_schema(path).items()}
    meta = pq.ParquetFile(path).metadata
    nulls: dict[str, int] = dict.fromkeys(schema, 0)
    known = set(schema)
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            name = column.path_in_schema.split(".")[0]
            stats = column.statistics
            if name in nulls and stats is not None and stats.has_null_count:
                nulls[name] += stats.null_count
            else:
                known.discard(name)
    return schema, meta.num_rows, path.stat().st_size, {n: nulls[n] for n in schema if n in known}


def _owners(spec: SourceSpec | None) -> dict[str, Any]:
    if spec is None:
        return {}
    return {
        "ownership": _p(
            ownership_dataset.OwnershipDatasetFacet,
            owners=[
                ownership_dataset.Owner(name=spec.owner, type="OWNER"),
                ownership_dataset.Owner(name=spec.steward, type="STEWARD"),
            ],
        )
    }


def _documentation(spec: SourceSpec | None, table: str) -> dict[str, Any]:
    if spec is None:
        return {}
    out = next((o for o in spec.gold if o.table == table), None)
    text = (out.description if out else "") or spec.description
    if not text:
        return {}
    return {"documentation": _p(documentation_dataset.DocumentationDatasetFacet, description=text)}


def _table_identity(
    ctx: EventContext, layer: Layer, table: str, own: bool = True
) -> dict[str, Any]:
    """Symlink and data source of a layer table; its documentation and owners when the table
    is this source's (`own`), not a dimension of another source that gold reads."""
    facets = {
        "symlinks": _p(
            symlinks_dataset.SymlinksDatasetFacet,
            identifiers=[
                symlinks_dataset.Identifier(
                    namespace=ctx.namespace,
                    name=naming.logical_name(layer, table),
                    type="TABLE",
                )
            ],
        ),
        "dataSource": _p(
            datasource_dataset.DatasourceDatasetFacet,
            name=ctx.namespace,
            uri=ctx.cfg.data_root.as_uri(),
        ),
    }
    if own:
        facets.update(_documentation(ctx.spec, table))
        facets.update(_owners(ctx.spec))
    return facets


def _source_input(log: LayerTransitionLog, ctx: EventContext, full: bool) -> InputDataset:
    path = Path(log.source_files[0]) if log.source_files else Path(log.source_name)
    namespace, name = naming.file_dataset(path)
    facets: dict[str, Any] = {
        "dataSource": _p(
            datasource_dataset.DatasourceDatasetFacet,
            name="source files",
            uri=path.absolute().parent.as_uri(),
        ),
        **_owners(ctx.spec),
    }
    sha = log.source_sha256 or ctx.source_sha256
    if sha and re.fullmatch(r"[0-9a-f]{64}", sha):  # not the sentinel of an unreadable file
        facets["version"] = _p(
            dataset_version_dataset.DatasetVersionDatasetFacet, datasetVersion=sha
        )
    if ctx.spec is not None and ctx.spec.description:
        facets["documentation"] = _p(
            documentation_dataset.DocumentationDatasetFacet, description=ctx.spec.description
        )
    staged = _batch_file(ctx.cfg, Layer.STAGED, log.source_name, log.batch_id) if full else None
    if staged is not None:
        headers = [c for c in data_columns(list(pl.read_parquet_schema(staged))) if c != RAGGED]
        facets["schema"] = _schema(dict.fromkeys(headers, "String"), {})
    return InputDataset(namespace=namespace, name=name, facets=facets)


def _table_input(ctx: EventContext, layer: Layer, table: str, *, batch: str | None) -> InputDataset:
    namespace, name = naming.table_dataset(ctx.cfg, layer, table)
    facets = _table_identity(ctx, layer, table, own=batch is not None)
    if batch:
        facets["version"] = _p(
            dataset_version_dataset.DatasetVersionDatasetFacet, datasetVersion=batch
        )
    return InputDataset(namespace=namespace, name=name, facets=facets)


def _inputs(log: LayerTransitionLog, ctx: EventContext, full: bool) -> list[InputDataset]:
    layer = _layer(log)
    if log.source_layer == "restore":  # a restore reads the kept versions in history
        return [
            InputDataset(namespace=ns, name=n)
            for ns, n in (naming.file_dataset(f) for f in log.source_files)
        ]
    if layer is Layer.STAGED:
        return [_source_input(log, ctx, full)]
    main = _table_input(ctx, PREVIOUS[layer], log.source_name, batch=log.batch_id)
    if full:
        assertions = _assertions(log, ctx.spec)
        if assertions:
            main.inputFacets = {"dataQualityAssertions": assertions}
    inputs = [main]
    if layer is Layer.GOLD and ctx.spec is not None:
        own = {o.table for o in ctx.spec.gold}
        read = {t for o in ctx.spec.gold for t in o.read_tables()}
        inputs += [_table_input(ctx, Layer.GOLD, t, batch=None) for t in sorted(read - own)]
    return inputs


def _assertions(log: LayerTransitionLog, spec: SourceSpec | None) -> Any:
    expectations = {e.id: e for e in spec.expectations} if spec else {}
    keys = ", ".join(spec.key_columns) if spec else ""
    found = []
    for check in log.rule_checks:
        if check.action not in ASSERTED:
            continue
        exp = expectations.get(check.rule)
        rows_in, share = check.share(log.row_count_in)  # as catalog.quality and the site
        params: dict[str, Any] = {
            "action": check.action,
            "table": check.table_name,
            "rows_in": rows_in,
            "share_of_rows_in": share,
        }
        if exp is not None:
            description = f"{exp.rule} on {exp.column}"
            for arg in ("pattern", "min", "max", "values"):
                if getattr(exp, arg) is not None:
                    params[arg] = getattr(exp, arg)
        else:
            description = RULE_DESCRIPTIONS.get(check.rule, check.rule)
            if check.rule in {"null_key", "duplicate_key"} and keys:
                description += f" ({keys})"
        found.append(
            data_quality_assertions_dataset.Assertion(
                assertion=exp.rule if exp else check.rule,
                success=check.rows == 0,
                column=exp.column if exp else None,
                severity="error" if check.action == "fail" else "warn",
                name=check.rule,
                description=description,
                expected="0",
                actual=str(check.rows),
                params=params,
            )
        )
    if not found:
        return None
    return _p(data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet, assertions=found)


def _table_output(
    log: LayerTransitionLog, ctx: EventContext, table: str, full: bool
) -> OutputDataset:
    layer = _layer(log)
    namespace, name = naming.table_dataset(ctx.cfg, layer, table)
    facets = _table_identity(ctx, layer, table)
    output_facets: dict[str, Any] = {}
    path = _batch_file(ctx.cfg, layer, table, log.batch_id) if full else None
    if path is not None:
        columns, rows, size, nulls = _file_facts(path)
        facets["schema"] = _schema(columns, _descriptions(ctx.spec, table))
        facets["version"] = _p(
            dataset_version_dataset.DatasetVersionDatasetFacet, datasetVersion=log.batch_id
        )
        facets["dataQualityMetrics"] = _p(
            DataQualityMetrics,
            rowCount=rows,
            bytes=size,
            fileCount=1,
            columnMetrics={
                c: data_quality_metrics_dataset.ColumnMetrics(nullCount=n) for c, n in nulls.items()
            },
        )
        facets["lifecycleStateChange"] = _p(
            lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet,
            lifecycleStateChange="OVERWRITE" if table in log.replaced_batches else "CREATE",
        )
        output_facets["outputStatistics"] = _p(
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
            rowCount=rows,
            size=size,
            fileCount=1,
        )
        if layer is Layer.GOLD and ctx.spec is not None:
            lineage = _column_lineage(ctx, table, list(columns), log.batch_id)
            if lineage is not None:
                facets["columnLineage"] = lineage
    return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets)


def _column_lineage(ctx: EventContext, table: str, columns: list[str], batch: str) -> Any:
    """Column lineage of a gold table, from its declared model and the silver columns of the
    same batch (one batch per source across its layers)."""
    assert ctx.spec is not None
    spec = ctx.spec
    out = next((o for o in spec.gold if o.table == table), None)
    silver = _batch_file(ctx.cfg, Layer.SILVER, spec.name, batch)
    if out is None or silver is None:
        return None
    lineage = gold_column_lineage(out, list(pl.read_parquet_schema(silver)), columns, spec.name)
    cl = column_lineage_dataset

    def field(src: Any) -> Any:
        layer, table_name = split_name(src.table)
        namespace, name = naming.table_dataset(ctx.cfg, layer, table_name)
        return cl.InputField(
            namespace=namespace,
            name=name,
            field=src.column,
            transformations=[
                cl.Transformation(
                    type=src.type, subtype=src.subtype, description=src.description or None
                )
            ],
        )

    return _p(
        cl.ColumnLineageDatasetFacet,
        fields={
            column: cl.Fields(inputFields=[field(s) for s in sources])
            for column, sources in lineage.fields.items()
        },
        dataset=[field(s) for s in lineage.dataset],
    )


def _quarantine_outputs(log: LayerTransitionLog, ctx: EventContext) -> list[OutputDataset]:
    from jobforge_core.checks.quarantine import reason_counts

    outputs = []
    for entry in dict.fromkeys(log.quarantine_files):
        path = Path(entry)
        if path.suffix == ".parquet":
            layer, table = path.parent.parent.name, path.parent.name
            namespace, name = naming.quarantine_dataset(ctx.cfg, layer, table)
            by_rule = reason_counts(path) if path.is_file() else {}
            facet = _p(
                JobForgeQuarantineDatasetFacet,
                layer=layer,
                batchId=log.batch_id,
                rowsQuarantined=sum(by_rule.values()),
                rowsByRule=by_rule,
                files=[str(path)],
            )
            stats = {}
            if path.is_file():
                stats["outputStatistics"] = _p(
                    output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
                    rowCount=sum(by_rule.values()),
                    size=path.stat().st_size,
                    fileCount=1,
                )
            outputs.append(
                OutputDataset(
                    namespace=namespace,
                    name=name,
                    facets={QUARANTINE_FACET: facet, **_owners(ctx.spec)},
                    outputFacets=stats,
                )
            )
        else:
            namespace, name = naming.file_quarantine_dataset(ctx.cfg)
            facet = _p(
                JobForgeQuarantineDatasetFacet,
                layer=_layer(log).value,
                batchId=log.batch_id,
                rowsQuarantined=log.row_count_quarantined,
                rowsByRule=dict(log.rows_by_rule)
                or {c.rule: c.rows for c in log.rule_checks if c.action == "fail"},
                files=sorted(str(p) for p in path.iterdir()) if path.is_dir() else [str(path)],
                fileQuarantined=True,
                error="; ".join(log.errors) or None,
            )
            outputs.append(
                OutputDataset(
                    namespace=namespace,
                    name=name,
                    facets={QUARANTINE_FACET: facet, **_owners(ctx.spec)},
                )
            )
    return outputs


# --- events ------------------------------------------------------------------------------------


def start_event(log: LayerTransitionLog, ctx: EventContext) -> RunEvent:
    """START: the job, its parent flow run, and the datasets it reads and writes (names)."""
    return RunEvent(
        eventType=RunState.START,
        eventTime=_time(log.started_at),
        run=_run(log, ctx, failed=False),
        job=_job(log, ctx),
        inputs=_inputs(log, ctx, full=False),
        outputs=[
            OutputDataset(*naming.table_dataset(ctx.cfg, _layer(log), t))
            for t in _tables(log, ctx.spec)
        ],
        producer=PRODUCER,
    )


def end_event(log: LayerTransitionLog, ctx: EventContext) -> RunEvent:
    """COMPLETE (success, partial) or FAIL, with every facet the log and the files give."""
    failed = log.status is TransitionStatus.FAILED
    outputs = [_table_output(log, ctx, t, full=not failed) for t in _tables(log, ctx.spec)]
    outputs += _quarantine_outputs(log, ctx)
    return RunEvent(
        eventType=RunState.FAIL if failed else RunState.COMPLETE,
        eventTime=_time(log.completed_at),
        run=_run(log, ctx, failed=failed),
        job=_job(log, ctx),
        inputs=_inputs(log, ctx, full=True),
        outputs=outputs,
        producer=PRODUCER,
    )


@cache
def quarantine_facet_schema() -> dict[str, Any]:
    """The custom facet's JSON Schema, as shipped (its `$id` is the facet's `_schemaURL`)."""
    return json.loads((SCHEMA_DIR / "JobForgeQuarantineDatasetFacet.json").read_text("utf-8"))

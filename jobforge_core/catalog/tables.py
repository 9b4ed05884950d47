"""TableMetadata for every table of every layer, generated from the parquet files and the specs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import ColumnMetadata, ColumnSource, TableMetadata
from jobforge_core.common.provenance import data_columns
from jobforge_core.common.table_names import catalog_name, metadata_path
from jobforge_core.run.state import read_state
from jobforge_core.sources.column_lineage import (
    column_ref,
    gold_column_lineage,
    layer_column_lineage,
)
from jobforge_core.sources.glossary import (
    PROVENANCE_DESCRIPTIONS,
    column_term_id,
    descriptor_term_id,
)
from jobforge_core.sources.spec import GoldOutput, SourceSpec

TRANSFORM = {
    Layer.STAGED: "jobforge_core/transitions/stage.py",
    Layer.BRONZE: "jobforge_core/transitions/bronze.py",
    Layer.SILVER: "jobforge_core/transitions/silver.py",
    Layer.GOLD: "jobforge_core/transitions/gold.py",
}
EXAMPLES = 3


def _type_name(dtype: pl.DataType) -> str:
    """The logical type: gold's per-batch constants are one-value Enums, text to every reader."""
    return "String" if isinstance(dtype, (pl.Enum, pl.Categorical)) else str(dtype)


def _examples(path: Path, columns: list[str]) -> dict[str, list[str]]:
    """A few distinct values from the first rows: enough to recognise a column, cheap to read."""
    # One query for every column (a query per column was a fifth of a catalog rebuild).
    found = (
        pl.scan_parquet(path)
        .head(1000)
        .select(
            pl.col(c).drop_nulls().unique(maintain_order=True).head(EXAMPLES).implode()
            for c in columns
        )
        .collect()
    )
    return {c: [_example(v) for v in found[c][0]] for c in columns}


EXAMPLE_CHARS = 2000


def _example(value: object) -> str:
    """An example value as text, cut to EXAMPLE_CHARS: a 100 MB field was copied whole into
    the catalog JSON and four site pages."""
    text = str(value)
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def loaded_file(cfg: PipelineConfig, spec: SourceSpec) -> str:
    """The name of the file the source's current batch was read from (its release), else
    what the spec names (a file or a pattern such as `employment_emploi_*_noc2021.csv`)."""
    state = read_state(cfg, spec.name)
    return Path(state.source_file).name if state and state.source_file else spec.file


def _counts(path: Path, columns: list[str]) -> tuple[int, dict[str, int]]:
    """Rows and null count per column from the parquet footer (its statistics), without
    reading a data page; a query over the data only when a column chunk has no null count.
    Two polars queries per table were half of a catalog rebuild's table work (300 sources)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    nulls = dict.fromkeys(columns, 0)
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for name in columns:
            stats = group.column(index[name]).statistics if name in index else None
            if stats is None or not stats.has_null_count:
                found = pl.scan_parquet(path).select(pl.all().null_count()).collect()
                return meta.num_rows, found.row(0, named=True)
            nulls[name] += stats.null_count
    return meta.num_rows, nulls


def _lineage(
    cfg: PipelineConfig, spec: SourceSpec, layer: Layer, out: GoldOutput | None, columns: list[str]
) -> dict[str, list[ColumnSource]]:
    """Each column's inputs, from the one lineage model the events use too (DESIGN 20)."""
    if layer is Layer.GOLD and out is not None:
        silver = cfg.table_path(Layer.SILVER, spec.name)
        if not silver.is_file():
            return {}
        found = gold_column_lineage(out, list(pl.read_parquet_schema(silver)), columns, spec.name)
        return found.fields
    staged = cfg.table_path(Layer.STAGED, spec.name)
    headers = data_columns(list(pl.read_parquet_schema(staged)))
    return layer_column_lineage(spec, layer, headers, loaded_file(cfg, spec)).fields


def table_metadata(
    cfg: PipelineConfig,
    spec: SourceSpec,
    layer: Layer,
    table: str,
    *,
    path: Path | None = None,
    out: GoldOutput | None,
    glossary: set[str],
    upstream: list[str],
    downstream: list[str],
) -> TableMetadata | None:
    """`path`: the file readers read (a published snapshot's, for gold)."""
    path = path or cfg.table_path(layer, table)
    if not path.is_file():
        return None
    schema = pl.read_parquet_schema(path)
    rows, nulls = _counts(path, list(schema))
    examples = _examples(path, list(schema))
    sources = _lineage(cfg, spec, layer, out, list(schema))
    descriptions = {**spec.column_descriptions, **(out.column_descriptions if out else {})}
    columns = []
    for name, dtype in schema.items():
        term = column_term_id(name) if column_term_id(name) in glossary else None
        if term is None and descriptor_term_id(name) in glossary:
            term = descriptor_term_id(name)
        columns.append(
            ColumnMetadata(
                name=name,
                data_type=_type_name(dtype),
                nullable=nulls[name] > 0,
                description=PROVENANCE_DESCRIPTIONS.get(name) or descriptions.get(name, ""),
                glossary_term_id=term,
                source_columns=[column_ref(s) for s in sources.get(name, [])],
                lineage=sources.get(name, []),
                example_values=examples[name],
            )
        )
    name = catalog_name(layer, table)
    previous = _previous(cfg, name)
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return TableMetadata(
        table_name=name,
        layer=layer,
        domain=spec.domain,
        file_path=str(path.relative_to(cfg.data_root)),
        row_count=rows,
        column_count=len(schema),
        file_size_bytes=path.stat().st_size,
        schema_version=spec.version,
        created_at=previous.created_at if previous else modified,
        updated_at=modified,
        description=(out.description if out else "") or spec.description,
        business_purpose=spec.business_purpose,
        data_owner=spec.owner,
        data_steward=spec.steward,
        upstream_tables=upstream,
        downstream_tables=downstream,
        transform_script=f"{TRANSFORM[layer]} + {spec.spec_path or spec.name}",
        retention_days=spec.retention_days,
        classification=spec.classification,
        columns=columns,
    )


def _previous(cfg: PipelineConfig, name: str) -> TableMetadata | None:
    path = metadata_path(cfg, name)
    if not path.is_file():
        return None
    try:
        return TableMetadata.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        return None

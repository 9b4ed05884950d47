"""Pydantic models shared by every layer: provenance, transition logs, catalog metadata."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from jobforge_core.common.config import Layer


def utc_now() -> datetime:
    return datetime.now(UTC)


class ProvenanceColumns(BaseModel):
    """The provenance every row carries; serialised under the underscore column names."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    source_file: str = Field(serialization_alias="_source_file", alias="_source_file")
    ingested_at: datetime = Field(
        default_factory=utc_now, serialization_alias="_ingested_at", alias="_ingested_at"
    )
    batch_id: str = Field(serialization_alias="_batch_id", alias="_batch_id")
    layer: Layer = Field(serialization_alias="_layer", alias="_layer")

    SOURCE_ROW: ClassVar[str] = "_source_row"
    # Row-level columns, in the order they are appended to every table.
    COLUMN_NAMES: ClassVar[tuple[str, ...]] = (
        "_source_file",
        "_source_row",
        "_ingested_at",
        "_batch_id",
        "_layer",
    )


class TransitionStatus(StrEnum):
    SUCCESS = "success"
    PARTIAL = "partial"  # succeeded, but some rows went to quarantine
    FAILED = "failed"


class RunOrigin(BaseModel):
    """Who ran a transition, as the orchestrator knows it. The caller passes it in (tasks/ read
    it from Prefect's runtime), so the core stays orchestrator-free and the log is complete
    when it is written, not patched afterwards."""

    flow_run_id: str | None = None
    task_run_id: str | None = None
    flow_run_url: str | None = None  # UI page of the flow run, when the API URL is known
    flow_name: str | None = None  # the flow the run belongs to (OpenLineage parent job)


class RuleCheck(BaseModel):
    """One rule applied by a transition to one table, and the rows it affected (0 included):
    the row of `catalog.quality`, kept across runs in the transition logs."""

    table_name: str
    rule: str
    # cast (bronze), drop (to quarantine), warn, fail, fk (foreign key), recode, reshape
    action: str
    rows: int = Field(ge=0)
    # The rows the rule looked at, when they are not the transition's rows in: at gold a
    # foreign key counts long (unpivoted) rows and must be divided by long rows, not by the
    # wide silver rows (OaSIS skills: 900 of 29,700 long rows read as a share of 1).
    rows_in: int | None = Field(default=None, ge=0)

    def share(self, log_rows_in: int) -> tuple[int, float | None]:
        """(denominator, rows / denominator): the one share the catalog, the site and
        OpenLineage show (DESIGN invariant 20)."""
        rows_in = log_rows_in if self.rows_in is None else self.rows_in
        return rows_in, (self.rows / rows_in if rows_in else None)


class SchemaChange(BaseModel):
    """A column added, removed or retyped between the replaced batch of a table and this one."""

    table_name: str
    column: str
    change: Literal["added", "removed", "type_changed"]
    old_type: str | None = None
    new_type: str | None = None

    def describe(self) -> str:
        if self.change == "added":
            return f"{self.table_name}: column {self.column!r} added ({self.new_type})"
        if self.change == "removed":
            return f"{self.table_name}: column {self.column!r} removed (was {self.old_type})"
        return f"{self.table_name}: column {self.column!r} {self.old_type} -> {self.new_type}"


class LayerTransitionLog(BaseModel):
    """One arrow of the medallion: what went in, what came out, what was quarantined."""

    transition_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    source_name: str = ""
    batch_id: str
    source_layer: str  # "source" for the first transition, else a Layer value
    target_layer: Layer
    source_files: list[str]
    source_sha256: str | None = None  # content hash of the source file (first transition)
    target_file: str | None = None
    target_files: list[str] = Field(default_factory=list)
    row_count_in: int = Field(ge=0)
    row_count_out: int = Field(ge=0)
    row_count_quarantined: int = Field(default=0, ge=0)
    rows_by_rule: dict[str, int] = Field(default_factory=dict)
    rows_by_table: dict[str, int] = Field(default_factory=dict)
    quarantine_file: str | None = None
    quarantine_files: list[str] = Field(default_factory=list)
    transforms_applied: list[str] = Field(default_factory=list)
    started_at: datetime = Field(default_factory=utc_now)
    completed_at: datetime | None = None
    status: TransitionStatus = TransitionStatus.SUCCESS
    errors: list[str] = Field(default_factory=list)
    rule_checks: list[RuleCheck] = Field(default_factory=list)
    schema_changes: list[SchemaChange] = Field(default_factory=list)
    replaced_batches: dict[str, str] = Field(default_factory=dict)  # table -> batch it replaced
    # gold only: silver columns that reach no gold table, undeclared / declared in drop_columns
    columns_not_carried: list[str] = Field(default_factory=list)
    columns_dropped: list[str] = Field(default_factory=list)
    flow_run_id: str | None = None
    task_run_id: str | None = None
    flow_run_url: str | None = None
    flow_name: str | None = None


class ColumnSource(BaseModel):
    """One input column of a column, in OpenLineage's terms: `table` is a catalog name
    (`silver.cops_employment`, `dim_noc`) or `file:<name>` for a source file; `type` DIRECT or
    INDIRECT, `subtype` IDENTITY, TRANSFORMATION, JOIN, FILTER or WINDOW. Built once by
    `sources.column_lineage`, shown as is by the catalog, the site and the events."""

    model_config = ConfigDict(frozen=True)

    table: str
    column: str
    type: str = "DIRECT"
    subtype: str = "IDENTITY"
    description: str = ""


class ColumnMetadata(BaseModel):
    name: str
    data_type: str
    nullable: bool = True
    description: str = ""
    glossary_term_id: str | None = None
    # `<table>.<column>` of each input in `lineage` (sources.column_lineage.column_ref)
    source_columns: list[str] = Field(default_factory=list)
    lineage: list[ColumnSource] = Field(default_factory=list)
    pii_classification: str = "none"
    example_values: list[str] = Field(default_factory=list)


class TableMetadata(BaseModel):
    """DAMA DMBOK-style metadata for one table of one layer."""

    # identification
    table_name: str
    layer: Layer
    domain: str = ""
    file_path: str
    # technical
    row_count: int = Field(ge=0)
    column_count: int = Field(ge=0)
    file_size_bytes: int = Field(ge=0)
    schema_version: str = "1"
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    # business
    description: str = ""
    business_purpose: str = ""
    data_owner: str = ""
    data_steward: str = ""
    # lineage
    upstream_tables: list[str] = Field(default_factory=list)
    downstream_tables: list[str] = Field(default_factory=list)
    transform_script: str = ""
    # governance
    retention_days: int | None = None
    classification: str = "internal"
    columns: list[ColumnMetadata] = Field(default_factory=list)

"""The gold star schema as data: tables, grains and relationships, from the specs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from jobforge_core.common.atomic import write_json
from jobforge_core.common.config import PipelineConfig
from jobforge_core.sources.spec import SourceSpec


class Relationship(BaseModel):
    """A foreign key of the gold model: one row of `catalog.relationships`."""

    table: str
    column: str
    referenced_table: str
    referenced_column: str
    cardinality: str


RELATIONSHIP_FIELDS = tuple(Relationship.model_fields)


def relationships(specs: dict[str, SourceSpec]) -> list[dict[str, str]]:
    return [
        {
            "table": out.table,
            "column": fk.column,
            "referenced_table": fk.references,
            "referenced_column": fk.target_column,
            "cardinality": fk.cardinality,
        }
        for spec in specs.values()
        for out in spec.gold
        for fk in out.foreign_keys
    ]


def model_schema(specs: dict[str, SourceSpec]) -> dict[str, Any]:
    tables = {
        out.table: {
            "source": spec.name,
            "model": out.model,
            "grain": out.key_columns,
            "description": out.description,
        }
        for spec in specs.values()
        for out in spec.gold
    }
    return {"tables": tables, "relationships": relationships(specs)}


def write_model_schema(cfg: PipelineConfig, specs: dict[str, SourceSpec]) -> str:
    path = cfg.catalog_schemas_path() / "model.json"
    write_json(path, model_schema(specs))
    return str(path)

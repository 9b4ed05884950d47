"""Glossary terms: OaSIS descriptors from the guide, and the column descriptions of the specs."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
from pydantic import BaseModel

from jobforge_core.sources.spec import SourceSpec

GUIDE_SOURCE = "oasis_guide"
PROVENANCE_DESCRIPTIONS = {
    "_source_file": "Name of the source file the row came from",
    "_source_row": "1-based record number of the row in the source file (header excluded)",
    "_ingested_at": "When the source file was staged (UTC)",
    "_batch_id": "Batch: source name + hash of the file content and of the spec",
    "_layer": "Medallion layer of the table holding the row",
}


class TermUse(BaseModel):
    """Where a term is used: a column named by it (`value` None), or the rows of a column that
    carry it as a value (an OaSIS descriptor's code in `dim_oasis_descriptor` and the facts)."""

    table_name: str
    column_name: str
    value: str | None = None
    row_count: int | None = None


class GlossaryTerm(BaseModel):
    term_id: str
    term: str
    definition: str = ""
    category: str = ""
    source: str = ""
    used_by: list[TermUse] = []  # filled by the catalog rebuild, gold first


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def column_term_id(column: str) -> str:
    return f"column:{column}"


def descriptor_term_id(name: str) -> str:
    """Case-insensitive link: the guide says 'Setting Up', the skills header 'Setting up'."""
    return f"oasis:{_slug(name)}"


def column_terms(specs: dict[str, SourceSpec]) -> list[GlossaryTerm]:
    """One term per described column name; the first description declared wins."""
    terms: dict[str, GlossaryTerm] = {
        name: GlossaryTerm(
            term_id=column_term_id(name),
            term=name,
            definition=text,
            category="provenance",
            source="jobforge_core/common/models.py (ProvenanceColumns)",
        )
        for name, text in PROVENANCE_DESCRIPTIONS.items()
    }
    for spec in specs.values():
        described = [(spec.column_descriptions, spec.domain)] + [
            (out.column_descriptions, spec.domain) for out in spec.gold
        ]
        for descriptions, domain in described:
            for column, text in descriptions.items():
                terms.setdefault(
                    column,
                    GlossaryTerm(
                        term_id=column_term_id(column),
                        term=column,
                        definition=text,
                        category=f"column ({domain})",
                        source=spec.spec_path or spec.name,
                    ),
                )
    return list(terms.values())


def descriptor_terms(guide_silver: Path) -> list[GlossaryTerm]:
    if not guide_silver.is_file():
        return []
    guide = pl.read_parquet(guide_silver)
    terms: dict[str, GlossaryTerm] = {}
    for row in guide.iter_rows(named=True):
        term_id = descriptor_term_id(row["descriptor_name"])
        terms.setdefault(
            term_id,
            GlossaryTerm(
                term_id=term_id,
                term=row["descriptor_name"],
                definition=row.get("description") or "",
                category=" / ".join(
                    x for x in (row.get("category"), row.get("structure_type")) if x
                ),
                source=f"{row['_source_file']} row {row['_source_row']} ({row['descriptor_code']})",
            ),
        )
    return list(terms.values())


DESCRIPTOR_CODE = "descriptor_code"  # the gold column that carries a descriptor in its rows


def descriptor_codes(guide_silver: Path) -> dict[str, str]:
    """Each OaSIS descriptor code of the guide and the term it belongs to."""
    if not guide_silver.is_file():
        return {}
    guide = pl.read_parquet(guide_silver, columns=["descriptor_code", "descriptor_name"])
    return {
        code: descriptor_term_id(name)
        for code, name in guide.iter_rows()
        if code is not None and name is not None
    }

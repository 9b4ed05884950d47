"""Where each glossary term is used (issue 28): every column named by it, in every layer, and
the gold rows that carry it as a value. An OaSIS descriptor ("Reading Comprehension") is a
column only in the wide staged, bronze and silver tables; in gold it is a row of
`dim_oasis_descriptor` and the rows of each fact whose `descriptor_code` is one of its codes.
Gold uses come first; a term none of these reach is the only one said to be unused.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import polars as pl

from jobforge_core.common.config import Layer
from jobforge_core.common.models import TableMetadata
from jobforge_core.sources.glossary import DESCRIPTOR_CODE, GlossaryTerm, TermUse


def _code_counts(path: Path) -> dict[str, int]:
    counts = (
        pl.scan_parquet(path)
        .select(pl.col(DESCRIPTOR_CODE).cast(pl.String))
        .drop_nulls()
        .group_by(DESCRIPTOR_CODE)
        .len()
        .collect()
    )
    return dict(counts.iter_rows())


def term_uses(
    terms: list[GlossaryTerm],
    tables: list[TableMetadata],
    data_root: Path,
    codes: dict[str, str],
) -> list[GlossaryTerm]:
    """The terms with `used_by` filled: gold tables first (columns, then rows by value), then
    the other layers' columns; tables in name order."""
    uses: dict[str, list[TermUse]] = defaultdict(list)
    order = sorted(tables, key=lambda m: (m.layer is not Layer.GOLD, m.table_name))
    for meta in order:
        for column in meta.columns:
            if column.glossary_term_id:
                uses[column.glossary_term_id].append(
                    TermUse(table_name=meta.table_name, column_name=column.name)
                )
        if meta.layer is not Layer.GOLD or not codes:
            continue
        if DESCRIPTOR_CODE not in {c.name for c in meta.columns}:
            continue
        path = Path(meta.file_path)
        path = path if path.is_absolute() else data_root / path
        for code, rows in sorted(_code_counts(path).items()):
            term_id = codes.get(code)
            if term_id is not None:
                uses[term_id].append(
                    TermUse(
                        table_name=meta.table_name,
                        column_name=DESCRIPTOR_CODE,
                        value=code,
                        row_count=rows,
                    )
                )
    gold_first = {term_id: sorted(found, key=_gold_first) for term_id, found in uses.items()}
    return [t.model_copy(update={"used_by": gold_first.get(t.term_id, [])}) for t in terms]


def _gold_first(use: TermUse) -> tuple[bool, bool]:
    """Stable: gold before other layers, and within gold the dimension's row first."""
    gold = "." not in use.table_name
    return (not gold, not use.table_name.startswith("dim_"))

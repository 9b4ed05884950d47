"""When a gold grain is unique by construction, so its (costly) check can be skipped.

Silver keys are unique (deduplicated there). A gold output keeps that uniqueness when its grain
contains every silver key (directly, renamed, or through a derive that only aliases it) and, for
an unpivot, the variable column, whose values are the distinct column names or labels. Lookups
and foreign-key joins never fan out (their right sides are made unique), so they keep it too.
"""

from __future__ import annotations

from jobforge_core.sources.spec import GoldOutput, SourceSpec


def _origin(column: str, out: GoldOutput) -> str:
    """The silver column a gold column is a plain copy of, or the column itself."""
    mapping = out.column_map() or {}
    source = mapping.get(column, column)
    alias = out.derive.get(source, "").strip()
    return alias if alias.isidentifier() else source


def grain_is_guaranteed(spec: SourceSpec, out: GoldOutput) -> bool:
    if not spec.key_columns or not out.key_columns:
        return False
    origins = {_origin(c, out) for c in out.key_columns}
    if out.unpivot is not None:
        u = out.unpivot
        # A pattern may map different columns to one value ('q1', 'x1' -> '1'): not provable.
        if u.variable_pattern or u.variable not in origins:
            return False
        origins.discard(u.variable)
    return set(spec.key_columns) <= origins

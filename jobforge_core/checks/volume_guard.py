"""Volume guard (DESIGN invariant 12): a batch that quarantines too much of a layer, or would
shrink a gold table too far against its previous version, must not replace good gold.

The checks run after a layer's outputs are written to temp files and before they are moved
into place; the caller keeps the quarantine (so the user sees why) and discards the table.
"""

from __future__ import annotations

from pathlib import Path

from jobforge_core.common.atomic import parquet_rows
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import ThresholdExceeded
from jobforge_core.sources.spec import SourceSpec

QUARANTINE_SHARE = "max_quarantine_share"
ROW_DROP_SHARE = "max_row_drop_share"


def _pct(share: float) -> str:
    return f"{share:.1%}"


def quarantine_share_breach(
    spec: SourceSpec,
    layer: Layer,
    *,
    file: str,
    rows_out: int,
    rows_quarantined: int,
    rows_by_rule: dict[str, int],
    counts: dict[str, object],
) -> ThresholdExceeded | None:
    """The error to raise when the layer quarantined more than its declared share, else None."""
    handled = rows_out + rows_quarantined
    limit = spec.thresholds.quarantine_share(layer.value)
    if not handled or rows_quarantined / handled <= limit:
        return None
    reasons = ", ".join(f"{rule} {n}" for rule, n in sorted(rows_by_rule.items()))
    return ThresholdExceeded(
        f"threshold {QUARANTINE_SHARE}.{layer.value} = {limit:g} crossed: {rows_quarantined} of "
        f"{handled} rows ({_pct(rows_quarantined / handled)}) quarantined (by rule: {reasons}); "
        f"the {layer.value} table and the previous gold are kept, the quarantine is written. "
        f"If this is expected, raise `thresholds: {{{QUARANTINE_SHARE}: ...}}` in the spec",
        file=file,
        layer=layer.value,
        rule=QUARANTINE_SHARE,
        counts=counts,
    )


def row_drop_breach(
    spec: SourceSpec,
    cfg: PipelineConfig,
    rows_by_table: dict[str, int],
    *,
    file: str,
    counts: dict[str, object],
) -> ThresholdExceeded | None:
    """The error when a gold table would lose more than the declared share of its rows."""
    limit = spec.thresholds.max_row_drop_share
    drops = []
    for table, new in rows_by_table.items():
        previous = _previous_rows(cfg.table_path(Layer.GOLD, table))
        if previous and (previous - new) / previous > limit:
            drops.append(f"{table} {previous} -> {new} rows (-{_pct((previous - new) / previous)})")
    if not drops:
        return None
    return ThresholdExceeded(
        f"threshold {ROW_DROP_SHARE} = {limit:g} crossed: {'; '.join(drops)} against the "
        "previous batch; the previous gold is kept. If the shrink is expected, raise "
        f"`thresholds: {{{ROW_DROP_SHARE}: ...}}` in the spec",
        file=file,
        layer=Layer.GOLD.value,
        rule=ROW_DROP_SHARE,
        counts=counts,
    )


def _previous_rows(path: Path) -> int:
    return parquet_rows(path) if path.is_file() else 0

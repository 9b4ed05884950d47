"""Prefect artifacts for transition logs; keys must match ^[a-z0-9-]*$."""

from __future__ import annotations

import re
from typing import Any

from prefect.artifacts import create_table_artifact

from jobforge_core.models import LayerTransitionLog


def artifact_key(*parts: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def log_row(log: LayerTransitionLog) -> dict[str, Any]:
    """One flat row per transition: what the UI table and the flow summary show."""
    return {
        "source": log.source_name,
        "transition": f"{log.source_layer} -> {log.target_layer.value}",
        "status": log.status.value,
        "rows_in": log.row_count_in,
        "rows_out": log.row_count_out,
        "rows_quarantined": log.row_count_quarantined,
        "rules": ", ".join(f"{k}={v}" for k, v in log.rows_by_rule.items()),
        "batch_id": log.batch_id,
        "transition_id": log.transition_id,
        "target": ", ".join(log.target_files),
        "quarantine": ", ".join(log.quarantine_files),
        "errors": "; ".join(log.errors),
        "started_at": log.started_at.isoformat(),
        "completed_at": log.completed_at.isoformat() if log.completed_at else "",
    }


def publish_transition(log: LayerTransitionLog) -> None:
    create_table_artifact(
        table=[log_row(log)],
        key=artifact_key("transition", log.source_name, log.target_layer.value),
        description=(
            f"{log.source_name}: {log.source_layer} -> {log.target_layer.value}, "
            f"{log.row_count_in} in, {log.row_count_out} out, "
            f"{log.row_count_quarantined} quarantined ({log.status.value})"
        ),
    )

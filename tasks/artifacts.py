"""Prefect artifacts for transition logs; keys must match ^[a-z0-9-]*$."""

from __future__ import annotations

import re
from typing import Any

from prefect.artifacts import TableArtifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.utilities.context import get_task_and_flow_run_ids

from jobforge_core.common.models import LayerTransitionLog


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
    """The transition's log on the page of the task run that made it, and not on the flow
    run's: at four per source, flow-level transition cards buried the run summary (1,200 of
    them for 300 sources). The flow run carries one `jobforge-transitions` table instead."""
    key = artifact_key("transition", log.source_name, log.target_layer.value)
    description = (
        f"{log.source_name}: {log.source_layer} -> {log.target_layer.value}, "
        f"{log.row_count_in} in, {log.row_count_out} out, "
        f"{log.row_count_quarantined} quarantined ({log.status.value})"
    )
    task_run_id, _flow_run_id = get_task_and_flow_run_ids()
    if task_run_id is None:  # outside a task (a direct call): Prefect's own placement
        create_table_artifact(table=[log_row(log)], key=key, description=description)
        return
    table = TableArtifact(table=[log_row(log)], key=key, description=description)
    with get_client(sync_client=True) as client:
        client.create_artifact(
            artifact=ArtifactCreate(
                type=table.type,
                key=key,
                description=description,
                task_run_id=task_run_id,
                flow_run_id=None,
                data=table.format(_sync=True),
            )
        )

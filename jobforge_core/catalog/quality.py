"""Data quality over time: one row per (transition, rule), from every kept transition log.

The lineage logs are never overwritten, so `catalog.quality` answers "since when" questions
(`SELECT batch_id, rule, rows FROM catalog.quality WHERE table_name = ... ORDER BY checked_at`)
across every run the data root has seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel

from jobforge_core.common.models import LayerTransitionLog, RuleCheck

# Logs written before transitions recorded their rule checks name only the rules that
# affected rows; their action follows from the rule id.
_LEGACY_ACTIONS = {
    "cast_error": "cast",
    "foreign_key": "fk",
    "null_key": "drop",
    "duplicate_key": "drop",
    "duplicate_grain": "drop",
}


class QualityRecord(BaseModel):
    """One rule applied by one transition to one table."""

    source: str
    batch_id: str
    layer: str
    table_name: str
    rule: str
    action: str
    rows: int
    rows_in: int
    share_of_rows_in: float | None  # rows / rows_in; None when nothing came in
    status: str  # of the transition: success, partial, failed
    checked_at: datetime
    transition_id: str
    flow_run_id: str | None = None
    task_run_id: str | None = None


def _legacy_checks(log: LayerTransitionLog) -> list[RuleCheck]:
    found = []
    for key, n in log.rows_by_rule.items():
        rule, _, table = key.partition(":")
        if rule == "warn":
            found.append(RuleCheck(table_name=log.source_name, rule=table, action="warn", rows=n))
        elif rule == "recode":
            found.append(RuleCheck(table_name=log.source_name, rule=key, action="recode", rows=n))
        elif table:  # "<unpivot rule>:<gold table>"
            found.append(RuleCheck(table_name=table, rule=rule, action="reshape", rows=n))
        else:
            action = _LEGACY_ACTIONS.get(rule, "drop")
            found.append(RuleCheck(table_name=log.source_name, rule=rule, action=action, rows=n))
    return found


def quality_records(logs: Iterable[LayerTransitionLog]) -> list[QualityRecord]:
    records = []
    for log in logs:
        for check in log.rule_checks or _legacy_checks(log):
            rows_in = log.row_count_in
            records.append(
                QualityRecord(
                    source=log.source_name,
                    batch_id=log.batch_id,
                    layer=log.target_layer.value,
                    table_name=check.table_name,
                    rule=check.rule,
                    action=check.action,
                    rows=check.rows,
                    rows_in=rows_in,
                    share_of_rows_in=check.rows / rows_in if rows_in else None,
                    status=log.status.value,
                    checked_at=log.completed_at or log.started_at,
                    transition_id=log.transition_id,
                    flow_run_id=log.flow_run_id,
                    task_run_id=log.task_run_id,
                )
            )
    return records

"""Data quality over time: one row per (batch, layer, table, rule), from the transition logs.

The lineage logs are never overwritten, so `catalog.quality` answers "since when" questions
(`SELECT batch_id, rule, rows FROM catalog.quality WHERE table_name = ... ORDER BY checked_at`)
across every batch the data root has seen. A batch run again (forced, or after a failure
further down) is checked again: only its latest transition per layer counts, so three loads of
one batch that quarantined 22 rows show 22, not 66. A share is of the rows the rule looked at
(`RuleCheck.share`): long rows over long rows at gold.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel

from jobforge_core.common.models import LayerTransitionLog, RuleCheck, TransitionStatus

# Logs written before transitions recorded their rule checks name only the rules that
# affected rows; their action follows from the rule id.
_LEGACY_ACTIONS = {
    "cast_error": "cast",
    "foreign_key": "fk",
    "null_key": "drop",
    "duplicate_key": "drop",
    "duplicate_grain": "drop",
}


# The rule of a batch that failed as a whole, with no rule of its own (its error is in the
# transition's `errors` and `jobforge quarantine`).
REJECTED = "batch_rejected"


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
    # of the batch: "rejected" when its latest transition at some layer failed (a schema
    # change under `fail`, a failed rule), else "accepted"
    batch_status: str = "accepted"
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


def latest_checks(logs: Iterable[LayerTransitionLog]) -> list[LayerTransitionLog]:
    """The latest checking transition of each (batch, layer), oldest first. A restore moves
    files and checks nothing: it is not a check of its batch."""
    latest: dict[tuple[str, str], LayerTransitionLog] = {}
    for log in sorted(logs, key=lambda log: log.completed_at or log.started_at):
        if log.source_layer != "restore":
            latest.pop((log.batch_id, log.target_layer.value), None)
            latest[(log.batch_id, log.target_layer.value)] = log
    return list(latest.values())


def quality_records(logs: Iterable[LayerTransitionLog]) -> list[QualityRecord]:
    kept = latest_checks(logs)
    rejected = {log.batch_id for log in kept if log.status is TransitionStatus.FAILED}
    records = []
    for log in kept:
        found = log.rule_checks or _legacy_checks(log)
        if log.status is TransitionStatus.FAILED and not any(c.action == "fail" for c in found):
            # failed as a whole (a missing column, an unreadable file): no rule counted rows,
            # yet the batch must read as rejected, not as clean
            found = [
                *found,
                RuleCheck(
                    table_name=log.source_name, rule=REJECTED, action="fail", rows=log.row_count_in
                ),
            ]
        for check in found:
            rows_in, share = check.share(log.row_count_in)
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
                    share_of_rows_in=share,
                    status=log.status.value,
                    batch_status="rejected" if log.batch_id in rejected else "accepted",
                    checked_at=log.completed_at or log.started_at,
                    transition_id=log.transition_id,
                    flow_run_id=log.flow_run_id,
                    task_run_id=log.task_run_id,
                )
            )
    return records

"""Per-transition times and row counts from JobForge's LayerTransitionLog JSON files.

The logs are JobForge's own record (started_at/completed_at per layer), so the pipeline time
excludes Prefect's start-up and the catalog rebuild that follow or precede the transitions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

LAYERS = ("staged", "bronze", "silver", "gold")


@dataclass(frozen=True)
class Transition:
    source: str
    layer: str
    started: float  # epoch seconds
    completed: float
    rows_in: int
    rows_out: int
    rows_quarantined: int
    rows_by_rule: dict[str, int]
    status: str

    @property
    def seconds(self) -> float:
        return self.completed - self.started


def read_transitions(data_root: Path) -> list[Transition]:
    out = []
    for path in sorted((data_root / "catalog" / "lineage").glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        completed = raw.get("completed_at") or raw["started_at"]
        out.append(
            Transition(
                source=raw["source_name"],
                layer=raw["target_layer"],
                started=datetime.fromisoformat(raw["started_at"]).timestamp(),
                completed=datetime.fromisoformat(completed).timestamp(),
                rows_in=raw["row_count_in"],
                rows_out=raw["row_count_out"],
                rows_quarantined=raw["row_count_quarantined"],
                rows_by_rule=raw.get("rows_by_rule", {}),
                status=raw["status"],
            )
        )
    return sorted(out, key=lambda t: t.started)


def summarise(transitions: list[Transition]) -> dict[str, object]:
    """First start to last end, and per layer seconds, rows in and quarantine by rule."""
    if not transitions:
        return {"pipeline_s": None, "first_start": None, "last_end": None, "layers": {}}
    first = min(t.started for t in transitions)
    last = max(t.completed for t in transitions)
    layers: dict[str, dict[str, object]] = {}
    for layer in LAYERS:
        mine = [t for t in transitions if t.layer == layer]
        if not mine:
            continue
        rules: dict[str, int] = {}
        for t in mine:
            for rule, n in t.rows_by_rule.items():
                rules[rule] = rules.get(rule, 0) + n
        layers[layer] = {
            "seconds": sum(t.seconds for t in mine),
            "rows_in": sum(t.rows_in for t in mine),
            "rows_out": sum(t.rows_out for t in mine),
            "quarantined": sum(t.rows_quarantined for t in mine),
            "rules": rules,
            "failed": [t.source for t in mine if t.status == "failed"],
        }
    return {"pipeline_s": last - first, "first_start": first, "last_end": last, "layers": layers}

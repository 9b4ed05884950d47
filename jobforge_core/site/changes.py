"""The site's "what changed" page of a gold table: its current batch against the previous kept
one, as `jobforge diff` says it (the same dict, `ReleaseChanges.as_dict`, and sentences).

A diff reads both batches (hashed, streaming): on a 10M-row table that is tens of seconds, so
its result is kept in `catalog/changes/<table>.json` with the two batch ids, and recomputed
only when the table's current or previous batch changes, not at every site build.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from jobforge_core.common.atomic import write_json
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import JobForgeError
from jobforge_core.history.batches import versions
from jobforge_core.history.changes import story

SAMPLE = 10  # the largest changed values and the per-value rows the page lists


def changes_href(name: str, root: str = "") -> str:
    from jobforge_core.site.pages import slug

    return f"{root}changes/{slug(name)}.html"


def table_changes(cfg: PipelineConfig, table: str) -> dict[str, Any] | None:
    """The last release's changes of a gold table, or None when it holds one batch."""
    held = [v.batch_id for v in versions(cfg, Layer.GOLD, table)]
    if len(held) < 2:
        return None
    to_batch, from_batch = held[0], held[1]
    cache = cfg.catalog_path() / "changes" / f"{table}.json"
    try:
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if (kept.get("from_batch"), kept.get("to_batch")) == (from_batch, to_batch):
            return kept
    except (OSError, ValueError):
        pass  # none yet, or damaged: computed again
    from jobforge_core.run.audit import diff_table

    found: dict[str, Any] = {"from_batch": from_batch, "to_batch": to_batch}
    try:
        found |= diff_table(cfg, table, from_batch, to_batch, sample=SAMPLE).as_dict(table)
    except JobForgeError as exc:  # no grain, a repeated key: said on the page
        found["error"] = str(exc)
    write_json(cache, found)
    return found


def _cell(value: Any, plain: bool = False) -> str:
    """A value as text: counts with thousands separators, a key value (a year) as it is."""
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value))
    if isinstance(value, int | float) and not isinstance(value, bool) and not plain:
        return f"{value:,}"
    return escape("" if value is None else str(value))


def _records(rows: list[dict[str, Any]], title: str, anchor: str, key: list[str]) -> str:
    from jobforge_core.site.pages import grid

    if not rows:
        return ""
    headers = list(rows[0])
    numeric = [i for i, h in enumerate(headers) if isinstance(rows[0][h], int | float)]
    body = [[_cell(r.get(h), plain=h in key) for h in headers] for r in rows]
    return (
        f'<h2 id="{anchor}">{escape(title)}</h2><div class="scroll">'
        + grid(headers, body, numeric=numeric, id_=f"{anchor}-table")
        + "</div>"
    )


def changes_body(name: str, found: dict[str, Any]) -> str:
    """The page's body: the sentences first, then each part as a table."""
    from jobforge_core.site.pages import table_href

    head = (
        f'<p class=muted><a href="../{table_href(name)}">{escape(name)}</a></p>'
        f"<h1>What changed in {escape(name)}</h1>"
        f'<p class="lead">The current batch <code>{escape(found["to_batch"])}</code> against '
        f"the previous kept one <code>{escape(found['from_batch'])}</code>, by the grain key. "
        "The same as <code>jobforge diff " + escape(name) + "</code>.</p>"
    )
    if "error" in found:
        return head + f'<p id="changes-error">{escape(found["error"])}</p>'
    lines = "".join(f"<li>{escape(line)}</li>" for line in story(found))
    key = found["diff"]["key"]
    by_key = [
        {
            k: v
            for k, v in row.items()
            if k not in ("added_values", "removed_values", "quarantined_values")
        }
        for row in found["by_key"]
    ]
    said = {"added": "added", "removed": "removed", "quarantined": "in quarantine, not in gold"}
    listed = "".join(
        f"<p><strong>{escape(row['column'])} {said[what]}</strong>: "
        f"{_cell(row[f'{what}_values'])}</p>"
        for row in found["by_key"]
        for what in said
        if row[f"{what}_values"]
    )
    return (
        head
        + f'<ul id="changes-story">{lines}</ul>'
        + _records(by_key, "Per key column", "by-key", key)
        + listed
        + _records(found["measures"], "Per measure: the values changed, summed", "measures", key)
        + _records(found["values"], "Per key value: the changes, summed", "values", key)
        + _records(found["changed"], "The largest changed values", "changed", key)
        + _records(found["quarantined"], "Rows of the new batch in quarantine", "quarantined", key)
    )

"""The run summary: per source, rows at each layer and per gold table, quarantine, outputs;
its markdown; and the exception a failed run ends with, which carries it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.render import jobforge_command
from flows.results import our_words
from jobforge_core.common.models import LayerTransitionLog

LAYERS = ("staged", "bronze", "silver", "gold")


def source_summary(
    name: str,
    batch_id: str,
    logs: list[LayerTransitionLog],
    *,
    unchanged: bool = False,
    error: str | None = None,
    skipped: str | None = None,
) -> dict[str, Any]:
    """`skipped` says why a source's gold step did not run (a dependency failed)."""
    error = our_words(error)
    if unchanged:
        status = "unchanged"
    elif error:
        status = "failed"
    elif skipped:
        status = "skipped"
    elif any(log.row_count_quarantined for log in logs):
        status = "partial"
    else:
        status = "success"
    reasons: dict[str, int] = {}
    for log in logs:
        for rule, n in log.rows_by_rule.items():
            reasons[f"{log.target_layer.value}:{rule}"] = n
    return {
        "source": name,
        "status": status,
        "batch_id": batch_id,
        "rows": {log.target_layer.value: log.row_count_out for log in logs},
        "gold_tables": {
            table: n
            for log in logs
            if log.target_layer.value == "gold"
            for table, n in log.rows_by_table.items()
        },
        "quarantined": sum(log.row_count_quarantined for log in logs),
        "reasons": reasons,
        "outputs": [
            f for log in logs if log.target_layer.value == "gold" for f in log.target_files
        ],
        "quarantine_files": [f for log in logs for f in log.quarantine_files],
        "schema_changes": [
            f"{log.target_layer.value} {c.describe()}" for log in logs for c in log.schema_changes
        ],
        "columns_not_carried": [c for log in logs for c in log.columns_not_carried],
        "error": error,
        "skipped": skipped,
    }


class RunFailed(Exception):
    """A run with a failed or skipped source: the flow run ends `Failed` with this exception,
    which carries the run summary (`.summary`, the dict a completed run returns). Expected:
    a failed source is the run's result, not a fault (tasks/run_logging.ExpectedFailures)."""

    expected_failure = True

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message, summary)  # both in args: the exception pickles whole
        self.message = message
        self.summary = summary

    def __str__(self) -> str:
        return self.message


def run_outcome(state: Any) -> dict[str, Any] | None:
    """The run summary from a flow run's final state, completed or failed; None when the run
    ended without one (crashed, cancelled)."""
    result = state.result(raise_on_failure=False)
    if isinstance(result, RunFailed):
        return result.summary
    return result if isinstance(result, dict) else None


def _one_line(text: str, limit: int = 240) -> str:
    """A reason on one line of the artifact: newlines folded, long texts cut with an ellipsis
    (the full text is in the source's error report and the task run's page)."""
    flat = " ".join(str(text).split()).replace("|", "/")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _count(n: Any) -> str:
    return "–" if n is None or n == "" else f"{n:,}" if isinstance(n, int) else str(n)


def headline(summaries: list[dict[str, Any]], problems: list[str] | None = None) -> list[str]:
    """What went wrong, first and one line each: every failed or skipped source with its
    reason, then every run-level problem; or one line saying all is well."""
    lines = []
    for s in summaries:
        if s["status"] == "failed":
            lines.append(f"- **FAILED `{s['source']}`**: {_one_line(s['error'] or 'failed')}")
        elif s["status"] == "skipped":
            lines.append(f"- **SKIPPED `{s['source']}`**: {_one_line(s['skipped'] or '')}")
    lines += [f"- **FAILED** {_one_line(p)}" for p in problems or []]
    ok = sum(s["status"] not in ("failed", "skipped") for s in summaries)
    partial = [s["source"] for s in summaries if s["status"] == "partial"]
    tail = f"; {len(partial)} with rows in quarantine" if partial else ""
    if lines:
        return [
            f"**Failed**: {len(lines)} problem(s); {ok} of {len(summaries)} source(s) "
            f"succeeded{tail}.",
            "",
            *lines,
        ]
    return [f"**Succeeded**: {len(summaries)} source(s){tail}."]


def markdown(
    summaries: list[dict[str, Any]],
    flow_run_name: str = "",
    site: str | None = None,
    problems: list[str] | None = None,
) -> str:
    """What failed and why first (one line each), then a table narrow enough for Prefect's
    artifact page at 1,400 px (seven short columns: per-table counts and reasons are listed
    below it, not in it), then quarantine, gold tables and outputs per source.
    `site`: the catalog site's index.html, linked so the run leads to its tables."""
    lines = [f"# JobForge run {flow_run_name}".rstrip(), "", *headline(summaries, problems)]
    lines += [
        "",
        "| source | status | staged | bronze | silver | gold | quarantined |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in summaries:
        rows = [_count(s["rows"].get(layer)) for layer in LAYERS[:-1]]
        tables = s["gold_tables"]  # each gold table's own count: listed below
        gold = f"{len(tables)} table(s)" if len(tables) > 1 else _count(s["rows"].get("gold"))
        rows.append(gold)
        lines.append(
            f"| {s['source']} | {s['status']} | {' | '.join(rows)} | {_count(s['quarantined'])} |"
        )
    quarantined = [s for s in summaries if s["reasons"]]
    if quarantined:
        lines += ["", "## Quarantined rows", ""]
        for s in quarantined:
            reasons = ", ".join(f"{k} {v:,}" for k, v in s["reasons"].items())
            lines.append(f"- `{s['source']}`: {reasons}")
    multi = [s for s in summaries if s["gold_tables"]]
    if multi:
        lines += ["", "## Gold tables", ""]
        for s in multi:
            tables = ", ".join(f"{t} {n:,}" for t, n in s["gold_tables"].items())
            lines.append(f"- `{s['source']}`: {tables}")
    lines += ["", "## Outputs", ""]
    for s in summaries:
        for path in s["outputs"]:
            lines.append(f"- `{s['source']}` -> `{path}`")
        for path in s["quarantine_files"]:
            lines.append(f"- `{s['source']}` quarantine: `{path}`")
        for change in s.get("schema_changes", []):
            lines.append(f"- `{s['source']}` schema change: {change}")
        if s.get("columns_not_carried"):
            columns = ", ".join(f"`{c}`" for c in s["columns_not_carried"])
            lines.append(f"- `{s['source']}` columns not carried to gold: {columns}")
    if site:
        uri = Path(site).resolve().as_uri()
        lines += [
            "",
            "## Catalog site",
            "",
            f"Tables, lineage, model, glossary and quality: [{site}]({uri})",
            "(open it from disk, or "
            f"`{jobforge_command()} docs --serve --data-root {Path(site).parent.parent}`)",
        ]
    return "\n".join(lines) + "\n"

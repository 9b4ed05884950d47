"""Issue 28, item 3: the Prefect pages say what happened, readably.

- The `jobforge-summary` artifact starts with what failed and why, one line each (before, a
  failed source was a row with blank counts and an empty reasons cell, its reason buried in
  the outputs list behind "Task run encountered an exception SourceFileError:"); its table has
  seven short columns and fits Prefect's artifact page at 1,400 px (measured in Chromium).
- A data error ends its task run Failed with the reason as the message and no traceback in the
  flow run's logs (before: Prefect's "Task run encountered an exception" and a traceback).
- The catalog task run is named `catalog` (before: `rebuild_catalog-564`, a random suffix).
- `jobforge run` on its own temporary server links to no flow-run page (dead once the command
  ends): the transition logs, `catalog.transitions` and `history --format json` keep the run
  id and no URL.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import SAMPLES
from markdown_it import MarkdownIt
from prefect_api import artifacts, flow_run_id, logs, task_runs

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "docs" / "screenshots"
SOME = ["noc_structure", "cops_employment", "cops_retirements"]
COPS = "employment_emploi_2024_2033_noc2021.csv"
# Prefect's UI at 1,400 px: the side bar and the page's margins leave about 1,100 px to an
# artifact's markdown.
ARTIFACT_WIDTH = 1100
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin: 0; font: 14px/1.5 system-ui, sans-serif; }}
main {{ width: {width}px; padding: 0 16px; box-sizing: border-box; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
</style></head><body><main id="artifact">{body}</main></body></html>"""


def _run(data_root: Path, source_dir: Path):
    from flows import jobforge_flow

    return jobforge_flow(
        data_root=str(data_root), source_dir=str(source_dir), sources=SOME, return_state=True
    )


def _render(browser, markdown: str, path: Path) -> dict:
    html = MarkdownIt("commonmark").enable("table").render(markdown)
    path.write_text(PAGE.format(width=ARTIFACT_WIDTH, body=html), encoding="utf-8")
    browser.open(path.as_uri())
    return browser.js(
        "(() => { const m = document.getElementById('artifact');"
        " const t = m.querySelector('table');"
        " return {main: m.clientWidth, scroll: m.scrollWidth,"
        " table: t ? t.getBoundingClientRect().width : 0}; })()"
    )


@pytest.mark.usefixtures("prefect_harness")
def test_failed_run_summary_names_the_failure_first_and_fits(browser, tmp_path, source_copy):
    (source_copy / COPS).write_bytes(b"\x00\x01garbage" * 100)
    state = _run(tmp_path / "data", source_copy)
    assert state.is_failed()
    run_id = flow_run_id(state)
    summary = {a.key: a for a in artifacts(run_id)}["jobforge-summary"].data
    body = [line for line in summary.splitlines()[1:] if line.strip()]
    assert body[0].startswith("**Failed**: 1 problem(s); 2 of 3 source(s) succeeded")
    assert body[1].startswith("- **FAILED `cops_employment`**: ")
    assert "binary" in body[1] and "Task run encountered" not in body[1]
    assert "\n" not in body[1] and len(body[1]) < 300
    header = next(line for line in body if line.startswith("| source"))
    assert header.count("|") - 1 == 7
    row = next(line for line in body if line.startswith("| cops_employment |"))
    assert "| failed |" in row
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = _render(browser, summary, tmp_path / "failed.html")
    browser.screenshot(SCREENSHOTS / "prefect-summary-failed.png")
    assert size["scroll"] <= size["main"], size
    runs = task_runs(run_id)
    names = sorted(r.name for r in runs)
    assert "catalog" in names
    assert all(re.fullmatch(r"(stage|bronze|silver|gold)-[a-z_]+|catalog", n) for n in names)
    failed = [r for r in runs if r.state.is_failed()]
    assert [r.name for r in failed] == ["stage-cops_employment"]
    assert "binary" in failed[0].state.message
    assert not failed[0].state.message.startswith("Task run encountered")
    messages = logs(run_id)
    assert not [m for m in messages if "Traceback" in m or "encountered an exception" in m]


@pytest.mark.usefixtures("prefect_harness")
def test_good_run_summary_says_so_first_and_fits(browser, tmp_path):
    state = _run(tmp_path / "data", SAMPLES)
    assert state.is_completed()
    summary = {a.key: a for a in artifacts(flow_run_id(state))}["jobforge-summary"].data
    body = [line for line in summary.splitlines()[1:] if line.strip()]
    assert body[0] == "**Succeeded**: 3 source(s)."
    assert "| noc_structure | success | 21 | 21 | 21 | 2 table(s) | 0 |" in body
    assert "- `noc_structure`: dim_noc_structure 21, dim_noc 8" in body
    size = _render(browser, summary, tmp_path / "good.html")
    browser.screenshot(SCREENSHOTS / "prefect-summary-good.png")
    assert size["scroll"] <= size["main"], size


def test_a_run_on_its_own_temporary_server_links_to_no_dead_page(tmp_path):
    """The real command, its own temporary server (no API URL configured)."""
    jobforge = Path(sys.executable).parent / "jobforge"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PREFECT_API_URL", "PREFECT_RESULTS_LOCAL_STORAGE_PATH"}
    }
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    env["PREFECT_API_BLOCKS_REGISTER_ON_START"] = "false"
    data = tmp_path / "data"
    done = subprocess.run(
        [str(jobforge), "run", "--data-root", str(data), "--source-dir", str(SAMPLES)]
        + ["--source", "noc_structure"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with duckdb.connect(str(data / "jobforge.duckdb"), read_only=True) as con:
        rows = con.sql("SELECT flow_run_id, flow_run_url FROM catalog.transitions").fetchall()
    assert len(rows) == 4
    assert all(run_id and url is None for run_id, url in rows), rows
    history = subprocess.run(
        [str(jobforge), "history", "dim_noc", "--data-root", str(data), "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert history.returncode == 0, history.stderr[-2000:]
    text = json.loads(history.stdout)
    assert "http" not in json.dumps(text)
    page = (data / "docs" / "tables" / "dim_noc.html").read_text(encoding="utf-8")
    assert "/runs/flow-run/" not in page and rows[0][0] in page

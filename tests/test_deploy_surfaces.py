"""Issue 28, Prefect pages of a deployment run on a real server and a real process worker.

- An expected data failure (a damaged file) ends the flow run `Failed` with its one-line
  message, and neither the flow run's logs nor the worker's output has an ERROR line or a
  traceback (before: `ERROR ... Engine execution exited with unexpected exception` and a
  35-line traceback ending in `flows.summary.RunFailed`; the quarantined task at ERROR).
- A broken YAML spec in a deployment run is one line: the run's state message (before: 123
  worker lines and 4 tracebacks).
- The summary artifact's first lines name the failed sources and why.
- A run created with a JobForge name (`--flow-run-name`, as the README's Deploy section and
  docs/prefect-runs.md say) has it from creation, as read through the API right after
  `prefect deployment run`, and ends with it; one created without is renamed by the worker's
  pull step, before the flow starts.
- Screenshots of the summary artifact in Prefect's own UI (good and failed run), written to
  docs/images/ when JOBFORGE_SCREENSHOTS is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from browser import Browser, find_chromium
from conftest import SAMPLES
from test_deploy import _api, _prefect, _worker_once, server  # noqa: F401 (the fixture)

DAMAGED = "labels_oasis_2023_v1.0.csv"
FAILED_SOURCES = ["noc_structure", "oasis_labels", "oasis_interests"]
RANDOM_NAME = re.compile(r"[a-z]+-[a-z]+")  # Prefect's generate_slug(2): 'blue-raccoon'


def _created(out: str) -> str:
    return re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)


def _read_run(env: dict[str, str], run_id: str) -> dict:
    (run,) = _api(env, "/flow_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
    return run


def _logs(env: dict[str, str], run_id: str) -> list[dict]:
    found: list[dict] = []
    while True:
        body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "offset": len(found), "limit": 200}
        page = _api(env, "/logs/filter", body)
        found += page
        if len(page) < 200:
            return found


def _summary(env: dict[str, str], run_id: str) -> str:
    found = _api(env, "/artifacts/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
    (summary,) = [a for a in found if a["key"] == "jobforge-summary"]
    return summary["data"]


def _deployment_run(env: dict[str, str], params: dict, *extra: str) -> str:
    out = _prefect(
        env, "deployment", "run", "jobforge/nightly", "--params", json.dumps(params), *extra
    )
    return _created(out)


def _ui_screenshot(env: dict[str, str], run_id: str, path: Path, expect: str) -> None:
    """The summary artifact's page in Prefect's own UI, once its markdown has rendered."""
    chromium = find_chromium()
    assert chromium, "Chromium is needed for the Prefect UI screenshots"
    found = _api(env, "/artifacts/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
    (artifact,) = [a for a in found if a["key"] == "jobforge-summary"]
    ui = env["PREFECT_API_URL"].removesuffix("/api")
    with Browser(chromium, width=1400, height=1000) as browser:
        browser.open(f"{ui}/artifacts/artifact/{artifact['id']}")
        deadline = time.monotonic() + 60
        while expect not in (browser.js("document.body.innerText") or ""):
            assert time.monotonic() < deadline, browser.js("document.body.innerText")[:2000]
            time.sleep(0.5)
        time.sleep(1)  # fonts and layout settle after the text is there
        shot = browser.screenshot(path, max_height=1400)
        width = int.from_bytes(shot.read_bytes()[16:20], "big")
        assert width == 1400, f"{path.name}: the page scrolls sideways ({width} px)"


@pytest.mark.slow  # a server, a deploy, three deployment runs and the UI: about 70 s
def test_deployment_runs_say_what_failed_in_one_line_with_no_error_or_traceback(
    server,  # noqa: F811
    tmp_path,
):
    env = server
    _prefect(env, "work-pool", "create", "jobforge-process", "--type", "process")
    _prefect(env, "--no-prompt", "deploy", "--name", "nightly")

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    good_name = f"jobforge-noc_structure-{stamp}"
    good = _deployment_run(
        env,
        {"data_root": str(tmp_path / "good"), "source_dir": str(SAMPLES)}
        | {"sources": ["noc_structure"]},
        "--flow-run-name",
        good_name,
    )
    damaged = tmp_path / "damaged"
    shutil.copytree(SAMPLES, damaged)
    (damaged / DAMAGED).write_bytes(b"\x00\x01garbage" * 100)
    failed = _deployment_run(
        env,
        {"data_root": str(tmp_path / "bad"), "source_dir": str(damaged)}
        | {"sources": FAILED_SOURCES},
    )
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "broken.yaml").write_text("name: broken\nfile: [not closed\n", encoding="utf-8")
    broken = _deployment_run(
        env,
        {"data_root": str(tmp_path / "spec"), "source_dir": str(SAMPLES)}
        | {"sources": ["noc_structure"], "spec_dirs": [str(specs)]},
    )

    # The name at creation, read back at once: the one given, not a random one.
    assert _read_run(env, good)["name"] == good_name
    assert not RANDOM_NAME.fullmatch(good_name)

    output = _worker_once(env, tmp_path)
    bad_lines = [line for line in output.splitlines() if "ERROR" in line or "Traceback" in line]
    assert not bad_lines, "the worker printed:\n" + "\n".join(bad_lines) + "\n" + output[-4000:]

    runs = {key: _read_run(env, i) for key, i in (("good", good), ("failed", failed))}
    runs["broken"] = _read_run(env, broken)
    assert runs["good"]["state_type"] == "COMPLETED", output[-4000:]
    assert runs["good"]["name"] == good_name  # the name it was created with, kept
    # Created without a name: the pull step gave the JobForge one before the flow started.
    assert runs["failed"]["name"].startswith("jobforge-noc_structure+oasis_labels+oasis_int")

    # The expected data failure: Failed, one line, no ERROR, no traceback in the run's logs.
    assert runs["failed"]["state_type"] == "FAILED", output[-4000:]
    assert runs["failed"]["state"]["message"] == (
        "1 source(s) failed: oasis_labels; 1 skipped: oasis_interests"
    )
    for key in ("good", "failed", "broken"):
        records = _logs(env, runs[key]["id"])
        assert records, key
        loud = [r["message"][:300] for r in records if r["level"] >= 40]
        assert not loud, (key, loud)
        traced = [r["message"][:300] for r in records if "Traceback" in r["message"]]
        assert not traced, (key, traced)

    # What failed and why, first, one line each.
    body = [line for line in _summary(env, failed).splitlines()[1:] if line.strip()]
    assert body[0].startswith("**Failed**: 2 problem(s); 1 of 3 source(s) succeeded")
    assert body[1].startswith("- **FAILED `oasis_labels`**: ") and "binary" in body[1]
    assert body[2] == "- **SKIPPED `oasis_interests`**: depends on oasis_labels, which failed"

    # The broken spec: one line, naming the file.
    message = runs["broken"]["state"]["message"]
    assert runs["broken"]["state_type"] == "FAILED", output[-4000:]
    assert "broken.yaml" in message and "\n" not in message, message
    said = [line for line in output.splitlines() if "broken.yaml" in line]
    assert len(said) == 1, said  # the run's final state, once

    folder = tmp_path / "screenshots"
    _ui_screenshot(env, good, folder / "prefect-summary-good.png", "Succeeded")
    _ui_screenshot(env, failed, folder / "prefect-summary-failed.png", "FAILED")
    target = os.environ.get("JOBFORGE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            shutil.copy(path, Path(target) / path.name)

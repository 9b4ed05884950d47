"""Issue 31: every command the documentation shows runs, as a reader types it.

Each page's ```bash blocks run in order with bash, from a folder laid out as the repository
root is after the quick start: `jobforge.yaml`, the samples in `data/source/`, a data root
already built by `.venv/bin/jobforge run` (run once for the module, the README's first
command), and `.venv/bin/jobforge` and `.venv/bin/python` as pip installs them. `jobforge` is
not on PATH: a page that shows it bare fails, as it would for a reader who never activated
the venv. Blocks marked `<!-- file: PATH -->` are written where the reader saves them;
the markers are described in tests/docs_pages.py. The tutorial's gold table is checked too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from docs_pages import REPO, Block, blocks, pages

BLOCK_TIMEOUT = 600
# Pages whose commands a test of their own runs, with what the page needs (built release files).
OWN_TESTS = {"releases.md": "test_releases_doc.py"}
PAGES = [
    p
    for p in pages()
    if p.name not in OWN_TESTS
    and any(b.lang == "bash" and not b.marker("not run") for b in blocks(p))
]


def _shims(bin_dir: Path) -> None:
    """`.venv/bin/jobforge` as pip writes the console script, `.venv/bin/python` the
    interpreter running the tests; both import this checkout."""
    bin_dir.mkdir(parents=True)
    script = bin_dir / "jobforge"
    script.write_text(  # pip's console script, guard included (Dask's workers import it)
        f"#!{sys.executable}\nimport re\nimport sys\nfrom flows.cli import main\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        "    sys.exit(main())\n"
    )
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    for path in (script, python):
        path.chmod(0o755)


def _env(home: Path) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "PREFECT_HOME": str(home / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": str(REPO),
        "LANG": "C.UTF-8",
        "TMPDIR": str(home / "tmp"),
    }
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The repository root after the quick start: samples, project file, venv scripts, and
    the data root `.venv/bin/jobforge run` built."""
    root = tmp_path_factory.mktemp("docs-commands")
    work = root / "base"
    shutil.copytree(REPO / "data" / "source", work / "data" / "source")
    shutil.copy(REPO / "jobforge.yaml", work / "jobforge.yaml")
    _shims(work / ".venv" / "bin")
    env = _env(root / "home")
    done = subprocess.run(
        [".venv/bin/jobforge", "run"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return work, env


def _jobforge_json(work: Path, env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [".venv/bin/jobforge", *args, "--format", "json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _placeholders(text: str, work: Path, env: dict[str, str]) -> str:
    """What the reader copies from an earlier answer: `<old batch>` and `<new batch>` of
    fact_cops_employment as `history` lists them, `<snapshot id>` the oldest snapshot."""
    if "<old batch>" in text or "<new batch>" in text:
        batches = _jobforge_json(work, env, "history", "fact_cops_employment")["batches"]
        assert len(batches) >= 2, "the page's example needs two batches"
        text = text.replace("<new batch>", batches[0]["batch_id"])
        text = text.replace("<old batch>", batches[-1]["batch_id"])
    if "<snapshot id>" in text:
        snapshots = _jobforge_json(work, env, "history")
        text = text.replace("<snapshot id>", snapshots[-1]["snapshot"])
    return text


def _expected_lines(block: Block | None) -> list[re.Pattern]:
    if block is None or block.lang != "text" or not block.follows_directly:
        return []
    return [
        re.compile(".*".join(re.escape(part) for part in line.split("...")))
        for line in block.body.splitlines()
        if line.strip()
    ]


def run_page(page: Path, built: tuple[Path, dict[str, str]], work: Path) -> list[str]:
    """Run the page's blocks in `work` (a copy of the built root); returns what ran."""
    base, env = built
    shutil.copytree(base, work, symlinks=True)
    ran = []
    found = blocks(page)
    for i, block in enumerate(found):
        target = block.marker("file")
        if target:
            path = work / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.body, encoding="utf-8")
        if block.lang != "bash" or block.marker("not run"):
            continue
        for before in block.markers.get("before", []):
            done = subprocess.run(
                ["bash", "-e", "-c", before], cwd=work, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{block.where}: before: {before}\n{done.stderr}"
        script = _placeholders(block.body, work, env)
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
        expected = int(block.marker("exit") or 0)
        output = done.stdout + done.stderr
        assert done.returncode == expected, (
            f"{block.where}: exit {done.returncode}, expected {expected}\n{script}\n"
            f"{output[-4000:]}"
        )
        following = found[i + 1] if i + 1 < len(found) else None
        for pattern in _expected_lines(following):
            assert pattern.search(output), f"{block.where}: no line like {pattern.pattern!r}"
        ran.append(script)
    return ran


def _check_tutorial(work: Path) -> None:
    """The tutorial's file reached gold: six postings, then seven once the code is fixed;
    the quarantined one is in the first batch's quarantine."""
    gold = pl.read_parquet(work / "data" / "gold" / "fact_job_posting.parquet")
    assert gold.height == 7 and gold["posting_id"].n_unique() == 7
    p002 = gold.filter(pl.col("posting_id") == "P-002").row(0, named=True)
    assert p002["province"] == "QC" and p002["salary"] == 82500
    assert gold.filter(pl.col("posting_id") == "P-004")["salary"].to_list() == [None]
    assert gold.filter(pl.col("posting_id") == "P-005")["noc_code"].to_list() == ["00011"]
    quarantined = pl.concat(
        pl.read_parquet(p)
        for p in (work / "data" / "quarantine" / "gold" / "fact_job_posting").glob("*.parquet")
    )
    assert quarantined["_quarantine_reason"].to_list() == ["foreign_key"]
    assert quarantined["_source_row"].to_list() == [7]


CHECKS = {"tutorial.md": _check_tutorial}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_of_the_page_runs(page: Path, built, tmp_path: Path):
    work = tmp_path / "repo"
    ran = run_page(page, built, work)
    assert ran, f"{page.name}: no command ran"
    assert not any(re.search(r"(^|[;&|(]\s*)jobforge ", s, flags=re.M) for s in ran), (
        "a bare `jobforge` needs an activated venv: write .venv/bin/jobforge"
    )
    check = CHECKS.get(page.name)
    if check is not None:
        check(work)


def test_the_runner_catches_a_wrong_command(built, tmp_path: Path):
    """A command that fails fails the page; a bare `jobforge` is not found."""
    page = tmp_path / "page.md"
    page.write_text("```bash\njobforge catalog\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="exit 127"):
        run_page(page, built, tmp_path / "repo")


def test_every_docs_page_with_commands_is_run():
    names = {p.name for p in PAGES}
    assert {"README.md", "tutorial.md", "querying.md", "troubleshooting.md"} <= names
    assert os.path.basename(__file__) == "test_docs_commands.py"
    for page, test in OWN_TESTS.items():
        assert (REPO / "docs" / page).is_file() and (REPO / "tests" / test).is_file()

"""Issue 29: run-level promises checked by what the run itself did (exit code, its statuses,
what it published, what is left on disk), not by a helper called afterwards.

Each test here was written against a single-point mutant of the invariant code that survived
every older test (the audit of issue 29): the mutant named in each docstring now fails it.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES

from flows.cli import main
from jobforge_core.common.config import PipelineConfig
from jobforge_core.run.publish import current_snapshot

pytestmark = pytest.mark.usefixtures("prefect_harness")

DIMENSION = "noc_structure"


def _run(*args: str) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", "--format", "json", *args])
    return code, json.loads(out.getvalue()), err.getvalue()


def _statuses(doc: dict) -> dict[str, str]:
    return {s["source"]: s["status"] for s in doc["sources"]}


def _batches(doc: dict) -> dict[str, str]:
    return {s["source"]: s["batch_id"] for s in doc["sources"]}


def test_a_retention_or_description_edit_reprocesses_nothing(tmp_path: Path):
    """README: `history_retention` and `description` never change a table's content, so a run
    after editing only them finds every source unchanged and publishes nothing new.
    Mutant: either field taken out of `_NOT_FINGERPRINTED` (spec.py)."""
    root = tmp_path / "data"
    specs = tmp_path / "my-specs"
    specs.mkdir()
    shipped = (REPO / "jobforge_core" / "specs" / f"{DIMENSION}.yaml").read_text()
    common = ["--data-root", str(root), "--source-dir", str(SAMPLES), "--source", DIMENSION]
    code, first, _ = _run(*common, "--specs", str(specs))
    assert code == 0 and _statuses(first) == {DIMENSION: "success"}
    published = current_snapshot(PipelineConfig(data_root=root, source_dir=SAMPLES)).id

    edits = {
        "history_retention": shipped + "history_retention: 3\n",
        "description": shipped.replace(
            'description: "NOC 2021 Version 1.0', 'description: "The NOC 2021 V1.0', 1
        ),
    }
    for field, body in edits.items():
        assert body != shipped, field
        (specs / f"{DIMENSION}.yaml").write_text(body)
        code, again, err = _run(*common, "--specs", str(specs))
        assert (code, _statuses(again)) == (0, {DIMENSION: "unchanged"}), (field, err)
        assert _batches(again) == _batches(first), field
        cfg = PipelineConfig(data_root=root, source_dir=SAMPLES)
        assert current_snapshot(cfg).id == published, field

    # and a change that does shape the output is a new batch: the test can tell the two apart
    (specs / f"{DIMENSION}.yaml").write_text(shipped.replace('version: "1"', 'version: "2"', 1))
    code, changed, _ = _run(*common, "--specs", str(specs))
    assert _statuses(changed) == {DIMENSION: "success"}
    assert _batches(changed) != _batches(first)


@pytest.mark.parametrize("inside", [".", "catalog/inbox"], ids=["is-the-root", "in-catalog"])
def test_the_stale_temp_sweep_spares_temp_named_files_of_a_source_dir_inside_the_root(
    tmp_path: Path, inside: str
):
    """A run removes the temp files a killed run left in the data root, but never a file of
    the source directory, wherever it lies in the data root (a user's file can carry any
    name). Mutant: the source-directory exclusion removed from `stale_temps`. Before the fix,
    a source directory that is the data root spared every leftover of a killed run."""
    root = tmp_path / "data"
    source = root / inside
    shutil.copytree(SAMPLES, source)
    mine = source / ".notes.0123456789ab.tmp"  # a user's file that looks like one of ours
    mine.write_text("keep me")
    left = root / "catalog" / ".tables.json.fedcba987654.tmp"  # what a killed run leaves
    left.parent.mkdir(parents=True, exist_ok=True)
    left.write_text("half written")
    args = ["--data-root", str(root), "--source-dir", str(source), "--source", DIMENSION]
    code, doc, err = _run(*args)
    assert (code, _statuses(doc)) == (0, {DIMENSION: "success"}), err
    assert not left.exists()
    assert mine.read_text() == "keep me"


def _damage_published_copy_only(root: Path, table: str) -> Path:
    """The published file damaged while the working file stays intact (as on a file system
    where publishing copies instead of linking)."""
    from jobforge_core.run.publish import current_snapshot

    entry = current_snapshot(PipelineConfig(data_root=root)).tables[table]
    published = root / entry.file
    published.unlink()  # the working file keeps its bytes
    published.write_bytes(b"damaged at rest")
    return published


def test_a_run_rebuilds_the_source_of_a_damaged_published_file_or_relinks_it(tmp_path: Path):
    """README (Safety): a plain run checks the published files by stat at its start; the
    source of a damaged one is rebuilt, and when that rebuild fails the intact working
    version is published again. Mutants: `mark_for_repair` dropped from the flow (the source
    is called unchanged), `repair=set()` (a failed rebuild leaves the damage published)."""
    from jobforge_core.run.checksums import sha256_file
    from jobforge_core.run.publish import current_snapshot

    root = tmp_path / "data"
    source = tmp_path / "source"
    shutil.copytree(SAMPLES, source)
    args = ["--data-root", str(root), "--source-dir", str(source), "--source", DIMENSION]
    assert _run(*args)[0] == 0
    cfg = PipelineConfig(data_root=root)

    published = _damage_published_copy_only(root, "dim_noc")
    code, doc, err = _run(*args)
    assert (code, _statuses(doc)) == (0, {DIMENSION: "success"}), err  # rebuilt, not unchanged
    entry = current_snapshot(cfg).tables["dim_noc"]
    assert sha256_file(root / entry.file) == entry.sha256

    published = _damage_published_copy_only(root, "dim_noc")
    (source / "noc_structure_en.csv").write_text("")  # and now its rebuild fails
    code, doc, err = _run(*args)
    assert (code, _statuses(doc)) == (1, {DIMENSION: "failed"}), err
    entry = current_snapshot(cfg).tables["dim_noc"]
    assert sha256_file(root / entry.file) == entry.sha256  # the working version, relinked
    assert published.read_bytes() != b"damaged at rest" or entry.file != str(
        published.relative_to(root)
    )

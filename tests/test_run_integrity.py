"""Issue 10 items 1, 2, 3, 11, 13: gold never describes bytes it did not read, never keeps
orphans after a dimension changes, never sits behind a stale catalog, and one bad file or a
killed run never takes the others down or leaves litter behind."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO
from helpers import source_records

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.run.state import read_state
from jobforge_core.sources.spec import PACKAGE_SPECS, load_specs

NOC = "noc_structure_en.csv"
STATUSES = ("success", "partial", "unchanged", "failed")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args: str, prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    """`jobforge ...` as a user runs it, against the session's Prefect test server."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    env.pop("PREFECT_RESULTS_LOCAL_STORAGE_PATH", None)
    code = "import sys; from flows.cli import main; sys.exit(main())"
    if args and args[0] == "run":  # the per-source table these tests read (_statuses)
        args = (*args, "--summary", "full")
    return subprocess.run(
        [*(prefix or []), sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


# --- item 1: the batch is the bytes it staged ------------------------------------------------


def test_a_file_swapped_between_planning_and_staging_lands_under_its_own_hash(
    tmp_path, source_copy
):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    original = source_copy / NOC
    planned_bytes = original.read_bytes()
    plan = plan_sources(load_specs(), cfg, ["noc_structure"])["noc_structure"]
    assert plan.content_sha256 == hashlib.sha256(planned_bytes).hexdigest()

    # Another process replaces the file before staging reads it: half the records are gone.
    lines = planned_bytes.decode("utf-8-sig").splitlines(keepends=True)
    swapped = tmp_path / "swapped.csv"
    swapped.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
    os.replace(swapped, original)
    logs = run_source(plan, cfg)

    staged = pl.read_parquet(cfg.table_path(Layer.STAGED, "noc_structure"))
    state = read_state(cfg, "noc_structure")
    # What was staged is what the batch and the hash say: the planned bytes, all of them.
    assert logs[0].source_sha256 == state.content_sha256 == plan.content_sha256
    assert staged["_batch_id"].cast(pl.String).unique().to_list() == [plan.batch_id]
    (tmp_path / "planned.csv").write_bytes(planned_bytes)
    assert staged.height == len(source_records(tmp_path / "planned.csv"))
    assert not list(cfg.staged_path().glob(".*snapshot*"))  # the private copy is gone

    # The file is put back: the next plan is unchanged, and rightly so (gold holds these bytes).
    (tmp_path / "again.csv").write_bytes(planned_bytes)
    os.replace(tmp_path / "again.csv", original)
    assert plan_sources(load_specs(), cfg, ["noc_structure"])["noc_structure"].unchanged

    # With the swapped file in place, the next plan is a new batch, not `unchanged`.
    os.replace(tmp_path / "planned.csv", tmp_path / "keep.csv")
    original.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
    replan = plan_sources(load_specs(), cfg, ["noc_structure"])["noc_structure"]
    assert not replan.unchanged and replan.batch_id != plan.batch_id
    assert replan.content_sha256 == _sha(original)


# --- item 11: one unreadable file quarantines that source only ---------------------------------


def _without_root_override() -> list[str]:
    """A prefix that makes file permissions bind (root reads a mode-000 file otherwise)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a mode-000 file is readable")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


@pytest.mark.usefixtures("prefect_harness")
def test_an_unreadable_file_and_a_directory_quarantine_their_sources_only(tmp_path, source_copy):
    employment = source_copy / "employment_emploi_2024_2033_noc2021.csv"
    employment.chmod(0)
    retirements = source_copy / "retirements_retraites_2024_2033_noc2021.csv"
    retirements.unlink()
    retirements.mkdir()
    data = tmp_path / "data"
    sources = ["noc_structure", "cops_employment", "cops_retirements", "cops_summary"]
    done = _cli(
        *["run", "--data-root", str(data), "--source-dir", str(source_copy)],
        *[a for s in sources for a in ("--source", s)],
        prefix=_without_root_override(),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    cfg = PipelineConfig(data_root=data)
    assert cfg.table_path(Layer.GOLD, "dim_noc").exists()
    assert cfg.table_path(Layer.GOLD, "fact_cops_summary").exists()
    reports = {}
    for path in (cfg.quarantine_path() / "files").glob("*/error.json"):
        body = json.loads(path.read_text())
        reports[body["source"]] = body
    assert set(reports) == {"cops_employment", "cops_retirements"}
    assert "permission denied" in reports["cops_employment"]["message"].lower()
    assert employment.name in reports["cops_employment"]["message"]
    assert "is a directory" in reports["cops_retirements"]["message"]
    assert "FAILED cops_employment" in done.stderr and "FAILED cops_retirements" in done.stderr


# --- item 2: dependents follow their dimensions -----------------------------------------------


def _drop_unit_group(source_dir: Path, code: str) -> None:
    path = source_dir / NOC
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(f"5,Unit Group,{code},")]
    assert len(kept) == len(lines) - 1
    path.write_text("\ufeff" + "".join(kept), encoding="utf-8")


def _statuses(stdout: str) -> dict[str, str]:
    rows = [line.split() for line in stdout.splitlines()]
    return {r[0]: r[1] for r in rows if len(r) > 1 and r[1] in STATUSES}


@pytest.mark.usefixtures("prefect_harness")
def test_a_dimension_run_alone_brings_its_dependents_along_and_no_orphan_stays(
    tmp_path, source_copy
):
    from jobforge_core.checks.integrity import foreign_key_orphans

    data = tmp_path / "data"
    # The samples have 9 OaSIS profiles, 2 of them in 21232: dropping it orphans 22% of each
    # OaSIS fact, past the default volume guard (10%); these specs allow it (at real scale,
    # one unit group of 516 is well under).
    specs_dir = tmp_path / "specs"
    specs_dir.mkdir()
    for spec_path in PACKAGE_SPECS.glob("oasis_*.yaml"):
        text = spec_path.read_text() + "thresholds: {max_quarantine_share: {gold: 0.3}}\n"
        (specs_dir / spec_path.name).write_text(text)
    root = ["--data-root", str(data), "--source-dir", str(source_copy), "--specs", str(specs_dir)]
    first = _cli("run", *root)
    assert first.returncode == 0, first.stdout + first.stderr
    cfg = PipelineConfig(data_root=data)
    fact = pl.read_parquet(cfg.table_path(Layer.GOLD, "fact_cops_employment"))
    assert "21232" in fact["noc_code"].to_list()

    _drop_unit_group(source_copy, "21232")
    alone = _cli("run", "--source", "noc_structure", *root)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    statuses = _statuses(alone.stdout)
    # every source whose gold reads dim_noc (directly or through dim_oasis_profile) ran again
    specs = load_specs()
    assert set(statuses) == set(specs) - {"oasis_guide"}, alone.stdout
    assert "failed" not in statuses.values() and "unchanged" not in statuses.values()
    assert foreign_key_orphans(cfg, specs) == []
    fact = pl.read_parquet(cfg.table_path(Layer.GOLD, "fact_cops_employment"))
    assert "21232" not in fact["noc_code"].to_list()
    orphans = pl.read_parquet(cfg.quarantine_path() / "gold" / "fact_cops_employment" / "*.parquet")
    assert set(orphans["_quarantine_reason"]) == {"foreign_key"}
    assert "21232" in orphans["noc_code"].to_list()

    again = _cli("run", *root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(_statuses(again.stdout).values()) == {"unchanged"}


def test_a_dependent_built_against_an_older_dimension_is_not_unchanged(tmp_path, source_copy):
    """A dimension that reached gold without its dependents (a killed run, an older JobForge):
    the next plan re-runs every source built against the previous dimension batch."""
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    specs = load_specs()
    for plan in plan_sources(specs, cfg).values():
        run_source(plan, cfg)
    assert not [p for p in plan_sources(specs, cfg).values() if not p.unchanged]

    _drop_unit_group(source_copy, "21232")
    dim = plan_sources(specs, cfg)["noc_structure"]
    run_source(dim, cfg)  # the dimension alone, as a run killed right after it would leave it
    replan = plan_sources(specs, cfg)
    stale = {n for n, p in replan.items() if not p.unchanged}
    assert stale == set(specs) - {"noc_structure", "oasis_guide"}
    # Naming the (now unchanged) dimension brings the stale dependents along too.
    named = plan_sources(specs, cfg, ["noc_structure"])
    assert named["noc_structure"].unchanged
    assert {n for n, p in named.items() if not p.unchanged} == stale


# --- item 3: a failed or killed catalog rebuild is repaired -----------------------------------


def _store_rows(data: Path, table: str) -> int:
    import duckdb

    con = duckdb.connect(str(data / "jobforge.duckdb"), read_only=True)
    try:
        con.execute(f"SET file_search_path = '{data}'")
        return con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    finally:
        con.close()


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_catalog_rebuild_fails_the_run_and_the_next_run_repairs_it(tmp_path, source_copy):
    data = tmp_path / "data"
    root = ["--data-root", str(data), "--source-dir", str(source_copy), "--source"]
    first = _cli("run", *root, "noc_structure")
    assert first.returncode == 0, first.stdout + first.stderr
    store = data / "jobforge.duckdb"
    old_store = store.read_bytes()
    assert _store_rows(data, "dim_noc") == 8

    # The rebuild fails for real: the store's path is taken by a directory, so the new store
    # cannot be moved into place (after the table JSONs were already rewritten).
    _drop_unit_group(source_copy, "21232")
    store.unlink()
    store.mkdir()
    failed = _cli("run", *root, "noc_structure")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAILED catalog rebuild failed" in failed.stderr
    assert "Traceback" not in failed.stderr.split("FAILED")[-1]

    # The directory goes, the old store comes back (what a failed rebuild leaves): the next
    # run has no changed source, yet it sees the catalog is stale and rebuilds it.
    store.rmdir()
    store.write_bytes(old_store)
    repaired = _cli("run", *root, "noc_structure")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert _statuses(repaired.stdout) == {"noc_structure": "unchanged"}
    assert _store_rows(data, "dim_noc") == 7
    assert store.read_bytes() != old_store


# --- item 13: what a killed run leaves behind is removed by the next -------------------------


@pytest.mark.usefixtures("prefect_harness")
def test_a_killed_run_is_cleaned_up_and_its_stale_catalog_rebuilt_by_the_next(
    tmp_path, source_copy
):
    data = tmp_path / "data"
    cfg = PipelineConfig(data_root=data, source_dir=source_copy)
    root = ["--data-root", str(data), "--source-dir", str(source_copy), "--source"]
    assert _cli("run", *root, "noc_structure").returncode == 0

    # What kill -9 leaves: the dimension reached gold (its state too) but the catalog was not
    # rebuilt, and every writer's temp file is still there.
    _drop_unit_group(source_copy, "21232")
    run_source(plan_sources(load_specs(), cfg, ["noc_structure"])["noc_structure"], cfg)
    litter = [
        data / "staged" / ".noc_structure.parquet.0123456789ab.tmp",
        data / "bronze" / ".noc_structure.parquet.0123456789ab.tmp",
        data / "silver" / ".noc_structure.parquet.0123456789ab.tmp",
        data / "gold" / ".dim_noc.parquet.0123456789ab.tmp",
        data / "quarantine" / "silver" / "noc_structure" / ".b.parquet.0123456789ab.tmp",
        data / "catalog" / "tables" / ".dim_noc.json.0123456789ab.tmp",
        data / ".jobforge.duckdb.0123456789ab.tmp",
        data / ".jobforge.duckdb.0123456789ab.tmp.wal",
        data / "staged" / ".noc_structure.snapshot.0123456789ab.tmp" / NOC,
    ]
    for path in litter:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half-written")
    kept = [data / "gold" / "notes.tmp", data / "gold" / ".mine.tmp"]  # not JobForge's names
    for path in kept:
        path.write_bytes(b"user file")

    after = _cli("run", *root, "noc_structure")
    assert after.returncode == 0, after.stdout + after.stderr
    assert _statuses(after.stdout) == {"noc_structure": "unchanged"}
    assert not [p for p in litter if p.exists()]
    assert not (data / "staged" / ".noc_structure.snapshot.0123456789ab.tmp").exists()
    assert all(p.read_bytes() == b"user file" for p in kept)
    assert _store_rows(data, "dim_noc") == 7  # the stale store was rebuilt


FILLER_SPEC = """
name: filler
domain: test
file: filler.csv
renames: {Code: code, Name: name}
keys: [code]
gold:
  - table: fact_filler
    columns: {code: code, name: name}
"""


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A real full disk: a tmpfs a little larger than the source file (needs mount rights)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2700k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.usefixtures("prefect_harness")
def test_a_full_disk_says_no_space_left_on_device_and_quarantines_nothing(tmp_path, tiny_disk):
    import random
    import string

    rnd = random.Random(1)
    source, specs = tmp_path / "src", tmp_path / "specs"
    source.mkdir()
    specs.mkdir()
    (specs / "filler.yaml").write_text(FILLER_SPEC)
    rows = [f"{i:07d},{''.join(rnd.choices(string.ascii_letters, k=30))}" for i in range(60000)]
    (source / "filler.csv").write_text("Code,Name\n" + "\n".join(rows) + "\n")  # 2.3 MB
    data = tiny_disk / "data"
    done = _cli(
        *["run", "--data-root", str(data), "--source-dir", str(source), "--specs", str(specs)],
        *["--source", "filler"],
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED filler" in done.stderr and "no space left on device" in done.stderr
    assert "thrift" not in done.stderr.lower() and "unreadable" not in done.stderr
    assert not (data / "quarantine" / "files").exists()  # the file is not to blame
    cfg = PipelineConfig(data_root=data)
    assert not list(cfg.staged_path().glob(".*.tmp"))  # nothing half-written stays


def test_a_file_size_limit_is_reported_as_such_without_quarantine(tmp_path):
    """Portable (no mount rights needed): RLIMIT_FSIZE makes writes fail with EFBIG for real.
    The limit is set after planning, so the failing write is polars' staged parquet."""
    source, specs = tmp_path / "src", tmp_path / "specs"
    source.mkdir()
    specs.mkdir()
    (specs / "filler.yaml").write_text(FILLER_SPEC)
    import random
    import string

    rnd = random.Random(2)
    rows = [f"{i:07d},{''.join(rnd.choices(string.ascii_letters, k=30))}" for i in range(20000)]
    (source / "filler.csv").write_text("Code,Name\n" + "\n".join(rows) + "\n")  # 780 KB
    script = f"""
import resource, sys
from pathlib import Path
from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.errors import StorageError
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.sources.spec import load_specs
cfg = PipelineConfig(data_root=Path({str(tmp_path / "data")!r}), source_dir=Path({str(source)!r}))
plan = plan_sources(load_specs([Path({str(specs)!r})]), cfg, ["filler"])["filler"]
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
try:
    run_source(plan, cfg)
except StorageError as exc:
    print("StorageError:", exc)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert "StorageError:" in done.stdout, done.stdout + done.stderr
    assert "file too large" in done.stdout and "staged of filler" in done.stdout, done.stdout
    assert not (tmp_path / "data" / "quarantine" / "files").exists()
    assert not list((tmp_path / "data" / "staged").glob(".*.tmp"))

"""Issue 27: the next release lands by dropping the file in, a pin lasts until changed, and a
plain run never goes back to an older release on its own."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from flows.cli import main
from jobforge_core.common.config import Layer, PipelineConfig

RELEASE_1 = "employment_emploi_2024_2033_noc2021.csv"
RELEASE_2 = "employment_emploi_2025_2034_noc2021.csv"


def _next_release(source: Path) -> Path:
    """COPS 2025-2034 from the bundled 2024-2033: the window moves by one year, a value
    changes."""
    lines = (source / RELEASE_1).read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    years = [str(int(h) + 1) for h in header[3:]]
    rows = [line.split(",") for line in lines[1:]]
    rows[0][3] = str(int(rows[0][3]) + 1)
    out = source / RELEASE_2
    out.write_text("\n".join(",".join(r) for r in [header[:3] + years, *rows]) + "\n")
    return out


def _years(cfg: PipelineConfig) -> set[int]:
    fact = pl.read_parquet(cfg.table_path(Layer.GOLD, "fact_cops_employment"))
    return set(fact["year"].to_list())


def _loaded(cfg: PipelineConfig) -> str:
    staged = pl.read_parquet(cfg.table_path(Layer.STAGED, "cops_employment"))
    return str(staged["_source_file"].cast(pl.String)[0])


def test_release_1_then_2_then_pin_1_stays_then_unpin_follows_2(
    prefect_harness, tmp_path: Path, source_copy: Path, capsys
):
    root = tmp_path / "data"
    cfg = PipelineConfig(data_root=root)
    run = ["run", "--data-root", str(root), "--source-dir", str(source_copy)]
    run += ["--source", "noc_structure", "--source", "cops_employment"]
    assert main(run) == 0
    assert _loaded(cfg) == RELEASE_1 and max(_years(cfg)) == 2033
    _next_release(source_copy)  # dropped in: no spec edit
    assert main(run) == 0
    assert _loaded(cfg) == RELEASE_2 and max(_years(cfg)) == 2034
    pinned = str(source_copy / RELEASE_1)
    assert main([*run, "--file", f"cops_employment={pinned}"]) == 0
    assert _loaded(cfg) == RELEASE_1
    capsys.readouterr()
    assert main([*run, "--format", "json"]) == 0  # a plain run stays on the pinned release
    assert _loaded(cfg) == RELEASE_1
    statuses = {s["source"]: s["status"] for s in json.loads(capsys.readouterr().out)["sources"]}
    assert statuses["cops_employment"] == "unchanged"
    assert main([*run, "--unpin", "cops_employment"]) == 0
    assert _loaded(cfg) == RELEASE_2 and max(_years(cfg)) == 2034
    assert main([*run, "--unpin", "cops_employmnt"]) == 2
    assert "did you mean 'cops_employment'" in capsys.readouterr().err


def test_releases_are_ordered_by_the_numbers_in_their_names(tmp_path: Path):
    from jobforge_core.run.pipeline import release_order

    names = ["skills_oasis_2023_v1.9.csv", "skills_oasis_2023_v1.10.csv", "skills_oasis_2025.csv"]
    ordered = sorted((tmp_path / n for n in names), key=release_order)
    assert [p.name for p in ordered] == [
        "skills_oasis_2023_v1.9.csv",
        "skills_oasis_2023_v1.10.csv",
        "skills_oasis_2025.csv",
    ]


def test_a_renamed_required_header_is_named_with_a_did_you_mean(
    prefect_harness, tmp_path: Path, source_copy: Path, capsys
):
    """Issue 27 item 7: `missing required column(s) ['Occupation Name']; found [...,
    'Occupation_Name', ...]` said nothing more."""
    release = source_copy / RELEASE_1
    text = release.read_text(encoding="utf-8-sig")
    release.write_text(text.replace("Occupation Name", "Occupation_Name", 1))
    run = ["run", "--data-root", str(tmp_path / "data"), "--source-dir", str(source_copy)]
    assert main([*run, "--source", "noc_structure", "--source", "cops_employment"]) == 1
    err = capsys.readouterr().err
    assert "did you mean 'Occupation_Name' for 'Occupation Name'?" in err


def test_evolve_accepts_the_moved_year_window_and_rejects_other_changes(
    prefect_harness, tmp_path: Path, source_copy: Path, capsys
):
    """Issue 27 item 3: `fail` could never accept a COPS release; the shipped kinds now say
    `evolve`: the year columns may come and go, any other change of columns is rejected. A
    rejected batch has its own id, never confused with a later accepted one."""
    from jobforge_core.run.state import read_state

    root = tmp_path / "data"
    cfg = PipelineConfig(data_root=root)
    run = ["run", "--data-root", str(root), "--source-dir", str(source_copy)]
    run += ["--source", "noc_structure", "--source", "cops_employment", "--format", "json"]
    assert main(run) == 0
    _next_release(source_copy)
    capsys.readouterr()
    assert main(run) == 0  # the window moved: accepted, recorded
    report = json.loads(capsys.readouterr().out)
    (cops,) = [s for s in report["sources"] if s["source"] == "cops_employment"]
    assert any("2034" in change for change in cops["schema_changes"])
    accepted = read_state(cfg, "cops_employment").batch_id
    # A third release adds a column that is not a year: rejected, the previous version kept.
    third = source_copy / "employment_emploi_2026_2035_noc2021.csv"
    lines = (source_copy / RELEASE_2).read_text().splitlines()
    third.write_text("\n".join([lines[0] + ",Commentaire", *(r + ",x" for r in lines[1:])]) + "\n")
    assert main(run) == 1
    report = json.loads(capsys.readouterr().out)
    (cops,) = [s for s in report["sources"] if s["source"] == "cops_employment"]
    assert cops["status"] == "failed" and "on_schema_change: evolve" in cops["error"]
    assert "commentaire" in cops["error"].lower()
    assert read_state(cfg, "cops_employment").batch_id == accepted
    assert max(_years(cfg)) == 2034
    rejected = sorted(p.name for p in (root / "quarantine" / "files").iterdir())
    assert rejected and all(accepted not in name for name in rejected)

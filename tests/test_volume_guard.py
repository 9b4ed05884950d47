"""Good gold is never silently replaced by bad (DESIGN 12): header-only files, volume guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import layer, quarantined, run_plain

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import SourceFileError, SpecError, ThresholdExceeded
from jobforge_core.common.models import LayerTransitionLog, TransitionStatus
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.sources.spec import load_specs

NOC = "noc_structure_en.csv"
EMPLOYMENT = "employment_emploi_2024_2033_noc2021.csv"
GOLD_OF_NOC = ["dim_noc", "dim_noc_structure"]


def _gold_bytes(cfg: PipelineConfig, tables: list[str]) -> dict[str, bytes]:
    return {t: cfg.table_path(Layer.GOLD, t).read_bytes() for t in tables}


def _fact_rows(cfg: PipelineConfig) -> list[tuple]:
    """The employment fact without its ingest time: it re-runs when its dimension's source
    ran, and must still hold every row."""
    fact = layer(cfg, Layer.GOLD, "fact_cops_employment").drop("_ingested_at")
    return sorted(fact.rows())


def _failed_logs(cfg: PipelineConfig, source: str) -> list[LayerTransitionLog]:
    logs = [
        LayerTransitionLog.model_validate_json(p.read_text())
        for p in cfg.catalog_lineage_path().glob("*.json")
    ]
    return [g for g in logs if g.source_name == source and g.status is TransitionStatus.FAILED]


def _error_json(cfg: PipelineConfig) -> dict:
    (report,) = (cfg.quarantine_path() / "files").glob("*/error.json")
    return json.loads(report.read_text())


def _run_cli(data_root: Path, source_dir: Path, *extra: str) -> int:
    from flows.cli import main

    return main(["run", "--data-root", str(data_root), "--source-dir", str(source_dir), *extra])


def _spec_dir(tmp_path: Path, name: str, extra: str) -> Path:
    """A copy of a shipped spec with extra YAML, in a --specs directory (it overrides)."""
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    shipped = Path(__file__).resolve().parents[1] / "jobforge_core" / "specs" / f"{name}.yaml"
    (specs / f"{name}.yaml").write_text(shipped.read_text() + extra)
    return specs


def test_header_only_file_is_quarantined_and_previous_gold_kept(
    prefect_harness, tmp_path: Path, source_copy: Path, capsys
):
    data = tmp_path / "data"
    cfg = PipelineConfig(data_root=data, source_dir=source_copy)
    sources = ["--source", "noc_structure", "--source", "cops_employment"]
    assert _run_cli(data, source_copy, *sources) == 0
    before, facts = _gold_bytes(cfg, GOLD_OF_NOC), _fact_rows(cfg)
    noc = source_copy / NOC
    noc.write_text(noc.read_text(encoding="utf-8-sig").splitlines()[0] + "\n", encoding="utf-8")

    assert _run_cli(data, source_copy, *sources) == 1
    out = capsys.readouterr()
    assert "no data rows" in out.err
    assert _gold_bytes(cfg, GOLD_OF_NOC) == before
    assert _fact_rows(cfg) == facts and len(facts) == 88
    report = _error_json(cfg)
    assert report["rule"] == "no_data_rows" and report["file"].endswith(NOC)
    (failed,) = _failed_logs(cfg, "noc_structure")
    assert failed.target_layer is Layer.STAGED and "no data rows" in failed.errors[0]


def test_header_only_with_bom_and_crlf_is_no_data_rows_in_plain_python(
    tmp_path: Path, source_copy: Path
):
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    (spec_dir / "empty_src.yaml").write_text(
        "name: empty_src\nfile: empty.csv\ngold: [{table: t_empty}]\n"
    )
    (source_copy / "empty.csv").write_text("\ufeffCode,Name\r\n", encoding="utf-8")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    (plan,) = plan_sources(load_specs([spec_dir]), cfg, ["empty_src"], force=True).values()
    with pytest.raises(SourceFileError, match="no data rows"):
        run_source(plan, cfg)
    assert not cfg.table_path(Layer.STAGED, "empty_src").exists()


def test_wrong_type_crosses_the_bronze_threshold_and_fails_the_run(
    prefect_harness, tmp_path: Path, source_copy: Path, capsys
):
    data = tmp_path / "data"
    cfg = PipelineConfig(data_root=data, source_dir=source_copy)
    sources = ["--source", "noc_structure", "--source", "cops_employment"]
    assert _run_cli(data, source_copy, *sources) == 0
    before = _gold_bytes(cfg, [*GOLD_OF_NOC, "fact_cops_employment"])
    bronze_before = cfg.table_path(Layer.BRONZE, "cops_employment").read_bytes()
    # Names declared as numbers: every row fails its cast.
    specs = _spec_dir(tmp_path, "cops_employment", "types: {occupation_name_en: int}\n")

    code = _run_cli(data, source_copy, *sources, "--specs", str(specs))
    out = capsys.readouterr()
    assert code == 1
    assert "max_quarantine_share.bronze" in out.err
    assert _gold_bytes(cfg, [*GOLD_OF_NOC, "fact_cops_employment"]) == before
    assert cfg.table_path(Layer.BRONZE, "cops_employment").read_bytes() == bronze_before
    rows = quarantined(cfg, Layer.BRONZE, "cops_employment")
    assert len(rows) == 25 and set(rows["_quarantine_reason"]) == {"cast_error"}
    (failed,) = _failed_logs(cfg, "cops_employment")
    assert failed.target_layer is Layer.BRONZE
    assert "max_quarantine_share.bronze = 0.1" in failed.errors[0]
    assert failed.row_count_in == 25 and failed.row_count_quarantined == 25
    assert failed.rows_by_rule == {"cast_error": 25}
    assert any(q.endswith(".parquet") for q in failed.quarantine_files)
    assert _error_json(cfg)["rule"] == "max_quarantine_share"


def test_a_declared_threshold_lets_the_same_batch_through(tmp_path: Path, source_copy: Path):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    specs = _spec_dir(
        tmp_path,
        "cops_employment",
        "types: {occupation_name_en: int}\nthresholds: {max_quarantine_share: {bronze: 1}}\n",
    )
    logs = run_plain(cfg, ["noc_structure", "cops_employment"], [specs])["cops_employment"]
    assert logs[1].status is TransitionStatus.PARTIAL and logs[1].row_count_quarantined == 25
    assert layer(cfg, Layer.GOLD, "fact_cops_employment").is_empty()


def test_shrinking_a_dimension_past_the_row_drop_share_keeps_gold(
    tmp_path: Path, source_copy: Path
):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["noc_structure"])
    before = _gold_bytes(cfg, ["dim_noc", "dim_noc_structure"])
    noc = source_copy / NOC
    original = noc.read_bytes()
    lines = noc.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    noc.write_text("".join(lines[:5]), encoding="utf-8")  # header + the first 4 classes

    (plan,) = plan_sources(load_specs(), cfg, ["noc_structure"]).values()
    with pytest.raises(ThresholdExceeded, match="max_row_drop_share = 0.5") as err:
        run_source(plan, cfg)
    assert "dim_noc_structure" in str(err.value)
    assert _gold_bytes(cfg, ["dim_noc", "dim_noc_structure"]) == before
    (failed,) = _failed_logs(cfg, "noc_structure")
    assert failed.target_layer is Layer.GOLD and failed.rows_by_table["dim_noc_structure"] == 4

    # Silver now holds the refused batch: restoring the original file must not be `unchanged`,
    # or silver (and lineage read from staged) would describe a batch gold never took.
    noc.write_bytes(original)
    (plan,) = plan_sources(load_specs(), cfg, ["noc_structure"]).values()
    assert not plan.unchanged
    dims = {t: layer(cfg, Layer.GOLD, t).drop("_ingested_at") for t in before}
    run_source(plan, cfg)
    for table, frame in dims.items():  # the same batch again: only the ingest time differs
        assert layer(cfg, Layer.GOLD, table).drop("_ingested_at").equals(frame)
    assert layer(cfg, Layer.SILVER, "noc_structure").height == 21
    (plan,) = plan_sources(load_specs(), cfg, ["noc_structure"]).values()
    assert plan.unchanged


def test_most_rows_orphaned_at_gold_crosses_the_gold_threshold(tmp_path: Path, source_copy):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["noc_structure"])
    path = source_copy / "retirements_retraites_2024_2033_noc2021.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    ghosts = "".join(f"9{i:04d},Ghost,Fantôme" + ",1" * 11 + "\n" for i in range(40))
    path.write_text("".join(lines) + ghosts, encoding="utf-8")
    (plan,) = plan_sources(load_specs(), cfg, ["cops_retirements"], force=True).values()
    with pytest.raises(ThresholdExceeded, match=r"max_quarantine_share\.gold"):
        run_source(plan, cfg)
    assert not cfg.table_path(Layer.GOLD, "fact_cops_retirements").exists()
    orphans = quarantined(cfg, Layer.GOLD, "fact_cops_retirements")
    assert len(orphans) == 440 and set(orphans["_quarantine_reason"]) == {"foreign_key"}


@pytest.mark.parametrize(
    "thresholds", ["{max_quarantine_share: 1.5}", "{max_row_drop_share: -0.1}", "{bogus: 1}"]
)
def test_thresholds_are_validated(tmp_path: Path, thresholds: str):
    specs = _spec_dir(tmp_path, "cops_employment", f"thresholds: {thresholds}\n")
    with pytest.raises(SpecError, match="thresholds"):
        load_specs([specs])

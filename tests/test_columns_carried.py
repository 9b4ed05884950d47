"""Nothing is silently reshaped (DESIGN 13): a silver column no gold table carries is declared
dropped or reported as not carried, in the gold log and the run summary."""

from __future__ import annotations

from pathlib import Path

from conftest import SAMPLES
from helpers import run_plain

from flows.summary import markdown, source_summary
from jobforge_core.common.config import PipelineConfig
from jobforge_core.sources.spec import load_specs

DUTIES = "main-duties_oasis-2023_v1.0.csv"
UPSTREAM = ["noc_structure", "oasis_lead_statements", "oasis_labels"]


def _with_extra_columns(source_dir: Path) -> None:
    """The example-titles shape: two more columns than the kind's code and text."""
    path = source_dir / DUTIES
    header, *records = path.read_text(encoding="utf-8-sig").splitlines()
    lines = [f"{header},Job title type,Concordance number"]
    lines += [f"{r},Example,{i}" for i, r in enumerate(records, start=1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _specs(tmp_path: Path, extra: str) -> Path:
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    shipped = Path(__file__).resolve().parents[1] / "jobforge_core" / "specs"
    text = (shipped / "oasis_main_duties.yaml").read_text()
    (specs / "oasis_main_duties.yaml").write_text(text + extra)
    return specs


def test_extra_columns_of_a_kind_are_reported_not_carried(tmp_path: Path, source_copy: Path):
    _with_extra_columns(source_copy)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    logs = run_plain(cfg, [*UPSTREAM, "oasis_main_duties"])["oasis_main_duties"]
    gold = logs[-1]
    assert gold.columns_not_carried == ["job_title_type", "concordance_number"]
    assert gold.columns_dropped == []
    assert any("job_title_type, concordance_number" in e for e in gold.errors)
    summary = source_summary("oasis_main_duties", gold.batch_id, logs)
    assert summary["columns_not_carried"] == ["job_title_type", "concordance_number"]
    text = markdown([summary])
    assert "columns not carried to gold: `job_title_type`, `concordance_number`" in text


def test_declared_drop_columns_are_logged_as_dropped(tmp_path: Path, source_copy: Path):
    _with_extra_columns(source_copy)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    specs = _specs(tmp_path, "drop_columns: [job_title_type, no_such_column]\n")
    gold = run_plain(cfg, [*UPSTREAM, "oasis_main_duties"], [specs])["oasis_main_duties"][-1]
    assert gold.columns_not_carried == ["concordance_number"]
    assert gold.columns_dropped == ["job_title_type"]
    assert any("no_such_column" in e for e in gold.errors)


def test_shipped_specs_carry_or_declare_every_sample_column(tmp_path: Path):
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=SAMPLES)
    logs = run_plain(cfg)
    gold = {name: chain[-1] for name, chain in logs.items()}
    assert {n: g.columns_not_carried for n, g in gold.items() if g.columns_not_carried} == {}
    assert gold["oasis_abilities"].columns_dropped == ["oasis_label"]


def test_columns_used_only_by_expressions_count_as_carried_when_their_result_is():
    from jobforge_core.sources.column_use import output_sources

    spec = load_specs()["noc_structure"]
    structure, noc = spec.gold
    silver = ["level", "hierarchical_structure", "code", "class_title", "class_definition"]
    assert output_sources(structure, silver) == set(silver)
    # dim_noc filters on level (not carried by it) and looks titles up in silver.
    assert output_sources(noc, silver) == {"code", "class_title", "class_definition"}


def test_real_example_titles_report_their_extra_columns(real_dir: Path, tmp_path: Path):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "oasis_example_titles.yaml").write_text(
        "name: oasis_example_titles\nkind: oasis_long_text\n"
        "file: example-titles_oasis_2023_v1.0.csv\n"
        "params: {fact_table: fact_oasis_example_titles, code_header: OaSIS profile code,"
        " text_header: Job title text, text_column: title, order_column: title_order}\n"
        "thresholds: {max_quarantine_share: 1}\n"
    )
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=real_dir)
    logs = run_plain(cfg, [*UPSTREAM, "oasis_example_titles"], [specs])
    gold = logs["oasis_example_titles"][-1]
    assert sorted(gold.columns_not_carried) == ["concordance_number", "job_title_type"]

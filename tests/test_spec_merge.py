"""How a spec completes its kind, and which spec wins when two declare the same source."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import quarantined, run_plain

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import SpecError
from jobforge_core.sources.spec import load_specs

DUTIES = """
name: oasis_main_duties
kind: oasis_long_text
file: main-duties_oasis-2023_v1.0.csv
params:
  fact_table: fact_oasis_main_duties
  code_header: OaSIS profile code
  text_header: Main duties
  text_column: duty
  order_column: duty_order
"""


def _spec(tmp_path: Path, body: str, name: str = "oasis_main_duties.yaml") -> Path:
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    (specs / name).write_text(DUTIES + body)
    return specs


def _checks(specs_dir: Path) -> dict[str, tuple[str, str]]:
    spec = load_specs([specs_dir])["oasis_main_duties"]
    return {e.id: (e.rule, e.action) for e in spec.expectations}


def test_adding_an_expectation_keeps_the_kinds_checks(tmp_path: Path):
    specs = _spec(
        tmp_path,
        "expectations:\n  - {column: duty, rule: regex, pattern: '^[A-Z]', action: warn}\n",
    )
    assert _checks(specs) == {
        "regex_oasis_code": ("regex", "drop"),
        "not_null_duty": ("not_null", "drop"),
        "regex_duty": ("regex", "warn"),
    }


def test_same_id_overrides_only_the_fields_given_and_off_switches_a_check_off(tmp_path: Path):
    specs = _spec(
        tmp_path,
        "expectations:\n"
        "  - {column: oasis_code, rule: regex, action: warn}\n"
        "  - {id: not_null_duty, column: duty, rule: not_null, action: 'off'}\n",
    )
    spec = load_specs([specs])["oasis_main_duties"]
    by_id = {e.id: e for e in spec.expectations}
    assert by_id["regex_oasis_code"].action == "warn"
    assert by_id["regex_oasis_code"].pattern == r"^\d{5}\.\d{2}$"  # kept from the kind
    assert by_id["not_null_duty"].action == "off"


def test_an_expectation_switched_off_is_not_run_and_the_log_names_it(tmp_path: Path, source_copy):
    path = source_copy / "main-duties_oasis-2023_v1.0.csv"
    path.write_text(path.read_text(encoding="utf-8-sig") + "00010.00,\n", encoding="utf-8")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    specs = _spec(tmp_path, "expectations:\n  - {column: duty, rule: not_null, action: 'off'}\n")
    logs = run_plain(
        cfg,
        ["noc_structure", "oasis_lead_statements", "oasis_labels", "oasis_main_duties"],
        [specs],
    )
    silver = logs["oasis_main_duties"][2]
    assert "rule:not_null_duty:off" in silver.transforms_applied
    assert "not_null_duty" not in silver.rows_by_rule
    assert quarantined(cfg, Layer.SILVER, "oasis_main_duties").is_empty()


def test_replace_takes_a_list_wholesale(tmp_path: Path):
    specs = _spec(
        tmp_path,
        "replace: [expectations]\n"
        "expectations:\n  - {column: duty, rule: not_null, action: fail}\n",
    )
    assert _checks(specs) == {"not_null_duty": ("not_null", "fail")}


def test_gold_outputs_merge_by_table_and_keep_their_foreign_keys(tmp_path: Path):
    specs = _spec(
        tmp_path,
        "gold:\n  - table: fact_oasis_main_duties\n    description: overridden\n"
        "    foreign_keys: [{column: oasis_code, references: dim_oasis_profile,"
        " cardinality: many_to_one}]\n",
    )
    (out,) = load_specs([specs])["oasis_main_duties"].gold
    assert out.description == "overridden"
    assert out.sequence is not None and out.sequence.name == "duty_order"
    assert {fk.column for fk in out.foreign_keys} == {"oasis_code", "noc_code"}


def test_replace_inside_a_gold_output_removes_a_foreign_key_on_purpose(tmp_path: Path):
    specs = _spec(
        tmp_path,
        "gold:\n  - table: fact_oasis_main_duties\n    replace: [foreign_keys]\n"
        "    foreign_keys: [{column: noc_code, references: dim_noc}]\n",
    )
    (out,) = load_specs([specs])["oasis_main_duties"].gold
    assert [fk.column for fk in out.foreign_keys] == ["noc_code"]


def test_replace_must_name_a_declared_field(tmp_path: Path):
    specs = _spec(tmp_path, "replace: [expectations]\n")
    with pytest.raises(SpecError, match="replace"):
        load_specs([specs])


def test_a_header_called_replace_in_renames_is_an_ordinary_key(tmp_path: Path):
    specs = _spec(tmp_path, "renames: {replace: replaced_text}\n")
    spec = load_specs([specs])["oasis_main_duties"]
    assert spec.renames["replace"] == "replaced_text"
    assert spec.renames["OaSIS profile code"] == "oasis_code"


def test_two_files_of_one_directory_with_the_same_name_are_an_error(tmp_path: Path):
    specs = _spec(tmp_path, "")
    (specs / "zz_copy.yaml").write_text(DUTIES)
    with pytest.raises(SpecError) as err:
        load_specs([specs])
    message = str(err.value)
    assert "oasis_main_duties.yaml" in message and "zz_copy.yaml" in message


def test_a_later_directory_overrides_an_earlier_one(tmp_path: Path):
    first = tmp_path / "first"
    second = tmp_path / "second"
    for directory, description in ((first, "first"), (second, "second")):
        directory.mkdir()
        (directory / "duties.yaml").write_text(DUTIES + f"description: {description}\n")
    assert load_specs([first, second])["oasis_main_duties"].description == "second"
    assert load_specs([second, first])["oasis_main_duties"].description == "first"
    # The same directory twice is read once, not a clash with itself.
    assert load_specs([first, second, first])["oasis_main_duties"].description == "first"


def test_jobforge_run_refuses_two_specs_of_one_name_in_one_directory(
    prefect_harness, tmp_path: Path, capsys
):
    from flows.cli import main

    specs = _spec(tmp_path, "")
    (specs / "zz_copy.yaml").write_text(DUTIES)
    code = main(["run", "--data-root", str(tmp_path / "data"), "--specs", str(specs)])
    err = capsys.readouterr().err
    assert code == 2
    assert "oasis_main_duties.yaml" in err and "zz_copy.yaml" in err
    assert not (tmp_path / "data" / "gold").exists()

"""A new user's spec that names a column the data does not have: one clear line, no dump.

Before: a typo in `types` was ignored (the column silently stayed text); a typo in `keys`,
`normalise`, `recode` or an expectation failed at silver, after staged and bronze had been
replaced, with polars' multi-line query plan and no word of the spec field; a typo in a gold
`columns:` or `where` printed the same dump, and no failed transition was logged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import main
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import SourceFileError, SpecDataMismatch
from jobforge_core.run.pipeline import plan_sources, run_source
from jobforge_core.sources.spec import parse_spec

CSV = "Code,Name,Rate\n00010,Alpha,1.5\n00011,Beta,2\n"


def _raw(**changes) -> dict:
    raw = {
        "name": "rates",
        "file": "rates.csv",
        "renames": {"Code": "code", "Name": "name"},
        "types": {"rate": "float"},
        "keys": ["code"],
        "gold": [{"table": "fact_rates", "columns": ["code", "name", "rate"]}],
    }
    return {**raw, **changes}


def _run(tmp_path: Path, raw: dict) -> PipelineConfig:
    source = tmp_path / "source"
    source.mkdir(exist_ok=True)
    (source / "rates.csv").write_text(CSV, encoding="utf-8")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    specs = {"rates": parse_spec(raw, "my-specs/rates.yaml")}
    run_source(plan_sources(specs, cfg, force=True)["rates"], cfg)
    return cfg


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("types", {"types": {"rat": "float"}}),
        ("keys", {"keys": ["cod"]}),
        ("normalise", {"normalise": {"cod": ["upper"]}}),
        ("recode", {"recode": {"cod": {"a": "b"}}}),
        ("expectations[not_null_cod]", {"expectations": [{"column": "cod", "rule": "not_null"}]}),
    ],
)
def test_a_misspelt_column_stops_at_staging_naming_the_field(tmp_path, field, changes):
    with pytest.raises(SourceFileError) as caught:
        _run(tmp_path, _raw(**changes))
    error = caught.value
    typo = error.column
    assert typo in {"rat", "cod"} and error.rule == "unknown_column"
    assert f"{field}: {typo!r}" in error.message and "my-specs/rates.yaml" in error.message
    assert "did you mean 'rate'?" in error.message or "did you mean 'code'?" in error.message
    assert "\n" not in str(error)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=tmp_path / "source")
    assert not cfg.table_path(Layer.STAGED, "rates").exists()  # nothing replaced
    reports = list((cfg.data_root / "quarantine" / "files").glob("*/error.json"))
    assert json.loads(reports[0].read_text(encoding="utf-8"))["column"] == typo


@pytest.mark.parametrize(
    "gold",
    [
        {"table": "fact_rates", "columns": ["code", "nme"]},
        {"table": "fact_rates", "where": "nme IS NOT NULL", "columns": ["code"]},
    ],
)
def test_a_gold_column_the_data_lacks_is_one_line_with_the_spec_and_a_failed_log(tmp_path, gold):
    with pytest.raises(SpecDataMismatch) as caught:
        _run(tmp_path, _raw(gold=[gold]))
    message = str(caught.value)
    assert "\n" not in message and "Resolved plan" not in message
    assert 'unable to find column "nme"' in message and "my-specs/rates.yaml" in message
    assert 'Did you mean "name"?' in message
    logs = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in (tmp_path / "data" / "catalog" / "lineage").glob("*.json")
    ]
    failed = [log for log in logs if log["status"] == "failed"]
    assert [log["target_layer"] for log in failed] == ["gold"]


@pytest.mark.usefixtures("prefect_harness")
def test_the_command_line_says_it_in_one_line_and_exits_1(tmp_path, capsys):
    source = tmp_path / "source"
    source.mkdir()
    (source / "rates.csv").write_text(CSV, encoding="utf-8")
    specs = tmp_path / "my-specs"
    specs.mkdir()
    (specs / "rates.yaml").write_text(
        "name: rates\nfile: rates.csv\nrenames: {Code: code, Name: name}\nkeys: [code]\n"
        "gold:\n  - {table: fact_rates, columns: [code, nme]}\n",
        encoding="utf-8",
    )
    root = tmp_path / "data"
    args = ["run", "--data-root", str(root), "--source-dir", str(source), "--specs", str(specs)]
    assert main([*args, "--source", "rates"]) == 1
    err = capsys.readouterr().err
    assert "Resolved plan" not in err and "Traceback" not in err
    failures = [line for line in err.splitlines() if line.startswith("FAILED rates")]
    assert len(failures) == 1 and 'unable to find column "nme"' in failures[0]

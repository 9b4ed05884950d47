"""Issue 27, restore: after a partial failure (staged and bronze on the failed batch, silver and
gold on the old one) `jobforge restore` moves only the layers that differ, all or nothing,
logged; lineage then names the original file and its SHA-256; restoring the batch a source
holds is a one-line no-op; the message says what the next plain run will do."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flows.cli import main
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.history.batches import batch_of, history_file
from jobforge_core.history.transition_logs import read_logs
from tests import releases as rel

SPEC = Path(__file__).parent.parent / "jobforge_core" / "specs" / "cops_employment.yaml"
# The shipped spec, with a silver rule that stops a batch whose occupation name is missing.
STRICT = "\nexpectations:\n  - {column: occupation_name_en, rule: not_null, action: fail}\n"


def _layers(cfg: PipelineConfig) -> dict[str, str]:
    tables = {
        Layer.STAGED: "cops_employment",
        Layer.BRONZE: "cops_employment",
        Layer.SILVER: "cops_employment",
        Layer.GOLD: "fact_cops_employment",
    }
    return {lyr.value: batch_of(cfg.table_path(lyr, t)) for lyr, t in tables.items()}


def test_restore_after_a_partial_failure_moves_only_what_differs(
    prefect_harness, tmp_path: Path, source_copy: Path, capsys
):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "cops_employment.yaml").write_text(SPEC.read_text(encoding="utf-8") + STRICT)
    root = tmp_path / "data"
    cfg = PipelineConfig(data_root=root)
    common = ["--data-root", str(root), "--specs", str(specs)]
    run = ["run", *common, "--source-dir", str(source_copy)]
    run += ["--source", "noc_structure", "--source", "cops_employment"]
    assert main(run) == 0
    old = _layers(cfg)["gold"]
    # release 2 lacks one occupation name: staged and bronze take it, silver stops it
    new = rel.cops_next(source_copy)
    new.write_text(new.read_text(encoding="utf-8").replace("Application developers and coders", ""))
    assert main(run) == 1
    failed = _layers(cfg)["staged"]
    assert _layers(cfg) == {"staged": failed, "bronze": failed, "silver": old, "gold": old}

    # a batch not kept for every layer: refused, nothing moves
    capsys.readouterr()
    assert main(["restore", "cops_employment", "--batch", "cops-employment-0000", *common]) == 2
    assert "not kept" in capsys.readouterr().err
    assert _layers(cfg)["staged"] == failed

    assert main(["restore", "cops_employment", "--batch", old, *common, "--format", "json"]) == 0
    captured = capsys.readouterr()
    moved = json.loads(captured.out)  # one section: its rows
    assert [(m["layer"], m["replaced"]) for m in moved] == [
        ("staged", {"cops_employment": failed}),
        ("bronze", {"cops_employment": failed}),
    ]
    assert _layers(cfg) == dict.fromkeys(("staged", "bronze", "silver", "gold"), old)
    logged = [log for log in read_logs(cfg) if log.source_layer == "restore"]
    assert sorted(log.target_layer.value for log in logged) == ["bronze", "staged"]
    assert history_file(cfg, Layer.STAGED, "cops_employment", failed).is_file()  # kept
    # the next plain run reloads the newest release (the failed one), and says how to pin
    assert f"its newest release {new} is another batch ({failed})" in captured.err
    assert f"--file cops_employment={source_copy / rel.COPS_1}" in captured.err

    # lineage: the original file and its SHA-256, not the history parquet
    capsys.readouterr()
    assert main(["lineage", "fact_cops_employment", *common[:2], "--format", "json"]) == 0
    header = json.loads(capsys.readouterr().out)["lineage"]
    original = source_copy / rel.COPS_1
    assert header["source_file"] == str(original)
    assert header["sha256"] == hashlib.sha256(original.read_bytes()).hexdigest()
    assert header["batch"] == old

    # restoring the batch it holds: one line, nothing on stdout, nothing logged
    assert main(["restore", "cops_employment", "--batch", old, *common]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        f"cops_employment already holds batch {old} in every layer: nothing to do"
    ]
    assert len([log for log in read_logs(cfg) if log.source_layer == "restore"]) == 2

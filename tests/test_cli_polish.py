"""Issue 32: the command line, polished. Each item through `main()` or the command itself.

One module-scoped sample run with a damaged file (in-process, on the session's Prefect
harness) serves the read commands; the runs that check the run's own output follow it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES

from flows.cli import build_parser, main

pytestmark = pytest.mark.usefixtures("prefect_harness")

BROKEN = "exclusions_oasis_2023_v1.0.csv"  # oasis_exclusions: a fact nothing else reads
WARN_QUERY = "FROM catalog.quality WHERE action = 'warn' AND rows > 0"


def _main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _command_env() -> dict[str, str]:
    """The worktree's code in a fresh interpreter, as `python -m flows.cli`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "JOBFORGE_"))}
    env["PYTHONPATH"] = str(REPO)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The samples with one empty file, `--format json`: one source fails, 27 succeed."""
    base = tmp_path_factory.mktemp("polish")
    source = base / "source"
    shutil.copytree(SAMPLES, source)
    (source / BROKEN).write_text("")
    root = base / "data"
    code, out, err = _main(
        "run", "--data-root", str(root), "--source-dir", str(source), "--format", "json"
    )
    return {"root": root, "source": source, "code": code, "doc": json.loads(out), "err": err}


def _common(first: dict) -> list[str]:
    return ["--data-root", str(first["root"])]


# --- item 2 and 7: the run's output says everything once, and why ------------------------


def test_json_has_every_source_with_why_and_the_short_summary_says_what_to_do(first):
    assert first["code"] == 1
    doc, err = first["doc"], first["err"]
    sources = {s["source"]: s for s in doc["sources"]}
    assert len(sources) == 28  # json always carries the full per-source table
    assert doc["run"]["counts"] == {"failed": 1, "success": 27}
    assert sources["oasis_exclusions"]["why"] == "failed: see error"
    assert sources["noc_structure"]["why"].startswith("new batch")
    # the per-source lines come once (stderr), the end is a short summary, not a second table
    assert err.count("oasis_exclusions") >= 2 and "noc_structure            success" in err
    assert "FAILED oasis_exclusions: " in err
    assert "failed: 1 of 28 source(s) failed (exit 1); by status: 1 failed, 27 success" in err
    assert "  what to do: " in err and "quarantine --data-root" in err
    # what a warn line asks: nothing, and where to see them
    assert "nothing is asked of you unless the rule matters" in err
    assert "  oasis_skills: gold:warn:label_differs_from_dim_oasis_profile" in err
    assert WARN_QUERY in err
    # item 9: none of Prefect's wording reaches our messages
    assert "encountered an exception" not in err + json.dumps(doc)


def test_unchanged_run_says_so_short_by_default_full_one_flag_away(first, capsys):
    args = ["run", *_common(first), "--source-dir", str(first["source"])]
    args += ["--source", "noc_structure"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["status     sources", "---------  -------", "unchanged  1"]
    assert "nothing to do, all 1 source(s) unchanged since their last run" in captured.err
    assert main([*args, "--summary", "full"]) == 0
    full = capsys.readouterr().out
    assert full.splitlines()[0].split()[:2] == ["source", "status"] and "batch_id" in full
    assert main([*args, "--format", "json"]) == 0
    run = json.loads(capsys.readouterr().out)["run"]
    assert run["message"] == "all 1 source(s) unchanged: nothing to do (--force reprocesses)"
    assert run["counts"] == {"unchanged": 1}


def test_dependents_rerun_by_a_forced_dimension_say_why(first, capsys):
    args = ["run", *_common(first), "--source-dir", str(first["source"])]
    args += ["--source", "noc_structure", "--force", "--format", "json"]
    main(args)
    captured = capsys.readouterr()
    sources = {s["source"]: s for s in json.loads(captured.out)["sources"]}
    assert sources["noc_structure"]["why"] == "--force"
    followed = sources["cops_employment"]
    assert followed["status"] == "success" and followed["skipped"] is None
    assert followed["why"] == "ran because its gold reads noc_structure's, which ran"
    line = next(x for x in captured.err.splitlines() if x.startswith("cops_employment "))
    assert line.endswith("(ran because its gold reads noc_structure's, which ran)")


# --- item 8: hints the user can paste --------------------------------------------------------


def test_hints_name_the_script_that_ran_when_jobforge_is_not_on_path(
    first, capsys, monkeypatch, tmp_path
):
    script = tmp_path / "venv" / "bin" / "jobforge"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no jobforge: the venv was never activated
    monkeypatch.setattr(sys, "argv", [str(script), "run"])
    args = ["run", *_common(first), "--source-dir", str(first["source"])]
    assert main([*args, "--source", "noc_structure"]) == 0
    err = capsys.readouterr().err
    assert f'query:      {script} query --data-root {first["root"]} "SELECT' in err
    assert "python -c" not in err and "\njobforge " not in err and " jobforge query" not in err
    monkeypatch.setattr(sys, "argv", ["-c"])  # not the script: the one beside the interpreter
    assert main([*args, "--source", "noc_structure"]) == 0
    beside = Path(sys.executable).parent / "jobforge"
    err = capsys.readouterr().err
    if beside.is_file():
        expected = os.path.relpath(beside) if str(beside).startswith(os.getcwd()) else beside
        assert f"query:      {expected} query" in err
    else:
        assert f"query:      {sys.executable} -m flows.cli query" in err


def test_read_commands_hints_name_the_script_too(capsys, monkeypatch, tmp_path):
    """Issue 31: `catalog` on an empty data root, and `docs`' closing line, print a command
    that runs as installed (the venv's script), not a bare `jobforge`."""
    script = tmp_path / "venv" / "bin" / "jobforge"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr(sys, "argv", [str(script), "catalog"])
    (tmp_path / "data").mkdir()
    assert main(["catalog", "--data-root", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert f"run `{script} run --data-root {tmp_path / 'data'}` first" in err, err


# --- item 3: DuckDB's hints ------------------------------------------------------------------


def test_query_errors_keep_duckdbs_hints(first):
    code, _, err = _main("query", "SELECT * FROM dim_nco", *_common(first))
    assert code == 2
    assert err.strip() == (
        "jobforge query: Catalog Error: Table with name dim_nco does not exist! "
        'Did you mean "dim_noc"?'
    )
    code, _, err = _main("query", "SELECT noc_cod FROM dim_noc", *_common(first))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert 'Candidate bindings: "noc_code"' in err


def test_where_error_lists_the_columns_once(first):
    code, _, err = _main("lineage", "dim_noc", "--where", "nope = 1", *_common(first))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.count("class_title") == 1 and "valid columns" not in err


# --- item 7: small consistency ----------------------------------------------------------------


def test_booleans_print_as_in_json_in_csv_and_table(first):
    code, out, _ = _main("catalog", "dim_noc", *_common(first), "--format", "csv")
    assert code == 0
    nullable = {r["nullable"] for r in csv.DictReader(io.StringIO(out)) if r.get("nullable")}
    assert nullable and nullable <= {"true", "false"}
    code, out, _ = _main("catalog", "dim_noc", *_common(first))
    assert " False " not in out and " True " not in out
    assert " false " in out or " true " in out


def test_quarantine_of_a_table_shows_its_sources_file_quarantine(first):
    # never built: the source's name still finds its refused file
    code, out, _ = _main("quarantine", "oasis_exclusions", *_common(first), "--format", "json")
    assert code == 0
    assert [f["source"] for f in json.loads(out)["files"]] == ["oasis_exclusions"]
    # built, then the same empty release refused again: the table names find its file too
    run = ["run", *_common(first), "--source-dir", str(first["source"])]
    run += ["--source", "oasis_exclusions"]
    shutil.copy(SAMPLES / BROKEN, first["source"] / BROKEN)
    assert _main(*run)[0] == 0
    (first["source"] / BROKEN).write_text("")
    assert _main(*run)[0] == 1
    for name in ("fact_oasis_exclusions", "silver.oasis_exclusions", "oasis_exclusions"):
        code, out, _ = _main("quarantine", name, *_common(first), "--format", "json")
        assert code == 0, name
        assert [f["source"] for f in json.loads(out)["files"]] == ["oasis_exclusions"], name
    code, out, err = _main("quarantine", "dim_noc", *_common(first), "--format", "json")
    assert json.loads(out)["files"] == [] and "no files in quarantine for dim_noc" in err


def test_errors_start_with_jobforge_and_the_command_as_the_docs_say(first):
    readme = (REPO / "docs" / "guarantees.md").read_text(encoding="utf-8")
    assert "starting with `jobforge COMMAND:`" in readme and "with `jobforge:`" not in readme
    for args in (
        ["catalog", "dim_nco"],
        ["history", "dim_nco"],
        ["diff", "dim_nco"],
        ["query", "DROP TABLE dim_noc"],
    ):
        code, _, err = _main(*args, *_common(first))
        assert code == 2 and err.startswith(f"jobforge {args[0]}: "), err
        assert len(err.strip().splitlines()) == 1


def test_every_runner_choice_is_in_the_docs():
    readme = (REPO / "docs" / "dask.md").read_text(encoding="utf-8")
    run = build_parser()._subparsers._group_actions[0].choices["run"]
    runner = next(a for a in run._actions if a.dest == "runner")
    assert f"`--runner {'|'.join(runner.choices)}`" in readme
    assert "`default`: `$JOBFORGE_TASK_RUNNER`" in readme


# --- item 6 and 7: history, diff, restore ----------------------------------------------------


def test_history_accepts_both_spellings_and_suggests_close_names(first):
    code, dotted, _ = _main(
        "history", "silver.cops_employment", *_common(first), "--format", "json"
    )
    assert code == 0
    code, underscored, err = _main(
        "history", "silver_cops_employment", *_common(first), "--format", "json"
    )
    assert code == 0 and json.loads(underscored) == json.loads(dotted)
    assert "1 batch of silver.cops_employment: nothing to compare yet" in err
    code, _, err = _main("history", "fact_cops_employmnt", *_common(first))
    assert code == 2 and "did you mean 'fact_cops_employment'" in err
    code, _, err = _main("history", "silver_cops_employmnt", *_common(first))
    assert code == 2 and "did you mean 'silver.cops_employment'" in err


def test_diff_of_a_single_batch_says_nothing_to_compare_with_exit_1(first):
    code, out, err = _main("diff", "fact_cops_employment", *_common(first), "--format", "json")
    assert code == 1
    assert json.loads(out)["batches"] == 1
    assert "fact_cops_employment holds one batch" in err and "nothing to compare yet" in err
    code, _, err = _main("diff", "fact_cops_employmnt", *_common(first))
    assert code == 2 and "did you mean 'fact_cops_employment'" in err


def test_restore_suggests_a_close_source_and_a_close_batch(first):
    code, _, err = _main("restore", "cops_employmnt", "--batch", "x", *_common(first))
    assert code == 2 and "did you mean 'cops_employment'" in err
    assert len(err.strip().splitlines()) == 1
    batch = first["doc"]["sources"][1]["batch_id"]
    source = first["doc"]["sources"][1]["source"]
    typo = batch[:-1] + ("0" if batch[-1] != "0" else "1")
    code, _, err = _main("restore", source, "--batch", typo, *_common(first))
    assert code == 2 and f"did you mean '{batch}'" in err


# --- item 4: a broken pipe -------------------------------------------------------------------


def test_openlineage_export_to_stdout_stops_quietly_when_the_reader_does(first):
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "openlineage", "export", "--output", "-"]
        + _common(first),
        cwd=REPO,
        env=_command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert json.loads(proc.stdout.readline())["eventType"]
    proc.stdout.close()  # `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert err == "", err


# --- item 5: docs --serve ----------------------------------------------------------------------


def test_docs_serve_on_a_port_in_use_is_a_one_line_usage_error(first, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = tmp_path / "site"
        code, _, err = _main(
            "docs", *_common(first), "--out", str(out), "--serve", "--port", str(port)
        )
    assert code == 2
    assert err.strip() == (
        f"jobforge docs: --port {port}: 127.0.0.1:{port} is in use; choose another with "
        "--port N (--port 0 picks a free one)"
    )
    assert not out.exists()  # refused before anything was written


def test_docs_serve_serves_files_but_no_directory_listing(first, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "docs", *_common(first)]
        + ["--out", str(tmp_path / "site"), "--serve", "--port", "0"],
        cwd=REPO,
        env=_command_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        while url is None:
            line = proc.stderr.readline()
            assert line, "the server never said where it serves"
            if line.startswith("serving "):
                url = line.split(" at ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "index.html", timeout=10) as response:
            assert response.status == 200
        for folder in ("tables/", "assets/", ""):
            if folder == "":
                continue  # the root serves index.html, not a listing
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url + folder, timeout=10)
            assert refused.value.code == 404, folder
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- item 1: the first line of a first run ----------------------------------------------------


def test_a_first_run_on_a_fresh_prefect_home_says_so_first(tmp_path):
    """The first line a new user sees says what the 10-25 s wait is; it is printed before
    Prefect is imported (its time is measured by bench/cli_startup.py, not asserted here)."""
    env = _command_env()
    env["PREFECT_HOME"] = str(tmp_path / "fresh-home")
    command = [sys.executable, "-m", "flows.cli", "run", "--source-dir", str(SAMPLES)]
    command += ["--data-root", str(tmp_path / "data"), "--source", "noc_structure"]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
    finally:
        proc.send_signal(signal.SIGTERM)  # stops the server too (an interrupt)
        proc.wait(timeout=60)
    assert line.startswith(
        "starting Prefect's local server: the first run on this PREFECT_HOME creates its "
        "database, about 15 s"
    ), line


# --- item 9: Prefect's wording never reaches our messages ---------------------------------------


def test_an_unexpected_task_error_is_reported_without_prefects_wording(
    tmp_path, capsys, monkeypatch
):
    import tasks.layers

    real = tasks.layers.run_transition

    def broken(plan, cfg, layer, *args, **kwargs):
        if layer.value == "bronze":
            raise RuntimeError("boom in bronze")
        return real(plan, cfg, layer, *args, **kwargs)

    monkeypatch.setattr(tasks.layers, "run_transition", broken)
    args = ["run", "--data-root", str(tmp_path / "data"), "--source-dir", str(SAMPLES)]
    assert main([*args, "--source", "noc_structure", "--format", "json"]) == 1
    captured = capsys.readouterr()
    (source,) = json.loads(captured.out)["sources"]
    assert source["error"] == "bronze: RuntimeError: boom in bronze"
    assert "FAILED noc_structure: bronze: RuntimeError: boom in bronze" in captured.err
    assert "encountered an exception" not in captured.err + captured.out

"""The `jobforge` command line as users and scripts meet it: a real subprocess, a real Prefect
(the embedded server each `jobforge run` starts), real files and DuckDB.

Exit codes, fail-fast checks, the output contract of every command in every format, per-table
counts, the run's log file, and which commands stay free of Prefect.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLES

from jobforge_core.common.config import Layer, PipelineConfig

BIN = Path(sys.executable).parent / "jobforge"
COMMAND = [str(BIN)] if BIN.is_file() else [sys.executable, "-m", "flows.cli"]
# `main` in a fresh interpreter, then whether Prefect was imported (on stdout, after the data).
PROBE = (
    "import sys\n"
    "from flows.cli import main\n"
    "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
    "sys.stdout.write('\\n<prefect imported>' if 'prefect' in sys.modules else '')\n"
    "sys.exit(code)\n"
)
FORMATS = ("table", "csv", "json")


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A Prefect home of the test session's own (the embedded server's database), no API URL
    inherited: each `jobforge run` starts and stops its embedded server, as for a user."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "JOBFORGE_"))}
    env["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def jobforge(env: dict[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def probe(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, bool]:
    """Run the CLI's `main` and report whether Prefect got imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120
    )
    imported = done.stdout.endswith("<prefect imported>")
    return done, imported


def one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def parse_csv(text: str) -> list[list[str]]:
    assert text.endswith("\n") and not text.endswith("\n\n"), repr(text[-20:])
    records = list(csv.reader(io.StringIO(text)))
    assert records and all(len(r) == len(records[0]) for r in records)
    assert all(any(cell for cell in r) for r in records)  # no blank record
    return records


def gold_count(root: Path, table: str) -> int:
    return pl.scan_parquet(root / "gold" / f"{table}.parquet").select(pl.len()).collect().item()


# --- exit code 2: usage and spec errors, before any work -----------------------------------


def _bad_spec_dir(tmp_path: Path, body: str) -> Path:
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    (specs / "broken.yaml").write_text(body, encoding="utf-8")
    return specs


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown_source", "unknown source 'noc_structur'; did you mean 'noc_structure'?"),
        ("missing_source_dir", "does not exist (--source-dir)"),
        ("missing_data_root", "source directory"),
        ("invalid_spec_field", "broken.yaml"),
        ("invalid_yaml", "not valid YAML"),
        ("missing_spec_dir", "spec directory"),
        ("file_of_unknown_source", "--file for unknown source 'noc_structur'"),
        ("missing_file", "no such file"),
    ],
)
def test_run_fails_fast_in_one_line_before_prefect(cli_env, tmp_path, case, expected):
    root = tmp_path / "data"
    args = ["run", "--data-root", str(root), "--source-dir", str(SAMPLES)]
    if case == "unknown_source":
        args += ["--source", "noc_structur"]
    elif case == "missing_source_dir":
        args[-1] = str(tmp_path / "nowhere")
    elif case == "missing_data_root":
        args = ["run", "--data-root", str(root)]  # default source dir: <data-root>/source
    elif case == "invalid_spec_field":
        spec = "name: broken\nfile: x.csv\ngold:\n  - {tabel: fact_x}\n"
        args += ["--specs", str(_bad_spec_dir(tmp_path, spec))]
    elif case == "invalid_yaml":
        args += ["--specs", str(_bad_spec_dir(tmp_path, "name: [unclosed\n  file: x\n"))]
    elif case == "missing_spec_dir":
        args += ["--specs", str(tmp_path / "no-specs")]
    elif case == "file_of_unknown_source":
        args += ["--file", f"noc_structur={SAMPLES / 'noc_structure_en.csv'}"]
    elif case == "missing_file":
        args += ["--file", f"noc_structure={tmp_path / 'old.csv'}"]
    done, imported = probe(cli_env, *args)
    assert done.returncode == 2, done.stderr
    line = one_line_error(done)
    assert expected in line and line.startswith("jobforge run: ")
    assert not imported  # no Prefect, so no server and no flow run
    assert not root.exists()  # nothing written


def test_usage_errors_exit_2(cli_env):
    for args in (["run", "--no-such-option"], ["catalog", "--format", "xml"], []):
        done = jobforge(cli_env, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "usage:" in done.stderr and "Traceback" not in done.stderr


def test_every_option_has_help_text():
    from flows.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in [("jobforge", parser), *subparsers.items()]:
        for action in sub._actions:
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"


# --- nothing built yet -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["catalog"], ["quarantine"], ["query", "SELECT 1"], ["lineage", "dim_noc"]],
)
def test_before_any_run_commands_say_nothing_is_built(cli_env, tmp_path, args):
    empty = tmp_path / "data"
    (empty / "source").mkdir(parents=True)
    done = jobforge(cli_env, *args, "--data-root", str(empty), "--format", "json")
    assert done.returncode == 1, done.stderr
    assert "nothing has been built yet" in one_line_error(done)
    assert done.stdout == ""
    missing = jobforge(cli_env, *args, "--data-root", str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert "does not exist" in one_line_error(missing)


# --- a real run, then every command in every format ------------------------------------------


@pytest.fixture(scope="module")
def built(cli_env, tmp_path_factory) -> dict:
    """`jobforge run --format json` on three sources, one with a row that does not cast."""
    base = tmp_path_factory.mktemp("cli-run")
    source = base / "source"
    shutil.copytree(SAMPLES, source)
    employment = source / "employment_emploi_2024_2033_noc2021.csv"
    with employment.open("a", encoding="utf-8") as fh:
        fh.write("21232,Bad row,Mauvaise ligne,abc,1,1,1,1,1,1,1,1,1,1\n")
    root = base / "data"
    args = ["run", "--data-root", str(root), "--source-dir", str(source), "--format", "json"]
    for name in ("noc_structure", "cops_employment", "oasis_guide"):
        args += ["--source", name]
    done = jobforge(cli_env, *args)
    return {"root": root, "source": source, "done": done}


def test_run_json_is_the_summary_and_exit_0_says_quarantine_was_within_thresholds(built):
    done, root = built["done"], built["root"]
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # one JSON document, nothing else on stdout
    sources = {s["source"]: s for s in document["sources"]}
    assert set(sources) == {"noc_structure", "cops_employment", "oasis_guide"}
    assert sources["noc_structure"]["status"] == "success"
    employment = sources["cops_employment"]
    assert employment["status"] == "partial"
    assert employment["quarantine_by_rule"] == {"bronze:cast_error": 1}
    assert employment["staged"] == 26 and employment["bronze"] == 25
    for source in sources.values():
        assert source["batch_id"] and source["error"] is None
        for table, n in source["gold"].items():  # each gold table's own count
            assert n == gold_count(root, table), table
    assert set(sources["noc_structure"]["gold"]) == {"dim_noc", "dim_noc_structure"}
    run = document["run"]
    assert run["exit_code"] == 0 and run["failed"] == []
    assert "within their thresholds" in done.stderr and "(exit 0)" in done.stderr
    # concise: one line per source, no event log on the console
    for name in sources:
        assert sum(line.startswith(name + " ") for line in done.stderr.splitlines()) == 1
    assert "event=" not in done.stderr
    assert "jobforge quarantine --data-root" in done.stderr


def test_every_run_writes_its_full_log_under_the_data_root(built):
    run = json.loads(built["done"].stdout)["run"]
    log_file = Path(run["log_file"])
    assert log_file.parent == built["root"] / "logs" and log_file.is_file()
    text = log_file.read_text(encoding="utf-8")
    assert text.count("event='transition_completed'") == 12  # 3 sources x 4 layers
    assert "event='run_finished'" in text
    assert "Task run 'gold-noc_structure'" in text


def _commands(root: Path) -> dict[str, list[str]]:
    return {
        "query": ["query", "SELECT noc_code, class_title FROM dim_noc ORDER BY noc_code"],
        "catalog": ["catalog"],
        "catalog_table": ["catalog", "dim_noc_structure"],
        "lineage": ["lineage", "dim_noc"],
        "lineage_where": ["lineage", "dim_noc_structure", "--where", "level = 5", "--limit", "2"],
        "quarantine": ["quarantine"],
    }


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "command", ["query", "catalog", "catalog_table", "lineage", "lineage_where", "quarantine"]
)
def test_every_command_honours_every_format(cli_env, built, command, fmt):
    root = built["root"]
    args = [*_commands(root)[command], "--format", fmt]
    # --data-root works after the sub-command and before it
    args = ["--data-root", str(root), *args] if fmt == "csv" else [*args, "--data-root", str(root)]
    done, imported = probe(cli_env, *args)
    assert done.returncode == 0, done.stderr
    assert not imported, "read commands must not import Prefect"
    assert "Traceback" not in done.stderr
    out = done.stdout
    if fmt == "json":
        document = json.loads(out)
        assert isinstance(document, dict | list) and document
    elif fmt == "csv":
        records = parse_csv(out)
        assert len(records) >= 2
    else:
        assert out.strip() and not out.startswith("{")


@pytest.mark.parametrize(
    ("command", "avoided"),
    [
        ("query", {"prefect", "polars"}),
        ("catalog", {"prefect", "polars", "duckdb", "pyarrow"}),
        ("catalog_table", {"prefect", "polars", "duckdb", "pyarrow"}),
        ("lineage", {"prefect", "polars", "duckdb"}),
        ("lineage_where", {"prefect", "duckdb"}),
        ("quarantine", {"prefect", "duckdb"}),
    ],
)
def test_read_commands_import_only_what_they_use(cli_env, built, command, avoided):
    """Issue 12: the read commands start fast because they import no Prefect, no polars (a
    fifth of a second) where they need none, and DuckDB only for `query` (70 ms);
    bench/cli_startup.py has the times."""
    probe_modules = PROBE.replace(
        "'\\n<prefect imported>' if 'prefect' in sys.modules else ''",
        "'\\n<' + ','.join(sorted(m for m in sys.modules if '.' not in m)) + '>'",
    )
    args = [*_commands(built["root"])[command], "--data-root", str(built["root"])]
    done = subprocess.run(
        [sys.executable, "-c", probe_modules, *args],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    imported = set(done.stdout.rsplit("<", 1)[1].rstrip(">").split(","))
    assert not imported & avoided, sorted(imported & avoided)


def test_query_opens_only_the_tables_it_names_yet_introspection_sees_all(built):
    """Only the tables a statement names are opened (a parquet footer each: most of a query's
    time with hundreds of tables); SHOW TABLES, information_schema and names inside strings
    still see every table."""
    from jobforge_core.query.sql import connect, query_rows

    cfg = PipelineConfig(data_root=built["root"])
    views = "SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW'"
    everything = [row[0] for row in connect(cfg).execute(views).fetchall()]
    assert {"dim_noc", "noc_structure"} <= set(everything)
    named = connect(cfg, wanted={"dim_noc"}).execute(views).fetchall()
    assert {row[0] for row in named if not row[0].startswith("_jobforge")} == {"dim_noc"}

    _, rows = query_rows(cfg, "SELECT count(*) AS n FROM dim_noc")
    assert rows == [{"n": 8}]
    _, rows = query_rows(cfg, "SELECT count(*) AS n FROM query_table('dim_noc')")
    assert rows == [{"n": 8}]
    _, rows = query_rows(cfg, "SHOW TABLES")
    assert {"dim_noc", "fact_cops_employment"} <= {r["name"] for r in rows}
    _, rows = query_rows(cfg, views.replace("table_name", "count(*) AS n"))
    assert rows[0]["n"] == len(everything)


def test_lineage_where_says_how_many_rows_matched_and_shown(cli_env, built):
    root = built["root"]
    table = pl.read_parquet(root / "gold" / "dim_noc_structure.parquet")
    matched = table.filter(pl.col("level") == 5).height
    assert matched > 2
    args = ["lineage", "dim_noc_structure", "--where", "level = 5", "--limit", "2"]
    done = jobforge(cli_env, *args, "--data-root", str(root), "--format", "json")
    document = json.loads(done.stdout)
    assert document["match"]["matched"] == matched and document["match"]["shown"] == 2
    assert len(document["rows"]) == 2 and len(document["source_records"]) == 2
    table_view = jobforge(cli_env, *args, "--data-root", str(root))
    assert f"{matched} row(s) of dim_noc_structure match; showing 2" in table_view.stderr


def test_lineage_shows_each_gold_tables_own_count(cli_env, built):
    root = built["root"]
    done = jobforge(cli_env, "lineage", "dim_noc", "--data-root", str(root), "--format", "json")
    (gold,) = [
        t for t in json.loads(done.stdout)["transitions"] if t["transition"].endswith("gold")
    ]
    assert gold["rows_out"] == gold_count(root, "dim_noc") == 8
    assert gold["outputs"] == {"dim_noc_structure": 21, "dim_noc": 8}
    table = jobforge(cli_env, "lineage", "dim_noc", "--data-root", str(root)).stdout
    line = next(x for x in table.splitlines() if x.startswith("silver -> gold"))
    assert line.split()[4:6] == ["21", "8"]  # rows in, this table's rows out


def test_explain_is_readable_and_catalog_examples_are_cut(cli_env, built):
    root = str(built["root"])
    plan = jobforge(cli_env, "query", "EXPLAIN SELECT * FROM dim_noc", "--data-root", root)
    assert plan.returncode == 0, plan.stderr
    assert "\\n" not in plan.stdout and len(plan.stdout.splitlines()) > 5
    # The store's tables reach the query as read-only Arrow scans (issue 11), not read_parquet.
    scans = ("dim_noc", "READ_PARQUET", "ARROW_SCAN")
    assert any(s in line for line in plan.stdout.splitlines() for s in scans)
    meta = jobforge(cli_env, "catalog", "dim_noc_structure", "--data-root", root).stdout
    definition = next(x for x in meta.splitlines() if x.startswith("class_definition "))
    assert "…" in definition
    full = json.loads(
        jobforge(
            cli_env, "catalog", "dim_noc_structure", "--data-root", root, "--format", "json"
        ).stdout
    )
    examples = next(c for c in full["columns"] if c["name"] == "class_definition")["example_values"]
    assert all("…" not in e for e in examples)  # json keeps the values whole


@pytest.mark.parametrize("fmt", FORMATS)
def test_piping_into_head_prints_no_broken_pipe_error(cli_env, built, fmt):
    sql = "SELECT range AS n, 'x' || range AS label FROM range(200000)"
    args = ["query", sql, "--data-root", str(built["root"]), "--format", fmt]
    proc = subprocess.Popen(
        [*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env
    )
    proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert b"BrokenPipeError" not in err and b"Traceback" not in err


@pytest.mark.parametrize("args", [["--help"], ["query", "--help"], ["lineage", "--help"]])
def test_help_does_not_import_prefect(cli_env, args):
    done, imported = probe(cli_env, *args)
    assert done.returncode == 0 and "usage: jobforge" in done.stdout
    assert not imported


# --- exit code 1 ------------------------------------------------------------------------------


def test_a_failed_source_exits_1_and_csv_stays_valid(cli_env, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(SAMPLES, source)
    (source / "guide_oasis_2023_v1.0.csv").write_bytes(b"\x00\x01garbage" * 100)
    root = tmp_path / "data"
    args = ["run", "--data-root", str(root), "--source-dir", str(source), "--format", "csv"]
    done = jobforge(cli_env, *args, "--source", "noc_structure", "--source", "oasis_guide", "-v")
    assert done.returncode == 1, done.stderr
    records = parse_csv(done.stdout)
    rows = [dict(zip(records[0], r, strict=True)) for r in records[1:]]
    status = {r["source"]: r["status"] for r in rows}
    assert status == {"noc_structure": "success", "oasis_guide": "failed"}
    failed = next(r for r in rows if r["source"] == "oasis_guide")
    assert "binary" in failed["error"]
    assert "FAILED oasis_guide: staged: " in done.stderr
    assert "failed: 1 of 2 source(s) failed (exit 1)" in done.stderr
    assert "event='transition_completed'" in done.stderr  # -v: the event log on the console
    assert PipelineConfig(data_root=root).table_path(Layer.GOLD, "dim_noc").is_file()


@pytest.mark.usefixtures("prefect_harness")
def test_a_failed_catalog_rebuild_exits_1(tmp_path, capsys):
    from flows.cli import main

    root = tmp_path / "data"
    (root / "jobforge.duckdb").mkdir(parents=True)  # the store cannot be replaced
    args = ["run", "--data-root", str(root), "--source-dir", str(SAMPLES)]
    code = main([*args, "--source", "noc_structure", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 1
    run = json.loads(captured.out)["run"]
    (problem,) = run["problems"]
    assert problem.startswith("catalog rebuild failed") and run["failed"] == []
    assert f"FAILED {problem}" in captured.err
    # a server outlives the command here (the test harness's): the run's page is given
    assert run["flow_run_url"].endswith(f"/runs/flow-run/{run['flow_run_id']}")
    assert f"run:        {run['flow_run_url']}" in captured.err


@pytest.mark.usefixtures("prefect_harness")
def test_file_option_loads_the_given_release(tmp_path, capsys):
    from flows.cli import main

    release = tmp_path / "noc_structure_2020.csv"
    shutil.copy(SAMPLES / "noc_structure_en.csv", release)
    root = tmp_path / "data"
    args = ["run", "--data-root", str(root), "--source-dir", str(SAMPLES), "--format", "json"]
    assert main([*args, "--source", "noc_structure", "--file", f"noc_structure={release}"]) == 0
    staged = pl.read_parquet(
        PipelineConfig(data_root=root).table_path(Layer.STAGED, "noc_structure")
    )
    assert set(staged["_source_file"].cast(pl.String)) == {release.name}
    assert json.loads(capsys.readouterr().out)["sources"][0]["status"] == "success"

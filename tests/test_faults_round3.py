"""Issue 26: faults and hostile input, round three. Each test failed before its fix."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
from conftest import SAMPLES
from processes import assert_dies_with

from flows.cli import main
from jobforge_core.common.config import PipelineConfig

JOBFORGE = Path(sys.executable).parent / "jobforge"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    return env


def _server_of(proc: subprocess.Popen, timeout: float = 120) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if "uvicorn" in " ".join(child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                continue
        assert proc.poll() is None, "jobforge run ended before its server was seen"
        time.sleep(0.1)
    raise AssertionError("no server process")


def test_kill_9_of_jobforge_run_takes_its_prefect_server_with_it(tmp_path: Path):
    """Item 9: the temporary server outlived every killed run (still listening 90 s later)."""
    proc = subprocess.Popen(
        [str(JOBFORGE), "run", "--data-root", str(tmp_path / "data")]
        + ["--source-dir", str(SAMPLES)],
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = _server_of(proc)
    time.sleep(1.0)
    assert_dies_with(proc, server, "Prefect's server")


def _run(root: Path, *args: str) -> int:
    return main(["run", "--data-root", str(root), "--source-dir", str(SAMPLES), *args])


def test_a_damaged_state_or_log_affects_only_its_own_record(prefect_harness, tmp_path, capsys):
    """Item 5: a truncated state file crashed the flow for every source, even with --force;
    a truncated transition log made lineage, history and docs fail for every table."""
    root = tmp_path / "data"
    sources = ["--source", "noc_structure", "--source", "cops_summary"]
    assert _run(root, *sources) == 0
    cfg = PipelineConfig(data_root=root)
    state = cfg.state_path() / "noc_structure.json"
    state.write_text(state.read_text()[:40])
    log = sorted(cfg.catalog_lineage_path().glob("*.json"))[0]
    log.write_text(log.read_text()[:50])
    capsys.readouterr()
    for command in (["lineage", "fact_cops_summary"], ["history", "dim_noc"], ["catalog"]):
        assert main([*command, "--data-root", str(root)]) == 0, command
    assert main(["docs", "--data-root", str(root), "--out", str(tmp_path / "site")]) == 0
    assert _run(root, *sources) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert (cfg.catalog_lineage_path() / "damaged" / log.name).is_file()
    assert (cfg.state_path() / "damaged" / "noc_structure.json").is_file()
    assert state.is_file()  # written again by the source's own run


LAUGHS = """
name: laughs
file: x.csv
params:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_a_yaml_alias_bomb_is_refused_at_load_in_one_line(tmp_path: Path, capsys):
    """Item 10: a 514-byte spec reached 3.9 GB, then a Rust panic that ignored SIGTERM."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "laughs.yaml").write_text(LAUGHS)
    code = main(["run", "--specs", str(specs), "--data-root", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "laughs.yaml" in err[0] and "refused as an alias bomb" in err[0]
    (specs / "laughs.yaml").write_text("name: loop\nfile: x.csv\nparams: &p {self: *p}\n")
    assert main(["run", "--specs", str(specs), "--data-root", str(tmp_path / "d")]) == 2
    assert "refers to itself" in capsys.readouterr().err


def test_a_look_ahead_pattern_is_refused_at_load_naming_the_engine(tmp_path: Path, capsys):
    """Item 16: Python's `re` accepted it; polars failed at silver with a plan dump, exit 1."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "codes.yaml").write_text(
        "name: codes\nfile: codes.csv\nkeys: [code]\n"
        "expectations: [{column: code, rule: regex, pattern: '^(?=\\\\d)\\\\d+$', action: drop}]\n"
        "gold: [{table: dim_codes, columns: [code], keys: [code]}]\n"
    )
    assert main(["run", "--specs", str(specs), "--data-root", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "codes.yaml" in err[0]
    assert "is not a regular expression the engine runs" in err[0]


def test_a_killed_docs_build_leaves_nothing_the_next_build_keeps(tmp_path: Path):
    """Item 12: kill -9 of `docs --out DIR` between its two renames left DIR missing and two
    `.DIR.<hex>.tmp` folders, which later builds never removed. Killed for real, with the
    second rename turned into SIGKILL by strace's fault injection."""
    import shutil as sh

    from helpers import run_plain

    from jobforge_core.site.refresh import refresh_catalog
    from jobforge_core.sources.spec import load_specs

    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=SAMPLES)
    run_plain(cfg, ["noc_structure"])
    refresh_catalog(cfg, load_specs())
    out = tmp_path / "site"
    assert main(["docs", "--data-root", str(cfg.data_root), "--out", str(out)]) == 0
    strace = sh.which("strace")
    assert strace, "strace is needed (apt-get install -y strace)"
    killed = subprocess.run(
        [strace, "-f", "-qq", "-o", "/dev/null", "-e", "inject=rename:signal=SIGKILL:when=2"]
        + [str(JOBFORGE), "docs", "--data-root", str(cfg.data_root), "--out", str(out)],
        capture_output=True,
        timeout=300,
    )
    assert killed.returncode != 0
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")]
    assert left, "the kill left no temp folder: the injection point moved"
    assert main(["docs", "--data-root", str(cfg.data_root), "--out", str(out)]) == 0
    assert (out / "index.html").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site.")] == []


def test_restore_killed_between_its_steps_is_repaired_by_the_next_plain_run(
    prefect_harness, tmp_path: Path, source_copy: Path
):
    """Items 1 and 2: kill -9 of `restore` between its renames left layers on different
    batches, and the next plain run said `unchanged` (exit 0) over gold with FK orphans,
    forever. Now a killed restore leaves the source incomplete (the next run reprocesses it),
    a plain run checks that every layer holds the batch its state names, and published gold
    is only what a completed step published."""
    import shutil as sh

    from consistency import check
    from helpers import layer

    from jobforge_core.common.config import Layer
    from jobforge_core.history.batches import batch_of
    from jobforge_core.run.state import read_state

    strace = sh.which("strace")
    assert strace, "strace is needed (apt-get install -y strace)"
    root = tmp_path / "data"
    args = ["run", "--data-root", str(root), "--source-dir", str(source_copy)]
    small = ["--source", "noc_structure", "--source", "cops_employment"]
    assert main([*args, *small]) == 0
    cfg = PipelineConfig(data_root=root)
    first = batch_of(cfg.table_path(Layer.GOLD, "dim_noc"))
    noc = source_copy / "noc_structure_en.csv"
    noc.write_text(noc.read_text() + '5,Unit Group,99990,Nouveau,"A new unit group"\n')
    assert main([*args, *small]) == 0
    second = read_state(cfg, "noc_structure").batch_id
    for when in (1, 2, 3, 5, 7):
        killed = subprocess.run(
            [strace, "-f", "-qq", "-o", "/dev/null"]
            + ["-e", f"inject=rename,renameat,renameat2:signal=SIGKILL:when={when}"]
            + [str(JOBFORGE), "restore", "noc_structure", "--batch", first]
            + ["--data-root", str(root)],
            capture_output=True,
            timeout=300,
        )
        assert killed.returncode != 0, when
        check(root)  # what readers see is whole, whatever the kill left in the layers
        assert main([*args, *small]) == 0, when
        state = read_state(cfg, "noc_structure")
        assert state is not None and state.complete and state.batch_id == second, when
        for lyr in Layer:
            table = "dim_noc" if lyr is Layer.GOLD else "noc_structure"
            assert set(layer(cfg, lyr, table)["_batch_id"].cast(str)) == {second}, (when, lyr)
        check(root)


def test_a_fifo_swapped_in_after_the_check_is_refused_without_hanging(tmp_path: Path):
    """Item 11: a FIFO swapped in between planning's stat and open() hung the run."""
    from jobforge_core.sources.snapshot import inspect, open_regular, take_snapshot

    fifo = tmp_path / "noc.csv"
    os.mkfifo(fifo)
    try:
        with open_regular(fifo):
            raise AssertionError("a FIFO was opened as a source")
    except OSError as exc:
        assert "FIFO" in str(exc)
    assert "FIFO" in (inspect(fifo).error or "")
    try:
        take_snapshot(fifo, tmp_path / "work", "noc")
        raise AssertionError("a FIFO was snapshotted")
    except OSError as exc:
        assert "FIFO" in str(exc)


def test_example_values_in_the_catalog_are_cut_short(tmp_path: Path):
    """Item 15: a 100 MB field became a 100 MB example value, four times over."""
    import polars as pl

    from jobforge_core.catalog.tables import EXAMPLE_CHARS, _examples

    path = tmp_path / "wide.parquet"
    pl.DataFrame({"text": ["x" * 1_000_000, "short"]}).write_parquet(path)
    examples = _examples(path, ["text"])["text"]
    assert examples[1] == "short"
    assert len(examples[0]) == EXAMPLE_CHARS and examples[0].endswith("…")


class _SickLineage:
    """An OpenLineage endpoint that answers 500, or accepts and never answers."""

    def __init__(self, mode: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posts = 0
        sick = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                sick.posts += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if mode == "silent":
                    time.sleep(30)
                    return
                self.send_response(500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_sick_openlineage_endpoint_is_given_up_after_its_first_failure(
    tmp_path: Path, monkeypatch
):
    """Item 8: an endpoint answering 500 made the run 10x slower (1,329 POSTs, each event
    retried with back-off); one that never answered, 4x. Now the first failure opens the
    breaker for the run, every event is kept on disk, and one warning says so."""
    import json

    from helpers import run_plain

    from jobforge_core.openlineage import emitter

    for mode in ("500", "silent"):
        sick = _SickLineage(mode)
        monkeypatch.setenv("OPENLINEAGE_URL", sick.url)
        monkeypatch.setattr(emitter, "_emitters", {})
        cfg = PipelineConfig(data_root=tmp_path / mode, source_dir=SAMPLES)
        try:
            run_plain(cfg, ["noc_structure", "cops_summary", "oasis_guide"])
        finally:
            sick.close()
        kept = emitter.events_file(cfg).read_text().splitlines()
        assert len(kept) == 3 * 4 * 2  # every START and COMPLETE, on disk
        assert all(json.loads(line)["eventType"] in ("START", "COMPLETE") for line in kept)
        # One event's attempts (the client's own retries), then no more POSTs.
        assert sick.posts <= 6, (mode, sick.posts)


def test_corruption_at_rest_is_noticed_and_repaired(prefect_harness, tmp_path, source_copy, capsys):
    """Item 4: 64 flipped bytes in a gold parquet: `query` failed while `lineage` and
    `history` answered and a plain run said "unchanged"; a truncated store was never
    repaired; a garbage file in history was installed as gold by `restore`."""
    from consistency import check

    from jobforge_core.run.publish import current_snapshot

    root = tmp_path / "data"
    small = ["--source", "noc_structure", "--source", "cops_employment"]
    small += ["--source-dir", str(source_copy)]
    assert _run(root, *small) == 0
    cfg = PipelineConfig(data_root=root)
    published = root / current_snapshot(cfg).tables["dim_noc"].file
    data = bytearray(published.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    published.write_bytes(bytes(data))  # same inode as gold/dim_noc.parquet: both damaged
    capsys.readouterr()
    assert main(["verify", "--data-root", str(root)]) == 1
    assert "dim_noc" in capsys.readouterr().out
    assert _run(root, *small) == 0  # rebuilt and republished, not "unchanged"
    check(root)
    assert main(["verify", "--data-root", str(root)]) == 0
    # A truncated store: the next plain run rebuilds it.
    store = root / "jobforge.duckdb"
    store.write_bytes(store.read_bytes()[:4096])
    assert _run(root, *small) == 0
    capsys.readouterr()
    assert main(["query", "--data-root", str(root), "SELECT count(*) AS n FROM dim_noc"]) == 0
    # A garbage file in history is refused by restore, naming it.
    noc = source_copy / "noc_structure_en.csv"
    noc.write_text(noc.read_text() + '5,Unit Group,99990,Nouveau,"A new unit group"\n')
    assert _run(root, *small) == 0  # a new batch: the previous one is kept in history
    kept = next((root / "history" / "gold" / "dim_noc").glob("*.parquet"))
    kept.write_bytes(b"not parquet at all")
    capsys.readouterr()
    code = main(["restore", "noc_structure", "--batch", kept.stem, "--data-root", str(root)])
    assert code == 2
    assert "is damaged in history for dim_noc" in capsys.readouterr().err


def test_query_output_is_capped_for_people_and_streamed_for_files(sample_flow_run, capsys):
    """Item 7: the limits stopped at the engine: 3M rows in csv passed 3.9 GB of RSS and
    --timeout did not stop the fetch. Now a table shows at most --max-rows rows and says so;
    csv and json stream in batches, under the time limit."""
    data_root, code, _ = sample_flow_run
    assert code == 0
    query = ["query", "--data-root", str(data_root)]
    assert main([*query, "SELECT * FROM range(3000000)"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2 + 1000  # header, rule, 1000 rows
    assert "first 1000 row(s) shown; the result has more" in captured.err
    assert main([*query, "--format", "csv", "SELECT range AS n FROM range(250000)"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "n" and len(lines) == 250_001 and lines[-1] == "249999"
    slow = "SELECT count(*) FROM range(100000000000) a"
    assert main([*query, "--format", "csv", "--timeout", "1", slow]) != 0
    assert "query stopped after 1 s, its time limit" in capsys.readouterr().err


def test_terminal_control_characters_from_data_are_escaped_in_tables(sample_flow_run, capsys):
    """Item 13: an OSC title change and a screen clear from data reached the terminal raw."""
    data_root, _, _ = sample_flow_run
    sql = "SELECT chr(27) || ']0;pwned' || chr(7) || chr(27) || '[2J' AS t"
    assert main(["query", "--data-root", str(data_root), sql]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in out


def test_spreadsheet_safe_csv_neutralises_formulas(sample_flow_run, capsys):
    """Item 14: `=1+1`, `+cmd|' /C calc'!A0` and `@SUM(1,2)` reached csv unchanged."""
    data_root, _, _ = sample_flow_run
    sql = "SELECT '=1+1' AS a, '+cmd|'' /C calc''!A0' AS b, '@SUM(1,2)' AS c, -5 AS n"
    base = ["query", "--data-root", str(data_root), "--format", "csv", sql]
    assert main(base) == 0
    assert capsys.readouterr().out.splitlines()[1] == "=1+1,+cmd|' /C calc'!A0,\"@SUM(1,2)\",-5"
    assert main([*base, "--spreadsheet-safe"]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert row == "'=1+1,'+cmd|' /C calc'!A0,\"'@SUM(1,2)\",-5"  # numbers stay numbers


class _CountingList(list):
    """A list that counts the items read from it (how often a column list is walked)."""

    reads = 0

    def __iter__(self):
        for item in super().__iter__():
            _CountingList.reads += 1
            yield item


def test_a_wide_tables_column_links_cost_in_proportion_to_its_columns():
    """Item 17: every column link of a table page walked the table's whole column list: a
    20,000-column table cost 400 million steps (most of a 61 s catalog rebuild). At 5,000
    columns the catalog and site refresh went from 36.6 s to 19.7 s (cProfile, this machine)."""
    from datetime import UTC, datetime

    from jobforge_core.common.config import Layer
    from jobforge_core.common.models import ColumnMetadata, TableMetadata
    from jobforge_core.site.pages import _column_link

    n = 2000
    columns = [ColumnMetadata(name=f"c{i}", data_type="String", nullable=False) for i in range(n)]
    now = datetime.now(UTC)
    meta = TableMetadata(
        table_name="silver.wide",
        layer=Layer.SILVER,
        domain="test",
        file_path="silver/wide.parquet",
        row_count=5,
        column_count=n,
        file_size_bytes=1,
        schema_version="1",
        created_at=now,
        updated_at=now,
        columns=columns,
    )
    meta.__dict__["columns"] = _CountingList(columns)

    class Data:
        tables = {"silver.wide": meta}

    _CountingList.reads = 0
    links = [_column_link(Data, "silver.wide", f"c{i}", f"silver.wide.c{i}", "") for i in range(n)]
    assert all("#" in link for link in links)
    assert _CountingList.reads <= 2 * n, _CountingList.reads  # once, not once per link

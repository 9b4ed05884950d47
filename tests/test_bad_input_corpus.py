"""The bad-input corpus (issue 10, acceptance): every kind of bad file, through the real CLI.

Each case is a source of its own (kind `cops_yearly`, built from the bundled COPS sample) so
one `jobforge run` covers them all next to good sources. A first run ingests a good version
of every case file; the second run (`--force`) sees the bad versions. Every case must end in
a file quarantine (error.json naming file, row and column where they exist, the previous gold
byte-identical) or in row quarantines (file, record and column in the row and its detail);
the good sources succeed; and for every source that ran, its records are accounted for:
staged records = those in gold + those quarantined + those counted by a named rule.
The table "What happens to a bad file" of docs/troubleshooting.md is this corpus.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO, SAMPLES

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.provenance import SOURCE_ROW

COPS = SAMPLES / "employment_emploi_2024_2033_noc2021.csv"
GOOD_SOURCES = ["noc_structure", "cops_summary"]


def _records() -> list[list[str]]:
    with COPS.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _text(records: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(records)
    return out.getvalue()


def _good() -> bytes:
    return _text(_records()).encode()


def _padded(nul: bool) -> bytes:
    """The sample with a 70 KB name in record 1 (so the file passes 64 KiB without adding
    records that a volume guard would count); the last record may hold a NUL byte in
    'Occupation Name'."""
    records = _records()
    records[1][1] += " " + "-" * 70_000
    if nul:
        records[-1][1] = records[-1][1][:3] + "\x00" + records[-1][1][3:]
    return _text(records).encode()


def _edit(change: Callable[[list[list[str]]], list[list[str]]]) -> Callable[[], bytes]:
    return lambda: _text(change(_records())).encode()


def _set(records: list[list[str]], row: int, col: int, value: str) -> list[list[str]]:
    records[row][col] = value
    return records


def _short(records):  # record 5 loses its last three years
    records[5] = records[5][:-3]
    return records


def _long(records):  # record 6 gets two more fields than the header
    records[6] = [*records[6], "1", "2"]
    return records


def _unterminated() -> bytes:
    lines = _good().decode().splitlines()
    record = next(i for i in range(10, len(lines)) if '"' not in lines[i])
    parts = lines[record].split(",")
    parts[1] = '"' + parts[1]
    lines[record] = ",".join(parts)
    return ("\n".join(lines) + "\n").encode()


UNTERMINATED_RECORD = next(i for i in range(10, 30) if '"' not in _good().decode().splitlines()[i])


def _drop_column(records, col: int):
    return [r[:col] + r[col + 1 :] for r in records]


def _extra(records):  # numbers, so the kind's default type (int) casts them
    return [[*r, "Revision" if i == 0 else str(i)] for i, r in enumerate(records)]


def _all_null_keys(records):
    return [records[0]] + [["", *r[1:]] for r in records[1:]]


def _all_duplicate_keys(records):
    return [records[0]] + [[records[1][0], *r[1:]] for r in records[1:]]


@dataclass
class Case:
    name: str
    bad: Callable[[], bytes] | str  # bytes of the bad file, or "directory" / "missing" / "chmod"
    outcome: str  # "file" | "rows" | "success"
    message: str = ""  # fragment of error.json's message (file) or of the detail (rows)
    row: int | None = None
    column: str | None = None
    reason: str | None = None  # rows: the quarantine reason
    rows: list[int] | None = None  # rows: the quarantined records (None: every record)
    good: Callable[[], bytes] = _good
    reader: str = ""
    keeps_gold: bool = False  # rows: a volume guard fails the source and keeps gold
    pending: str | None = None  # issue 10 item whose fix has not landed yet
    extra: dict = field(default_factory=dict)


NAMES = _records()[0]
CASES = [
    Case("empty", lambda: b"", "file", "empty"),
    Case(
        "header_only",
        lambda: _text(_records()[:1]).encode(),
        "file",
        "header",
    ),
    Case("binary", lambda: bytes(range(256)) * 64, "file", "binary"),
    Case("utf16_bom", lambda: _good().decode().encode("utf-16"), "success"),
    Case(
        "utf16_declared",
        lambda: _good().decode().encode("utf-16-le"),
        "success",
        good=lambda: _good().decode().encode("utf-16-le"),
        reader="reader: {encoding: utf-16-le}",
    ),
    Case("utf16_undeclared", lambda: _good().decode().encode("utf-16-le"), "file", "binary"),
    # Latin-1 as Windows writes it (cp1252: the sample's curly apostrophe is not in ISO 8859-1)
    Case("latin1", lambda: _good().decode().encode("cp1252"), "success"),
    Case("ragged_short", _edit(_short), "rows", "no value for", reason="ragged_record", rows=[5]),
    Case("ragged_long", _edit(_long), "rows", "16 field(s)", reason="ragged_record", rows=[6]),
    Case(
        "unterminated_quote",
        _unterminated,
        "file",
        "quote",
        row=UNTERMINATED_RECORD,
        column="Occupation Name",
    ),
    Case(
        "duplicate_header",
        _edit(lambda r: _set(r, 0, 5, "2024")),
        "file",
        "2024",
        column="2024",
    ),
    Case(
        "missing_required",
        _edit(lambda r: _drop_column(r, 1)),
        "file",
        "missing required",
        column="Occupation Name",
    ),
    Case(
        "renamed_required",
        _edit(lambda r: _set(r, 0, 0, "Code NOC")),
        "file",
        "missing required",
        column="Code",
    ),
    # The COPS kind evolves: year columns may come and go; a column that is not a year is a
    # change of schema it does not accept (issue 27): rejected, the previous gold kept.
    Case(
        "extra_columns",
        _edit(_extra),
        "file",
        "on_schema_change: evolve",
        column="Revision",
    ),
    Case(
        "nul_after_64k",
        lambda: _padded(nul=True),
        "file",
        "NUL",
        row=len(_records()) - 1,
        column="Occupation Name",
        good=lambda: _padded(nul=False),
    ),
    Case(
        "directory",
        "directory",
        "file",
        "is a directory",
    ),
    Case("missing_file", "missing", "file", "not found"),
    Case(
        "unreadable",
        "chmod",
        "file",
        "permission denied",
    ),
    Case(
        "all_null_keys",
        _edit(_all_null_keys),
        "rows",
        "null",
        reason="null_key",
        keeps_gold=True,
    ),
    Case(
        "all_duplicate_keys",
        _edit(_all_duplicate_keys),
        "rows",
        "repeats",
        reason="duplicate_key",
        rows=list(range(2, len(_records()))),
        keeps_gold=True,
    ),
]

SPEC = """
name: case_{name}
kind: cops_yearly
file: case_{name}.csv
{reader}
params:
  fact_table: fact_case_{name}
  aggregate_table: agg_case_{name}
  value: employment
"""


def _cli(args: list[str], prefix: list[str]) -> subprocess.CompletedProcess:
    """`jobforge ...` as a user runs it, against the session's Prefect test server."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    env.pop("PREFECT_RESULTS_LOCAL_STORAGE_PATH", None)
    code = "import sys; from flows.cli import main; sys.exit(main())"
    return subprocess.run(
        [*prefix, sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _permissions_bind() -> list[str]:
    """A prefix that makes file permissions bind for root (who reads a mode-000 file)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root without setpriv: cannot make a file unreadable")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


def _gold_bytes(cfg: PipelineConfig, case: Case) -> dict[str, bytes]:
    tables = [f"fact_case_{case.name}", f"agg_case_{case.name}"]
    return {t: cfg.table_path(Layer.GOLD, t).read_bytes() for t in tables}


@dataclass
class CorpusRun:
    cfg: PipelineConfig
    source: Path
    before: dict[str, dict[str, bytes]]
    done: subprocess.CompletedProcess
    errors: dict[str, dict]
    logs: dict[tuple[str, str], dict]


@pytest.fixture(scope="module")
def corpus(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> CorpusRun:
    root = tmp_path_factory.mktemp("corpus")
    source, specs = root / "source", root / "specs"
    shutil.copytree(SAMPLES, source)
    specs.mkdir()
    for case in CASES:
        (source / f"case_{case.name}.csv").write_bytes(case.good())
        (specs / f"case_{case.name}.yaml").write_text(
            SPEC.format(name=case.name, reader=case.reader)
        )
    cfg = PipelineConfig(data_root=root / "data", source_dir=source)
    sources = [*GOOD_SOURCES, *(f"case_{c.name}" for c in CASES)]
    args = ["run", "--data-root", str(cfg.data_root), "--source-dir", str(source)]
    args += ["--specs", str(specs), *(a for s in sources for a in ("--source", s))]
    first = _cli(args, [])
    assert first.returncode == 0, first.stdout + first.stderr
    before = {case.name: _gold_bytes(cfg, case) for case in CASES}
    shutil.rmtree(cfg.catalog_lineage_path())  # keep only the second run's logs

    for case in CASES:
        path = source / f"case_{case.name}.csv"
        if case.bad == "directory":
            path.unlink()
            path.mkdir()
        elif case.bad == "missing":
            path.unlink()
        elif case.bad == "chmod":
            path.chmod(0)
        else:
            path.write_bytes(case.bad())
    done = _cli([*args, "--force"], _permissions_bind())
    errors = {}
    for report in (cfg.quarantine_path() / "files").glob("*/error.json"):
        body = json.loads(report.read_text())
        errors[body["source"]] = body
    logs = {}
    for path in cfg.catalog_lineage_path().glob("*.json"):
        body = json.loads(path.read_text())
        logs[(body["source_name"], body["target_layer"])] = body
    return CorpusRun(cfg, source, before, done, errors, logs)


def test_the_run_fails_cleanly_and_the_good_sources_succeed(corpus: CorpusRun):
    assert corpus.done.returncode == 1, corpus.done.stdout + corpus.done.stderr
    assert "Traceback" not in corpus.done.stderr
    assert _padded(nul=True).index(b"\x00") > 65536  # the NUL byte is past the first 64 KiB
    for name in GOOD_SOURCES:
        assert name not in corpus.errors
        assert corpus.logs[(name, "gold")]["status"] == "success"


def _accounted(corpus: CorpusRun, source: str) -> None:
    """Staged records = records in gold + records quarantined + records of a named rule."""
    cfg = corpus.cfg
    staged = pl.read_parquet(cfg.table_path(Layer.STAGED, source))
    batch = corpus.logs[(source, "staged")]["batch_id"]
    seen: set[int] = set()
    for table in corpus.logs[(source, "gold")]["rows_by_table"]:
        seen |= set(pl.read_parquet(cfg.table_path(Layer.GOLD, table))[SOURCE_ROW])
    for path in cfg.quarantine_path().glob(f"*/*/{batch}.parquet"):
        seen |= set(pl.read_parquet(path)[SOURCE_ROW])
    named = sum(
        n
        for layer in ("bronze", "silver", "gold")
        for rule, n in corpus.logs[(source, layer)]["rows_by_rule"].items()
        if rule.startswith("empty_cells")
    )
    assert seen <= set(staged[SOURCE_ROW])
    assert staged.height == len(seen) + named, (staged.height, len(seen), named)


def _check(corpus: CorpusRun, case: Case) -> None:
    source = f"case_{case.name}"
    file = f"case_{case.name}.csv"
    if case.outcome == "file":
        error = corpus.errors.get(source)
        assert error is not None, f"{source} was not quarantined at file level"
        assert file in error["message"]
        assert case.message.lower() in error["message"].lower(), error["message"]
        assert (error["row"], error["column"]) == (case.row, case.column), error
        assert f"FAILED {source}" in corpus.done.stderr
        assert _gold_bytes(corpus.cfg, case) == corpus.before[case.name]
        return
    if case.keeps_gold:  # a volume guard fails the source: its previous gold stays
        assert f"FAILED {source}" in corpus.done.stderr
        assert _gold_bytes(corpus.cfg, case) == corpus.before[case.name]
    else:
        assert source not in corpus.errors, corpus.errors.get(source)
        _accounted(corpus, source)
    if case.outcome == "success":
        assert corpus.logs[(source, "gold")]["status"] in ("success", "partial")
        staged = pl.read_parquet(corpus.cfg.table_path(Layer.STAGED, source))
        names = _records()
        assert staged.columns[: len(names[0])] == names[0]
        assert staged["Nom de la profession"].to_list() == [r[2] for r in names[1:]]
        return
    batch = corpus.logs[(source, "staged")]["batch_id"]
    bad = pl.concat(
        [pl.read_parquet(p) for p in corpus.cfg.quarantine_path().glob(f"*/*/{batch}.parquet")],
        how="diagonal_relaxed",
    ).filter(pl.col("_quarantine_reason") == case.reason)
    expected = case.rows or list(range(1, len(_records())))
    assert sorted(bad[SOURCE_ROW].unique()) == expected
    assert set(bad["_source_file"].cast(pl.String)) == {file}
    assert all(case.message in d for d in bad["_quarantine_detail"])


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            id=c.name,
            marks=[pytest.mark.xfail(strict=True, reason=c.pending)] if c.pending else [],
        )
        for c in CASES
    ],
)
def test_bad_input_ends_in_quarantine_naming_file_row_and_column(corpus: CorpusRun, case: Case):
    _check(corpus, case)

"""Records as an RFC 4180 reader sees them: ragged records, quoted headers, UTF-16, NUL bytes.

Issue 10 items 6, 7 and 12: a record with too few or too many fields is a row quarantine, not
silent padding; headers are unescaped; UTF-16 is decoded; a NUL byte anywhere is caught.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest
from helpers import layer, quarantined, run_plain, source_records

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import SourceFileError
from jobforge_core.sources.readers import detect_encoding

COPS = "employment_emploi_2024_2033_noc2021.csv"


def _cops_lines(source: Path) -> list[str]:
    return source.joinpath(COPS).read_text(encoding="utf-8").splitlines()


def _write(source: Path, lines: list[str]) -> None:
    source.joinpath(COPS).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_short_and_long_records_are_row_quarantined_with_record_and_counts(
    tmp_path: Path, source_copy: Path
):
    lines = _cops_lines(source_copy)
    header_fields = len(next(csv.reader([lines[0]])))
    short_code, long_code = lines[9].split(",")[0], lines[10].split(",")[0]
    lines[9] = ",".join(lines[9].split(",")[:-3])  # record 9: its last three years missing
    lines[10] = lines[10] + ",999,1000"  # record 10: two fields more than the header
    _write(source_copy, lines)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["noc_structure"])
    logs = {log.target_layer: log for log in run_plain(cfg, ["cops_employment"])["cops_employment"]}

    staged = layer(cfg, Layer.STAGED, "cops_employment")
    assert staged.height == len(lines) - 1  # staged keeps every record
    bad = quarantined(cfg, Layer.BRONZE, "cops_employment").sort("_source_row")
    assert bad["_source_row"].to_list() == [9, 10]
    assert bad["_quarantine_reason"].to_list() == ["ragged_record", "ragged_record"]
    short, long = bad["_quarantine_detail"].to_list()
    assert short.startswith(f"record 9 has {header_fields - 3} field(s), the header has 14")
    assert "no value for ['2031', '2032', '2033']" in short
    assert long.startswith(f"record 10 has {header_fields + 2} field(s), the header has 14")
    assert long.endswith(",999,1000")  # the values polars cut are kept in the detail
    assert logs[Layer.BRONZE].rows_by_rule == {"ragged_record": 2}
    facts = layer(cfg, Layer.GOLD, "fact_cops_employment")
    assert facts.filter(pl.col("noc_code").is_in([short_code, long_code])).is_empty()


def test_quoted_fields_spanning_lines_and_holding_separators_are_one_record(
    tmp_path: Path, source_copy: Path
):
    lines = _cops_lines(source_copy)
    fields = next(csv.reader([lines[9]]))
    fields[1] = 'Multi-line, "quoted"\nname'
    buffer = [lines[0], *lines[1:9]]
    text = "\n".join(buffer) + "\n"
    row = ",".join(f'"{f.replace(chr(34), chr(34) * 2)}"' for f in fields)
    text += row + "\n" + "\n".join(lines[10:]) + "\n"
    source_copy.joinpath(COPS).write_text(text, encoding="utf-8")
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    run_plain(cfg, ["noc_structure"])
    run_plain(cfg, ["cops_employment"])

    assert quarantined(cfg, Layer.BRONZE, "cops_employment").is_empty()
    staged = layer(cfg, Layer.STAGED, "cops_employment").sort("_source_row")
    records = source_records(source_copy / COPS)
    assert staged.height == len(records)
    assert staged.row(8, named=True)["Occupation Name"] == fields[1]
    assert staged["Code"].to_list() == [r["Code"] for r in records]


def test_unterminated_quote_quarantines_the_file_naming_record_and_column(
    tmp_path: Path, source_copy: Path
):
    lines = _cops_lines(source_copy)
    record = next(i for i in range(12, len(lines)) if '"' not in lines[i])
    parts = lines[record].split(",")
    parts[1] = '"' + parts[1]  # opens a quote in column 'Occupation Name' that never closes
    lines[record] = ",".join(parts)
    _write(source_copy, lines)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    with pytest.raises(SourceFileError) as err:
        run_plain(cfg, ["cops_employment"])
    assert (err.value.row, err.value.column) == (record, "Occupation Name")
    assert f"quoted field opened in record {record}, column 'Occupation Name'" in str(err.value)
    (report,) = cfg.quarantine_path().glob("files/*/error.json")
    payload = json.loads(report.read_text())
    assert (payload["row"], payload["column"]) == (record, "Occupation Name")


def test_quote_open_at_the_end_of_the_file_is_an_unterminated_quote(
    tmp_path: Path, source_copy: Path
):
    lines = _cops_lines(source_copy)
    close = lines[-1].rindex('"')  # the quote closing 'Nom de la profession' is lost
    lines[-1] = lines[-1][:close] + lines[-1][close + 1 :]
    _write(source_copy, lines)
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source_copy)
    with pytest.raises(SourceFileError, match="unterminated quote") as err:
        run_plain(cfg, ["cops_employment"])
    assert (err.value.row, err.value.column) == (len(lines) - 1, "Nom de la profession")


def test_quoted_header_is_unescaped_like_a_csv_reader(tmp_path: Path):
    source, specs = tmp_path / "source", tmp_path / "specs"
    source.mkdir()
    specs.mkdir()
    header = 'Code,"Change to ""title"" / ""NOC""","Multi\nline, header"'
    (source / "changes.csv").write_text(f'{header}\n00010,renamed,x\n"00011","kept, as is",y\n')
    (specs / "changes.yaml").write_text(
        """
name: changes
file: changes.csv
renames: {Code: code, 'Change to "title" / "NOC"': change, "Multi\\nline, header": other}
gold:
  - table: gold_changes
    columns: [code, change, other]
"""
    )
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    run_plain(cfg, ["changes"], [specs])
    expected = next(csv.reader(open(source / "changes.csv", newline="")))  # noqa: SIM115
    assert layer(cfg, Layer.STAGED, "changes").columns[:3] == expected
    assert expected[1] == 'Change to "title" / "NOC"'
    gold = layer(cfg, Layer.GOLD, "gold_changes").sort("_source_row")
    assert gold["change"].to_list() == ["renamed", "kept, as is"]


ROWS = "Code,Titre,Emploi\n00010,Législateurs,1200\n00011,Cadres supérieurs,15\n"
SPEC = """
name: wide
file: wide.csv
{reader}
renames: {{Code: code, Titre: titre, Emploi: emploi}}
types: {{emploi: int}}
gold:
  - table: gold_wide
    columns: [code, titre, emploi]
"""


@pytest.mark.parametrize(
    ("codec", "declared"),
    [
        ("utf-16", None),  # BOM (little-endian on this machine), encoding auto
        ("utf-16-be-bom", None),
        ("utf-32", None),
        ("utf-16", "utf-16"),
        ("utf-16-le", "utf-16-le"),  # no BOM: only a declaration says what it is
    ],
)
def test_utf16_and_utf32_are_decoded(tmp_path: Path, codec: str, declared: str | None):
    source, specs = tmp_path / "source", tmp_path / "specs"
    source.mkdir()
    specs.mkdir()
    if codec == "utf-16-be-bom":
        data = b"\xfe\xff" + ROWS.encode("utf-16-be")
    else:
        data = ROWS.encode(codec)
    (source / "wide.csv").write_bytes(data)
    reader = f"reader: {{encoding: {declared}}}" if declared else ""
    (specs / "wide.yaml").write_text(SPEC.format(reader=reader))
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    run_plain(cfg, ["wide"], [specs])
    gold = layer(cfg, Layer.GOLD, "gold_wide").sort("_source_row")
    assert gold["titre"].to_list() == ["Législateurs", "Cadres supérieurs"]
    assert gold["emploi"].to_list() == [1200, 15]


def test_utf16_without_bom_or_declaration_is_a_binary_file_quarantine(tmp_path: Path):
    path = tmp_path / "wide.csv"
    path.write_bytes(ROWS.encode("utf-16-le"))
    assert detect_encoding(path, "auto") != "utf-16"
    source, specs = tmp_path, tmp_path / "specs"
    specs.mkdir()
    (specs / "wide.yaml").write_text(SPEC.format(reader=""))
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    with pytest.raises(SourceFileError, match="binary content .*encoding: utf-16"):
        run_plain(cfg, ["wide"], [specs])


def test_nul_byte_after_64_kib_is_caught_with_record_and_column(tmp_path: Path):
    source, specs = tmp_path / "source", tmp_path / "specs"
    source.mkdir()
    specs.mkdir()
    filler = [f"{i:05d},Titre {i},{i}" for i in range(4000)]  # ~70 KiB
    filler[3500] = "03500,Tit\x00re,3500"
    (source / "wide.csv").write_text("Code,Titre,Emploi\n" + "\n".join(filler) + "\n")
    assert (source / "wide.csv").read_bytes().index(b"\x00") > 65536
    (specs / "wide.yaml").write_text(SPEC.format(reader=""))
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    with pytest.raises(SourceFileError) as err:
        run_plain(cfg, ["wide"], [specs])
    assert (err.value.row, err.value.column) == (3501, "Titre")
    assert "NUL" in str(err.value)
    assert not cfg.table_path(Layer.GOLD, "gold_wide").exists()


TRICKY = [
    "a,b,c\n1,2,3\n4,5\n6,7,8,9\n",
    'a,b,c\r\n1,"x,y",3\r\n"4","",\r\n7,8\r\n',
    'a,b,c\n1,"line one\nline two, still ""quoted""\nline three",3\n4,5,6,7\n8,9,10',
    'a,b,c\n"",",",""""\n\n1,2,3\n,\n',
    'a,"b\nb",c\n1,2,3\n"x\n",y\n',
]


@pytest.mark.parametrize("text", TRICKY)
def test_field_counts_agree_with_the_csv_module(tmp_path: Path, text: str):
    """check_records flags exactly the records whose field count the csv module finds wrong
    (a blank line is one empty field for polars, so it counts as 1)."""
    from jobforge_core.sources.records import check_records

    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8", newline="")
    header, *records = list(csv.reader(io.StringIO(text, newline="")))
    counts = {i: max(len(r), 1) for i, r in enumerate(records, start=1)}
    check = check_records(path, ",", '"', header)
    assert check.records == len(records)
    ragged = dict(zip(check.ragged["record"], check.ragged["fields"], strict=True))
    assert ragged == {i: n for i, n in counts.items() if n != len(header)}
    staged = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True)
    assert staged.height == len(records)  # the parser's rows are these records


LINE_ENDS = [b"h\na\n", b"h\na", b"h\na\n\n", b"h\n\na\n", b"h\r\na\r\n", b"h\r\na\r\n\r\n", b"h\n"]


@pytest.mark.parametrize("data", LINE_ENDS)
def test_line_count_of_the_nul_scan_agrees_with_the_line_scan(tmp_path: Path, data: bytes):
    """The record check takes its line count from the reader's NUL scan (one read of the file,
    no memory map): it must count exactly the lines polars' line scan reads."""
    from jobforge_core.sources.readers import scan_bytes
    from jobforge_core.sources.records import _lines, count_lines

    path = tmp_path / "t.csv"
    path.write_bytes(data)
    expected = _lines(path).collect().height
    assert scan_bytes(path) == (None, expected)
    assert count_lines(path) == expected
    path.write_bytes(data + b"x\x00y")
    assert scan_bytes(path) == (len(data) + 1, count_lines(path))

"""Every declared format reaches staged as text with its original headers and record numbers."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from helpers import layer, run_plain

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.sources.readers import detect_encoding

ROWS = [("00010", "Législateurs", "1,200"), ("0001", "Cadres supérieurs", "N/A")]
HEADER = ("Code", "Titre ", "Emploi")


def _spec(name: str, file: str, extra: str = "") -> str:
    return f"""
name: {name}
file: {file}
renames: {{Code: code, Titre: titre, Emploi: emploi}}
types: {{emploi: int}}
keys: [code]
{extra}
gold:
  - table: gold_{name}
    columns: [code, titre, emploi]
"""


def _write(fmt: str, path: Path) -> None:
    if fmt == "cp1252":
        text = ",".join(HEADER) + "\n" + "".join(f'{c},{t},"{e}"\n' for c, t, e in ROWS)
        path.write_bytes(text.encode("cp1252"))
    elif fmt == "xlsx":
        pl.DataFrame([list(r) for r in ROWS], schema=list(HEADER), orient="row").write_excel(path)
    elif fmt == "json":
        path.write_text(json.dumps([dict(zip(HEADER, r, strict=True)) for r in ROWS]))
    elif fmt == "ndjson":
        path.write_text("".join(json.dumps(dict(zip(HEADER, r, strict=True))) + "\n" for r in ROWS))
    elif fmt == "parquet":
        pl.DataFrame([list(r) for r in ROWS], schema=list(HEADER), orient="row").write_parquet(path)


@pytest.mark.parametrize(
    ("fmt", "file"),
    [
        ("cp1252", "legacy.csv"),
        ("xlsx", "book.xlsx"),
        ("json", "records.json"),
        ("ndjson", "records.ndjson"),
        ("parquet", "table.parquet"),
    ],
)
def test_format_reaches_gold_as_declared(tmp_path: Path, fmt: str, file: str) -> None:
    source, specs = tmp_path / "source", tmp_path / "specs"
    source.mkdir()
    specs.mkdir()
    _write(fmt, source / file)
    (specs / "probe.yaml").write_text(_spec("probe", file))
    cfg = PipelineConfig(data_root=tmp_path / "data", source_dir=source)
    run_plain(cfg, ["probe"], [specs])
    staged = layer(cfg, Layer.STAGED, "probe")
    assert staged.columns[:3] == list(HEADER)  # original headers, stray space kept
    assert staged["Code"].to_list() == ["00010", "0001"]  # leading zeros kept
    assert staged["_source_row"].to_list() == [1, 2]
    gold = layer(cfg, Layer.GOLD, "gold_probe").sort("_source_row")
    assert gold["titre"].to_list() == ["Législateurs", "Cadres supérieurs"]
    assert gold["emploi"].to_list() == [1200, None]


def test_encoding_detection(tmp_path: Path) -> None:
    utf8 = tmp_path / "u.csv"
    utf8.write_bytes("\ufeffa\nÉ\n".encode())
    legacy = tmp_path / "l.csv"
    legacy.write_bytes("a\nÉ\n".encode("cp1252"))
    assert detect_encoding(utf8, "auto") == "utf-8"
    assert detect_encoding(legacy, "auto") == "cp1252"
    assert detect_encoding(legacy, "latin-1") == "iso8859-1"

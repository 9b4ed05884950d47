"""Write the synthetic sources and their JobForge specs, chunk by chunk, deterministically.

`python -m bench.generate --dataset generic --rows 1000000 --out /tmp/jobforge-bench/gen`
writes <out>/source/<file> and <out>/specs/<source>.yaml. Memory stays at one chunk
(500k rows by default) whatever the size, so a 10M-row file costs no more RAM than a 1M one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.datasets import DATASETS, Dataset
from bench.specs import SOURCE_NAMES, small_spec, spec_yaml

BOM = b"\xef\xbb\xbf"
CHUNK_ROWS = 500_000


def write_source(dataset: Dataset, rows: int, path: Path, chunk_rows: int = CHUNK_ROWS) -> Path:
    """UTF-8 with a BOM, header written by hand, rows appended one chunk at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(BOM + (",".join(dataset.headers) + "\n").encode("utf-8"))
        for start in range(0, rows, chunk_rows):
            dataset.frame(start, min(rows, start + chunk_rows)).write_csv(fh, include_header=False)
    tmp.replace(path)
    return path


def generate(key: str, rows: int, source_dir: Path, spec_dir: Path) -> Path:
    """One dataset's file and spec; returns the file."""
    dataset = DATASETS[key]
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / f"{SOURCE_NAMES[key]}.yaml").write_text(spec_yaml(key), encoding="utf-8")
    return write_source(dataset, rows, source_dir / dataset.file)


def generate_small(
    count: int, rows: int, source_dir: Path, spec_dir: Path, prefix: str
) -> list[str]:
    """`count` tiny generic sources, each with its own spec and file, for the fixed overhead."""
    names = []
    for n in range(1, count + 1):
        name = f"{prefix}_{n:02d}" if count > 1 else prefix
        spec_dir.mkdir(parents=True, exist_ok=True)
        (spec_dir / f"{name}.yaml").write_text(small_spec(name), encoding="utf-8")
        write_source(DATASETS["generic"], rows, source_dir / f"{name}.csv")
        names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/jobforge-bench/gen"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    path = generate(args.dataset, args.rows, args.out / "source", args.out / "specs")
    size = path.stat().st_size / 1e6
    print(f"{path} {args.rows} rows {size:.1f} MB in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

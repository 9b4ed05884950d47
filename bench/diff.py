"""Time and peak memory of `jobforge diff` on two releases of a long gold table.

`python -m bench.diff --rows 10000000` writes two COPS-like long tables (code x year:
employment, with provenance), the second one with 0.1% of values revised, 0.01% of keys
removed and as many added, then diffs them by (noc_code, year) as `jobforge diff` does (the
release story of history/changes.py, year as the window; `--rows-only`: the row diff alone)
and prints wall time, peak RSS (VmHWM, reset before the diff) and the counts found, as JSON.
Generated files go to --work-dir (default /tmp/jobforge-bench/diff), never the repository.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jobforge_core  # noqa: F401 - first, so polars starts with JobForge's settings, as in the CLI
from bench.profile import _peak_rss_mib, _reset_peak


def write_release(path: Path, rows: int, release: int) -> None:
    import polars as pl

    from jobforge_core.common.provenance import constant

    years = 11
    batch = f"bench-diff-{release}"
    index = pl.int_range(0, rows + (rows // 10_000 if release == 2 else 0), dtype=pl.Int64)
    lf = pl.LazyFrame().select(index.alias("i"))
    if release == 2:  # 0.01% of keys gone (the first ones), as many new ones at the end
        lf = lf.filter(pl.col("i") >= rows // 10_000)
    revised = (pl.col("i") % 1000 == 7) if release == 2 else pl.lit(False)
    lf = lf.select(
        (pl.col("i") // years).cast(pl.String).str.pad_start(8, "0").alias("noc_code"),
        (2023 + pl.col("i") % years).cast(pl.Int64).alias("year"),
        (pl.col("i") * 37 % 100_000 + pl.when(revised).then(1).otherwise(0)).alias("employment"),
        pl.lit("projection").alias("source"),
        (pl.col("i") // years + 1).alias("_source_row"),
        constant(batch).alias("_batch_id"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    lf.sink_parquet(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/jobforge-bench/diff"))
    parser.add_argument("--rows-only", action="store_true", help="diff_files alone")
    args = parser.parse_args(argv)
    from jobforge_core.history.changes import release_changes
    from jobforge_core.history.diff import diff_files

    before = args.work_dir / f"release1-{args.rows}.parquet"
    after = args.work_dir / f"release2-{args.rows}.parquet"
    for path, release in ((before, 1), (after, 2)):
        if not path.is_file():
            write_release(path, args.rows, release)
    reset = _reset_peak()
    start = time.perf_counter()
    key = ["noc_code", "year"]
    if args.rows_only:
        diff, story = diff_files(before, after, key, sample=5), None
    else:
        story = release_changes(before, after, key, window="year", sample=5)
        diff = story.diff
    seconds = time.perf_counter() - start
    result = {
        "rows": args.rows,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "peak_reset": reset,
        "added": diff.added,
        "removed": diff.removed,
        "changed": diff.changed,
        "changes_by_column": diff.changes_by_column,
        "by_key": [
            {k: v for k, v in row.items() if not k.endswith("_values")}
            for row in (story.by_key if story else [])
        ],
        "file_mib": round((before.stat().st_size + after.stat().st_size) / 2**20, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

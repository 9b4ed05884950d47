"""Benchmark of JobForge against a plain-polars baseline (see bench/README.md).

Nothing here is imported by the pipeline or the tests: the benchmark measures, it never asserts.
"""

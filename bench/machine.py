"""What the figures were measured on: CPUs, memory, CPU model and package versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return float("nan")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    """HEAD of the measured tree, '+dirty' when files outside bench/ differ from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = [ln for ln in git("status", "--porcelain").splitlines() if "bench/" not in ln]
    return head + ("+dirty" if changed else "")


def describe() -> dict[str, str]:
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "ram": f"{_ram_gib():.1f} GiB",
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "polars": _version("polars"),
        "prefect": _version("prefect"),
        "duckdb": _version("duckdb"),
        "pyarrow": _version("pyarrow"),
    }

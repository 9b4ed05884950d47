"""One run per data root at a time, and what a killed run left behind is cleared by the next.

Every temporary file JobForge writes is named `.<target>.<12 hex>.tmp` (atomic.temp_path_for,
the staging snapshots, DuckDB's `<temp>.wal` beside a temp store). A run holds an exclusive
lock on `<data root>/.jobforge.lock` (flock: released by the kernel when the process dies, so a
kill -9 never leaves a stale lock), so any such file found by the run that takes the lock was
left by a run that no longer exists and is removed. Only the directories JobForge owns are
searched: the layers, quarantine, catalog, history and the data root itself (the store); the
source directory is never touched.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import JobForgeError

LOCK_FILE = ".jobforge.lock"
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.wal)?$")
_OWNED = [*(layer.value for layer in Layer), "quarantine", "catalog", "history"]


class RunInProgress(JobForgeError):
    """Another JobForge run holds the data root."""


@contextmanager
def exclusive_run(cfg: PipelineConfig) -> Iterator[list[Path]]:
    """Hold the data root for one run; yields the stale temp files removed on entry."""
    root = cfg.data_root
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RunInProgress(
                f"another JobForge run holds {root.resolve()} (process {holder}); "
                "wait for it to finish, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield remove_stale_temps(cfg)
    finally:
        os.close(fd)  # releases the lock


def stale_temps(cfg: PipelineConfig) -> list[Path]:
    """Temp files and snapshot folders under the directories JobForge owns."""
    root = cfg.data_root
    found = [p for p in root.glob(".*.tmp*") if TEMP_NAME.match(p.name)]
    for name in _OWNED:
        top = root / name
        if not top.is_dir():
            continue
        for folder, dirs, files in os.walk(top):
            here = Path(folder)
            for d in [d for d in dirs if TEMP_NAME.match(d)]:
                found.append(here / d)
                dirs.remove(d)  # a snapshot folder goes whole
            found += [here / f for f in files if TEMP_NAME.match(f)]
    source = cfg.resolved_source_dir().resolve()
    return sorted(p for p in found if not p.resolve().is_relative_to(source))


def remove_stale_temps(cfg: PipelineConfig) -> list[Path]:
    """Remove what `stale_temps` finds; call only while holding the run lock."""
    removed = stale_temps(cfg)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed

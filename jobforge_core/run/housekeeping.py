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
import threading
import time
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


# Holders that finish in seconds (a site or catalog rebuild, a restore): a run that finds one
# waits for it, up to this long, instead of failing. A run holding the root fails the other
# run at once: runs take minutes, and the second one is usually a mistake.
SHORT_HOLDERS = ("jobforge docs", "jobforge catalog", "jobforge restore", "jobforge retire")
SHORT_WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.1

# Roots this process holds: (fd, stale temps removed on entry, depth). `jobforge run` takes
# the lock before it starts Prefect's server; the flow, in the same process, enters again.
_held: dict[Path, tuple[int, list[Path], int]] = {}
_held_lock = threading.Lock()


def _holder(fd: int) -> str:
    return os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"


def _acquire(fd: int, root: Path, wait_short: float) -> None:
    deadline = time.monotonic() + wait_short
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _holder(fd)
            short = any(holder.endswith(f"({name})") for name in SHORT_HOLDERS)
            if not short or time.monotonic() >= deadline:
                pid, _, what = holder.partition(" ")
                what = what.strip("()") or "a JobForge command"
                raise RunInProgress(
                    f"another JobForge run holds {root.resolve()} (process {pid}, {what}); "
                    "wait for it to finish, then run again"
                ) from None
            time.sleep(_POLL_SECONDS)


@contextmanager
def exclusive_run(
    cfg: PipelineConfig, holder: str = "jobforge run", wait_short: float = SHORT_WAIT_SECONDS
) -> Iterator[list[Path]]:
    """Hold the data root for one command; yields the stale temp files removed on entry.

    Re-entrant within a process (the command holds it, its flow enters again). `holder` is
    written into the lock file so that a refused command can name what holds the root; a
    short-lived holder (SHORT_HOLDERS) is waited for, up to `wait_short` seconds."""
    root = cfg.data_root
    root.mkdir(parents=True, exist_ok=True)
    key = root.resolve()
    with _held_lock:
        if key in _held:
            fd, stale, depth = _held[key]
            _held[key] = (fd, stale, depth + 1)
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield stale
        finally:
            with _held_lock:
                fd, stale, depth = _held[key]
                _held[key] = (fd, stale, depth - 1)
        return
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, root, wait_short)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} ({holder})\n".encode(), 0)
        stale = remove_stale_temps(cfg)
        with _held_lock:
            _held[key] = (fd, stale, 1)
        try:
            yield stale
        finally:
            with _held_lock:
                _held.pop(key, None)
    finally:
        os.close(fd)  # releases the lock


def stale_temps(cfg: PipelineConfig) -> list[Path]:
    """Temp files and snapshot folders under the directories JobForge owns."""
    root = cfg.data_root
    source = cfg.resolved_source_dir().resolve()
    found = [p for p in root.glob(".*.tmp*") if TEMP_NAME.match(p.name)]
    found = [p for p in found if not p.resolve().is_relative_to(source)]  # maybe a user's file
    for name in _OWNED:
        top = root / name
        if not top.is_dir():
            continue
        # A source directory inside this owned folder holds the user's files, not ours; an
        # owned folder inside the source directory (source dir = data root) is still ours.
        spared = source if source.is_relative_to(top.resolve()) else None
        for folder, dirs, files in os.walk(top):
            here = Path(folder)
            for d in [d for d in dirs if TEMP_NAME.match(d)]:
                found.append(here / d)
                dirs.remove(d)  # a snapshot folder goes whole
            found += [here / f for f in files if TEMP_NAME.match(f)]
        if spared is not None:
            found = [p for p in found if not p.resolve().is_relative_to(spared)]
    return sorted(found)


def remove_stale_temps(cfg: PipelineConfig) -> list[Path]:
    """Remove what `stale_temps` finds; call only while holding the run lock."""
    removed = stale_temps(cfg)
    for path in removed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed

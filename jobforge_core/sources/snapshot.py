"""Source files as the run sees them: inspected and hashed at planning, staged from a snapshot.

A source file can be replaced while a run is under way. Staging reads a private copy taken at
planning, hashed while it is copied, so the batch id and `_source_file` SHA-256 describe exactly
the bytes that reach staged (DESIGN invariant 10). The copy lives in a temp-named directory
under the staged layer (same file system, removed when the source's chain ends, and removed as a
stale temp by the next run if this one is killed).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from jobforge_core.common.errors import StorageError, disk_full_message

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Inspection:
    """What planning learnt about a source file: its hash, or why it cannot be read."""

    sha256: str
    error: str | None = None


def describe_unusable(path: Path) -> str | None:
    """Why path is not a readable regular file, in words; None when it is one."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return f"dangling symbolic link (points to {os.readlink(path)}, which does not exist)"
        return "source file not found"
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a special file"
        return f"is {kind}, not a regular file"
    return None


def open_regular(path: Path) -> BinaryIO:
    """Open for reading without blocking, then check what was opened: a FIFO swapped in
    after the stat check used to hang the run in open() (4 of 8 tries)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a special file"
            raise OSError(errno.EINVAL, f"is {kind}, not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def inspect(path: Path) -> Inspection:
    """Hash a source file; an unusable one gives a sentinel hash and the reason, never a raise."""
    problem = describe_unusable(path)
    if problem is not None:
        return Inspection("missing" if "not found" in problem else "unreadable", problem)
    try:
        with open_regular(path) as fh:
            return Inspection(hashlib.file_digest(fh, "sha256").hexdigest())
    except OSError as exc:
        return Inspection("unreadable", f"cannot read the file: {exc.strerror or exc}")


class SourceUnreadable(OSError):
    """Reading the source file failed (not writing the copy): the source is quarantined."""


def take_snapshot(path: Path, workdir: Path, label: str) -> tuple[Path, str]:
    """Copy path into a fresh temp directory under workdir, hashing in the same pass.

    Returns (copy, sha256 of the copied bytes). A failed read raises SourceUnreadable; a failed
    write (a full disk) raises StorageError; the partial copy is removed either way.
    """
    folder = workdir / f".{label}.snapshot.{uuid.uuid4().hex[:12]}.tmp"
    target = folder / path.name
    digest = hashlib.sha256()
    try:
        try:
            src = open_regular(path)
        except OSError as exc:
            raise SourceUnreadable(exc.errno, exc.strerror, str(path)) from exc
        with src:
            folder.mkdir(parents=True)
            with target.open("wb") as dst:
                while True:
                    try:
                        chunk = src.read(_CHUNK)
                    except OSError as exc:
                        raise SourceUnreadable(exc.errno, exc.strerror, str(path)) from exc
                    if not chunk:
                        break
                    digest.update(chunk)
                    dst.write(chunk)
    except SourceUnreadable:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise StorageError(
            f"cannot write the snapshot of {path.name} under {workdir}: "
            f"{disk_full_message(exc, workdir) or exc}"
        ) from exc
    return target, digest.hexdigest()


def drop_snapshot(copy: Path | None) -> None:
    """Remove a snapshot's directory (it holds only the copy)."""
    if copy is not None:
        shutil.rmtree(copy.parent, ignore_errors=True)

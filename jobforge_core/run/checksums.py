"""Checksums of what JobForge wrote, so that damage at rest is noticed, not served.

A gold file's SHA-256 is recorded in its source's state when the source succeeds, with the
file's size, mtime and inode: a file whose stat still matches is taken as intact without
reading it again; one whose stat changed is hashed and compared. The snapshot manifest
records the same for what it publishes (run/publish.py). A plain run checks the published
files by stat at its start, and `jobforge verify` hashes everything.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def stat_of(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def fingerprint(path: Path) -> list:
    """[sha256, size, mtime_ns, inode] of a file just written."""
    return [sha256_file(path), *stat_of(path)]


def intact(path: Path, recorded: list) -> bool:
    """The file still has the recorded content: same stat, or same hash."""
    if not path.is_file():
        return False
    if stat_of(path)[:2] == list(recorded[1:3]):
        return True
    return sha256_file(path) == recorded[0]

"""Path fences: every file JobForge reads or writes must resolve inside a known root.

The roots (data root, source directory, operator-approved extra roots) are resolved once to
absolute real paths (symlinks followed), so a relative path can never be re-read against
another working directory, and a symlink or `../` in a spec or in a catalog entry cannot
lead outside. A path outside its fence is refused with an error that names it; nothing
is read first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from jobforge_core.common.errors import JobForgeError, SpecError


class OutsideFence(JobForgeError):
    """A path that resolves outside every root it is allowed in."""


class SourceOutsideFence(OutsideFence, SpecError):
    """A spec's `file:` names a file outside the source directory (a spec error: nothing runs)."""


def real(path: Path | str) -> Path:
    """Absolute path with every symlink resolved (the file need not exist)."""
    return Path(os.path.realpath(os.fspath(path)))


def is_inside(path: Path | str, roots: Iterable[Path | str]) -> bool:
    """True when the real path is one of the roots or lies under one of them."""
    target = real(path)
    return any(target.is_relative_to(real(root)) for root in roots)


def inside(path: Path | str, roots: Iterable[Path | str], what: str) -> Path:
    """The real path, or OutsideFence naming `what`, the path and the roots."""
    roots = [real(root) for root in roots]
    target = real(path)
    if not any(target.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise OutsideFence(f"{what} {path} resolves to {target}, outside {allowed}")
    return target


def under_root(root: Path, relative: str, what: str) -> Path:
    """A path recorded relative to the data root (catalog `file_path`), resolved from that root,
    never from the working directory, and refused if it leads outside the root."""
    if Path(relative).is_absolute():
        raise OutsideFence(f"{what} {relative!r} must be relative to the data root {root}")
    return inside(real(root) / relative, [root], what)


def fenced_source(
    spec_name: str,
    declared: str,
    path: Path,
    source_dir: Path,
    extra_roots: Iterable[Path] = (),
) -> Path:
    """A spec's file (`declared`, found at `path`: itself or a glob's match) must really be
    inside the source directory after symlinks, or inside a root the operator listed
    (JOBFORGE_ALLOWED_ROOTS); anything else is a spec error naming the spec and the file.

    Returns the absolute path under its own name (a symlink keeps its name, which is the
    `_source_file` of every row); the fence is checked on where it really points.
    """
    base = real(source_dir)
    named = Path(os.path.abspath(base / path))
    candidate = real(named)
    roots = [base, *(real(r) for r in extra_roots)]
    if not any(candidate.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise SourceOutsideFence(
            f"spec {spec_name!r}: file {declared!r} resolves to {candidate}, outside the source "
            f"directory ({allowed}); list its directory in JOBFORGE_ALLOWED_ROOTS to allow it"
        )
    return named

"""The one place where JobForge reads environment variables.

Everything else receives configuration explicitly, so tests and flows can pass their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jobforge_core.common.errors import JobForgeError

DEFAULT_QUERY_TIMEOUT_S = 120.0
DEFAULT_QUERY_MEMORY_LIMIT = "2GiB"


@dataclass(frozen=True)
class Settings:
    data_root: Path
    source_dir: Path | None
    spec_dirs: tuple[Path, ...]
    task_runner: str = "thread"  # thread | dask (JOBFORGE_TASK_RUNNER)
    dask_address: str | None = None  # an existing Dask scheduler (JOBFORGE_DASK_ADDRESS)
    # Directories outside the source directory that specs may name files in (operator opt-in).
    allowed_roots: tuple[Path, ...] = ()  # JOBFORGE_ALLOWED_ROOTS, os.pathsep-separated
    # `jobforge query` limits: JOBFORGE_QUERY_TIMEOUT (seconds, 0 = none) and
    # JOBFORGE_QUERY_MEMORY_LIMIT (a DuckDB size such as 512MB or 4GiB).
    query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S
    query_memory_limit: str = DEFAULT_QUERY_MEMORY_LIMIT


def load_settings() -> Settings:
    """Read JOBFORGE_* variables once; callers pass the result on."""
    env = os.environ
    extra = env.get("JOBFORGE_SPEC_DIRS", "")
    roots = env.get("JOBFORGE_ALLOWED_ROOTS", "")
    return Settings(
        data_root=Path(env.get("JOBFORGE_DATA_ROOT", "data")),
        source_dir=Path(env["JOBFORGE_SOURCE_DIR"]) if env.get("JOBFORGE_SOURCE_DIR") else None,
        spec_dirs=tuple(Path(p) for p in extra.split(os.pathsep) if p),
        task_runner=env.get("JOBFORGE_TASK_RUNNER", "thread"),
        dask_address=env.get("JOBFORGE_DASK_ADDRESS") or None,
        allowed_roots=tuple(Path(p) for p in roots.split(os.pathsep) if p),
        query_timeout_s=_seconds(
            env.get("JOBFORGE_QUERY_TIMEOUT"), "JOBFORGE_QUERY_TIMEOUT", DEFAULT_QUERY_TIMEOUT_S
        ),
        query_memory_limit=env.get("JOBFORGE_QUERY_MEMORY_LIMIT") or DEFAULT_QUERY_MEMORY_LIMIT,
    )


def _seconds(text: str | None, name: str, default: float) -> float:
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise JobForgeError(f"{name}={text!r}: expected a number of seconds (0 = no limit)")
    return value


DEFAULT_OPENLINEAGE_NAMESPACE = "jobforge"


@dataclass(frozen=True)
class OpenLineageSettings:
    """How JobForge publishes OpenLineage events (README, "OpenLineage").

    The transport itself is the client's business: `OPENLINEAGE_URL`,
    `OPENLINEAGE__TRANSPORT__*` or an `openlineage.yml`, read by `openlineage-python` the way
    its users know. JobForge only needs to know whether any of them is there: when none is,
    events go to a JSON lines file under the data root instead of the client's console.
    """

    disabled: bool = False  # OPENLINEAGE_DISABLED=true
    namespace: str = DEFAULT_OPENLINEAGE_NAMESPACE  # OPENLINEAGE_NAMESPACE
    transport_configured: bool = False


def load_openlineage_settings() -> OpenLineageSettings:
    env = os.environ
    return OpenLineageSettings(
        disabled=env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true",
        namespace=env.get("OPENLINEAGE_NAMESPACE", "").strip() or DEFAULT_OPENLINEAGE_NAMESPACE,
        transport_configured=_openlineage_configured(env),
    )


def _openlineage_configured(env: os._Environ[str] | dict[str, str]) -> bool:
    """The places openlineage-python looks for a transport, in its own order."""
    if env.get("OPENLINEAGE_URL") or any(k.startswith("OPENLINEAGE__TRANSPORT") for k in env):
        return True
    candidates = [
        env.get("OPENLINEAGE_CONFIG"),
        os.path.join(os.getcwd(), "openlineage.yml"),
        os.path.join(os.path.expanduser("~/.openlineage"), "openlineage.yml"),
    ]
    return any(c and os.path.isfile(c) for c in candidates)

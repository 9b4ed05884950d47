"""The one place where JobForge reads environment variables.

Everything else receives configuration explicitly, so tests and flows can pass their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    releases: dict[str, str] = field(default_factory=dict)  # pinned files (project file)
    project_file: Path | None = None


PROJECT_FILE = "jobforge.yaml"
PROJECT_VAR = "JOBFORGE_PROJECT"


class Project(BaseModel):
    """`jobforge.yaml`: the set of sources and where they live, declared once for every
    command and deployment (as `dbt_project.yml` is). Relative paths are relative to the
    file's own directory. Flags, then JOBFORGE_* variables, override it for one run."""

    model_config = ConfigDict(extra="forbid")

    data_root: Path | None = None
    source_dir: Path | None = None
    spec_dirs: list[Path] = Field(default_factory=list)
    runner: Literal["thread", "dask"] | None = None
    # source -> the file (a release) it stays on until changed; see docs/releases.md
    releases: dict[str, str] = Field(default_factory=dict)
    path: Path | None = Field(default=None, exclude=True)  # the file it was read from


def find_project(start: Path | None = None) -> Path | None:
    """$JOBFORGE_PROJECT, else `jobforge.yaml` in the working directory or its parents."""
    given = os.environ.get(PROJECT_VAR)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise JobForgeError(f"{PROJECT_VAR}={given}: no such project file")
        return path.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


def load_project(path: Path | None = None) -> Project | None:
    """The project file, validated; an error names the file and the field."""
    import yaml

    path = path or find_project()
    if path is None:
        return None
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        project = Project.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise JobForgeError(f"project file {path}: {detail}") from None
    base = path.parent

    def under(p: Path | None) -> Path | None:
        return None if p is None else (base / p.expanduser()).resolve()

    return project.model_copy(
        update={
            "data_root": under(project.data_root),
            "source_dir": under(project.source_dir),
            "spec_dirs": [under(p) for p in project.spec_dirs],
            "releases": {
                name: str(under(Path(f))) if Path(f).parent != Path(".") else f
                for name, f in project.releases.items()
            },
            "path": path,
        }
    )


def load_settings() -> Settings:
    """Read JOBFORGE_* variables and the project file once; callers pass the result on.
    A variable wins over the project file, which wins over the defaults."""
    env = os.environ
    project = load_project() or Project()
    extra = env.get("JOBFORGE_SPEC_DIRS", "")
    roots = env.get("JOBFORGE_ALLOWED_ROOTS", "")
    source_dir = env.get("JOBFORGE_SOURCE_DIR")
    return Settings(
        data_root=Path(env.get("JOBFORGE_DATA_ROOT") or project.data_root or "data"),
        source_dir=Path(source_dir) if source_dir else project.source_dir,
        spec_dirs=(
            *project.spec_dirs,
            *(Path(p) for p in extra.split(os.pathsep) if p),
        ),
        task_runner=env.get("JOBFORGE_TASK_RUNNER") or project.runner or "thread",
        dask_address=env.get("JOBFORGE_DASK_ADDRESS") or None,
        allowed_roots=tuple(Path(p) for p in roots.split(os.pathsep) if p),
        query_timeout_s=_seconds(
            env.get("JOBFORGE_QUERY_TIMEOUT"), "JOBFORGE_QUERY_TIMEOUT", DEFAULT_QUERY_TIMEOUT_S
        ),
        query_memory_limit=env.get("JOBFORGE_QUERY_MEMORY_LIMIT") or DEFAULT_QUERY_MEMORY_LIMIT,
        releases=dict(project.releases),
        project_file=project.path,
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
    """How JobForge publishes OpenLineage events (docs/openlineage.md).

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

"""The one place where JobForge reads environment variables.

Everything else receives configuration explicitly, so tests and flows can pass their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_root: Path
    source_dir: Path | None
    spec_dirs: tuple[Path, ...]
    task_runner: str = "thread"  # thread | dask (JOBFORGE_TASK_RUNNER)
    dask_address: str | None = None  # an existing Dask scheduler (JOBFORGE_DASK_ADDRESS)


def load_settings() -> Settings:
    """Read JOBFORGE_* variables once; callers pass the result on."""
    env = os.environ
    extra = env.get("JOBFORGE_SPEC_DIRS", "")
    return Settings(
        data_root=Path(env.get("JOBFORGE_DATA_ROOT", "data")),
        source_dir=Path(env["JOBFORGE_SOURCE_DIR"]) if env.get("JOBFORGE_SOURCE_DIR") else None,
        spec_dirs=tuple(Path(p) for p in extra.split(os.pathsep) if p),
        task_runner=env.get("JOBFORGE_TASK_RUNNER", "thread"),
        dask_address=env.get("JOBFORGE_DASK_ADDRESS") or None,
    )

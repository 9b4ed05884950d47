"""Prefect flows composing the layer tasks.

Imported lazily: `flows.cli` lives in this package, and `jobforge --help`, `query`, `catalog`
and `lineage` must not pay for importing Prefect (about 1.5 s). `from flows import
jobforge_flow` still works; it imports Prefect on first use.
"""

from __future__ import annotations

import os
from typing import Any

# Before Prefect configures logging: forward JobForge's structlog lines to run logs (the UI).
# Set here as well as in `tasks`, because `flows.pipeline` imports Prefect before `tasks`.
_extra = os.environ.get("PREFECT_LOGGING_EXTRA_LOGGERS", "")
if "jobforge" not in _extra.split(","):
    os.environ["PREFECT_LOGGING_EXTRA_LOGGERS"] = ",".join(p for p in (_extra, "jobforge") if p)

__all__ = ["catalog_flow", "jobforge_flow", "medallion_flow"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from flows import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'flows' has no attribute {name!r}")

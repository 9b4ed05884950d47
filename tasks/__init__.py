"""Prefect tasks: thin wrappers over jobforge_core transitions (retries, quarantine, artifacts)."""

import os

# Before Prefect configures logging: forward JobForge's structlog lines to run logs (the UI).
_extra = os.environ.get("PREFECT_LOGGING_EXTRA_LOGGERS", "")
if "jobforge" not in _extra.split(","):
    os.environ["PREFECT_LOGGING_EXTRA_LOGGERS"] = ",".join(p for p in (_extra, "jobforge") if p)

from tasks.layers import (  # noqa: E402
    promote_to_bronze,
    promote_to_gold,
    promote_to_silver,
    stage_source,
)

__all__ = ["promote_to_bronze", "promote_to_gold", "promote_to_silver", "stage_source"]

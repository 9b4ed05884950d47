"""Prefect flows composing the layer tasks."""

import tasks  # noqa: F401  (sets Prefect's extra-logger variable before Prefect configures)
from flows.pipeline import catalog_flow, jobforge_flow, medallion_flow

__all__ = ["catalog_flow", "jobforge_flow", "medallion_flow"]

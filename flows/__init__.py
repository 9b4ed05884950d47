"""Prefect flows composing the layer tasks."""

import tasks  # noqa: F401  (sets Prefect's extra-logger variable before Prefect configures)
from flows.pipeline import jobforge_flow, medallion_flow

__all__ = ["jobforge_flow", "medallion_flow"]

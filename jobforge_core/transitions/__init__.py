"""Layer transitions as plain functions: staged, bronze, silver, gold. Each reads the layer
below, writes its own table and quarantine atomically and returns its LayerTransitionLog.
Imports `common`, `sources` and `checks`; knows nothing of runs, the catalog or Prefect."""

from jobforge_core.transitions.bronze import promote_to_bronze
from jobforge_core.transitions.gold import promote_to_gold
from jobforge_core.transitions.silver import promote_to_silver
from jobforge_core.transitions.stage import stage_source

__all__ = ["promote_to_bronze", "promote_to_gold", "promote_to_silver", "stage_source"]

"""Layer transitions as plain functions: staged, bronze, silver, gold."""

from jobforge_core.transitions.bronze import promote_to_bronze
from jobforge_core.transitions.gold import promote_to_gold
from jobforge_core.transitions.silver import promote_to_silver
from jobforge_core.transitions.stage import stage_source

__all__ = ["promote_to_bronze", "promote_to_gold", "promote_to_silver", "stage_source"]

"""JobForge core: plain-Python medallion transitions, provenance, catalog. No orchestrator here."""

import os as _os

# Smaller streaming morsels than polars' default: the same speed, and a third less peak memory
# per transition at 10M rows (bench/RESULTS.md). Read by polars when it is imported, so it only
# takes effect if JobForge is imported first (the CLI, the flows and workers do); a value the
# user set wins.
_os.environ.setdefault("POLARS_IDEAL_MORSEL_SIZE", "20000")

__version__ = "2.0.0"

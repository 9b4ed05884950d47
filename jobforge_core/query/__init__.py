"""Read-only SQL over the DuckDB store, and the lineage and quarantine look-ups of the read
commands. Imports `catalog` and below."""

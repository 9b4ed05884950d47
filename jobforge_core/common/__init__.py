"""What every other package stands on: errors, settings and the run configuration, the
pydantic models of logs and provenance, atomic writes, the path fence, logging and the names
of tables per layer. Imports nothing else of JobForge."""

"""JobForge core: plain-Python medallion transitions, provenance, catalog. No orchestrator here."""

__version__ = "2.0.0"

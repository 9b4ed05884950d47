"""The data root knows its sources (DESIGN invariant 18).

Every source that reaches gold leaves its resolved spec under `catalog/sources/<name>.json`.
A later run, or a read command, that was not given that spec (a run without `--specs`, a
deployment without `spec_dirs`) still knows which spec built each table: the table stays
published, queryable and documented, and the run says so in one line. Only `jobforge retire`
removes a source from the data root.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from jobforge_core.common.atomic import write_json
from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.logs import get_logger
from jobforge_core.common.models import utc_now
from jobforge_core.sources.spec import SourceSpec


def registry_path(cfg: PipelineConfig) -> Path:
    return cfg.catalog_path() / "sources"


def record_spec(cfg: PipelineConfig, spec: SourceSpec) -> None:
    """The spec that built the source's tables, as resolved (kinds merged, params applied)."""
    write_json(
        registry_path(cfg) / f"{spec.name}.json",
        {"recorded_at": utc_now().isoformat(), "spec": spec.model_dump(mode="json")},
    )


def forget_spec(cfg: PipelineConfig, source: str) -> None:
    (registry_path(cfg) / f"{source}.json").unlink(missing_ok=True)


def recorded_specs(cfg: PipelineConfig) -> dict[str, SourceSpec]:
    """Every recorded spec; a damaged record is named in the log and set aside (it affects
    only its own source, which its next run records again)."""
    found: dict[str, SourceSpec] = {}
    folder = registry_path(cfg)
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            spec = SourceSpec.model_validate(json.loads(path.read_text(encoding="utf-8"))["spec"])
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            get_logger().warning(
                "source_record_damaged", file=str(path), error=str(exc).splitlines()[0]
            )
            continue
        found[spec.name] = spec
    return found


def known_specs(
    cfg: PipelineConfig, declared: dict[str, SourceSpec]
) -> tuple[dict[str, SourceSpec], list[str]]:
    """The declared specs, plus the recorded spec of every source the data root holds that
    this run does not declare (returned by name too, to say so). A declared spec wins."""
    recorded = recorded_specs(cfg)
    kept = sorted(set(recorded) - set(declared))
    return {**declared, **{name: recorded[name] for name in kept}}, kept


def kept_lines(specs: dict[str, SourceSpec], kept: list[str]) -> list[str]:
    """One line per table of a source not declared in this run."""
    return [
        f"{out.table}: built by spec {name!r}, not declared in this run: kept as it is"
        for name in kept
        for out in specs[name].gold
    ]

"""Validate OpenLineage events offline against the published JSON Schemas.

The schemas are in ../shared/specs/openlineage/ (OpenLineage.json and facets/); JobForge's
custom facet schema ships in jobforge_core/openlineage/schemas/. Every `$id` goes into a
`referencing` registry, so `$ref`s and `_schemaURL`s resolve to these files, never the network.

`validate_event` checks the event against the RunEvent schema, then every facet of the run,
the job and each dataset against the schema its `_schemaURL` names, under the facet's key
(a standard facet under a non-standard key fails). A `_schemaURL` with no local schema fails.
"""

from __future__ import annotations

import json
import os
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPECS = REPO.parent / "shared" / "specs" / "openlineage"
CUSTOM = REPO / "jobforge_core" / "openlineage" / "schemas"
EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def _require_specs() -> None:
    if not (SPECS / "OpenLineage.json").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"OpenLineage JSON Schemas missing at {SPECS} (required in CI)")
        pytest.skip(f"OpenLineage JSON Schemas not available at {SPECS}")


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    files = [SPECS / "OpenLineage.json", *sorted((SPECS / "facets").glob("*.json"))]
    files += sorted(CUSTOM.glob("*.json"))
    found = {}
    for path in files:
        schema = json.loads(path.read_text(encoding="utf-8"))
        found[schema["$id"]] = schema
    return found


@cache
def registry() -> Registry:
    return Registry().with_resources(
        (sid, Resource.from_contents(s, default_specification=DRAFT202012))
        for sid, s in _schemas().items()
    )


def _errors(schema: dict[str, Any], instance: Any) -> list[str]:
    validator = Draft202012Validator(
        schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def _facet_errors(where: str, facets: dict[str, Any] | None) -> list[str]:
    problems = []
    for key, facet in (facets or {}).items():
        url = facet.get("_schemaURL", "")
        file_id = url.split("#", 1)[0]
        if file_id not in _schemas():
            problems.append(f"{where}.{key}: no local schema for _schemaURL {url!r}")
            continue
        # The file's root schema names the facet's key: {"properties": {key: {"$ref": ...}}}.
        root = {"$ref": file_id, "required": [key]}
        problems += [f"{where}.{key}: {e}" for e in _errors(root, {key: facet})]
    return problems


def event_problems(event: dict[str, Any]) -> list[str]:
    """Everything wrong with one event, as lines; [] when it validates."""
    problems = _errors({"$ref": f"{EVENT_SCHEMA}#/$defs/RunEvent"}, event)
    for label, value in (("runId", event["run"]["runId"]),):
        try:
            uuid.UUID(value)
        except ValueError:
            problems.append(f"{label} {value!r} is not a UUID")
    problems += _facet_errors("run", event["run"].get("facets"))
    problems += _facet_errors("job", event["job"].get("facets"))
    for kind in ("inputs", "outputs"):
        for i, ds in enumerate(event.get(kind) or []):
            problems += _facet_errors(f"{kind}[{i}]", ds.get("facets"))
            extra = "inputFacets" if kind == "inputs" else "outputFacets"
            problems += _facet_errors(f"{kind}[{i}].{extra}", ds.get(extra))
    return problems


def validate_events(events: list[dict[str, Any]]) -> None:
    _require_specs()
    assert events, "no OpenLineage event to validate"
    problems = [
        f"{e['job']['name']} {e['eventType']}: {p}" for e in events for p in event_problems(e)
    ]
    assert not problems, "\n".join(problems[:40])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

"""Flow run names: what ran and when, so runs tell apart in the UI's list (issue 12 item 12).

One function for both places a name is given: the flow's `flow_run_name` (every run) and
the deployment pull step (`flows.deploy_steps`), which names a worker's run before anything
can fail, so that a run that crashes early does not keep Prefect's random name.

A run created with a JobForge name (`prefect deployment run ... --flow-run-name
"jobforge-..."`, see docs/prefect-runs.md) keeps it: the name it was created with is the name
it ends with. Prefect 3.9's server gives any other run a random name at creation (a deployment
has no name template); the pull step replaces it as soon as a worker takes the run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def run_name(flow_name: str, parameters: dict[str, Any], when: datetime) -> str:
    """`jobforge-all-sources-2026-11-29T03:00:00Z`, `jobforge-noc_structure-...`,
    `jobforge-catalog-...`; `-forced` when unchanged sources were reprocessed on purpose."""
    if flow_name == "catalog":
        what = "catalog"
    else:
        sources = parameters.get("sources") or parameters.get("source")
        if not sources:
            what = "all-sources"
        else:
            names = [sources] if isinstance(sources, str) else list(sources)
            what = "+".join(names[:3]) + (f"+{len(names) - 3}-more" if len(names) > 3 else "")
        if parameters.get("force"):
            what += "-forced"
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"jobforge-{what}-{stamp}"


def is_jobforge_name(name: str | None) -> bool:
    """A name JobForge gave, or that the run's creator gave in JobForge's shape: kept."""
    return bool(name) and str(name).startswith("jobforge-") and len(str(name)) > len("jobforge-")

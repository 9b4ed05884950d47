"""Is the catalog current? A stamp of what the last complete rebuild was built from.

The rebuild removes the stamp first and writes it last, so a rebuild that failed or was killed
leaves no stamp, and the next run rebuilds the catalog even when every source is unchanged.
The stamp lists each source's batch (its state) and a hash of the specs (descriptions and
governance fields shape the catalog but not the batch id).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from jobforge_core.common.atomic import write_json
from jobforge_core.common.config import PipelineConfig
from jobforge_core.run.publish import CURRENT, PUBLISHED
from jobforge_core.run.state import read_state
from jobforge_core.sources.spec import SourceSpec


def stamp_path(cfg: PipelineConfig):
    return cfg.catalog_path() / "catalog_state.json"


def catalog_inputs(cfg: PipelineConfig, specs: dict[str, SourceSpec]) -> dict[str, Any]:
    """What the catalog is derived from: each source's last batch and the specs' text."""
    batches = {}
    for name in sorted(specs):
        state = read_state(cfg, name)
        batches[name] = state.batch_id if state else None
    body = json.dumps(
        {n: specs[n].model_dump(mode="json", exclude={"spec_path"}) for n in sorted(specs)},
        sort_keys=True,
        default=str,
    )
    pointer = cfg.data_root / PUBLISHED / CURRENT
    snapshot = pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None
    return {
        "sources": batches,
        "specs_sha256": hashlib.sha256(body.encode()).hexdigest(),
        "snapshot": snapshot,  # the published gold the catalog describes
    }


def invalidate(cfg: PipelineConfig) -> None:
    stamp_path(cfg).unlink(missing_ok=True)


def write_stamp(cfg: PipelineConfig, inputs: dict[str, Any]) -> None:
    write_json(stamp_path(cfg), inputs)


def catalog_is_current(cfg: PipelineConfig, specs: dict[str, SourceSpec]) -> bool:
    """The store exists and the last complete rebuild saw the sources' current batches."""
    path = stamp_path(cfg)
    if not cfg.store_path().is_file() or not path.is_file():
        return False
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return stamp == catalog_inputs(cfg, specs) and _readable(cfg)


def _readable(cfg: PipelineConfig) -> bool:
    """The store opens and the model schema parses: a truncated `jobforge.duckdb` or
    `model.json` made every read fail while each plain run called the catalog current."""
    import duckdb

    try:
        json.loads((cfg.catalog_schemas_path() / "model.json").read_text(encoding="utf-8"))
        with duckdb.connect(str(cfg.store_path()), read_only=True) as con:
            con.execute("SELECT count(*) FROM catalog.tables").fetchone()
    except (OSError, ValueError, duckdb.Error):
        return False
    return True

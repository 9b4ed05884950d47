"""OpenLineage names for JobForge's jobs, runs and datasets (docs/openlineage.md).

The names follow OpenLineage's naming conventions so that a lineage server joins JobForge's
datasets with those of other tools reading the same files:

- a file is namespace `file`, name its absolute path (the source file as the spec names it,
  never the private snapshot staging reads);
- a layer table is the parquet file `<data root>/<layer>/<table>.parquet`;
- a row quarantine table is the directory `<data root>/quarantine/<layer>/<table>` (one
  parquet per batch inside), the file quarantine the directory `<data root>/quarantine/files`;
- each layer table also carries a symlink `<namespace>:<layer>.<table>` (type TABLE), its
  logical name, which survives a move of the data root.

Jobs are `<namespace>:<source>.<layer>`; a run is one transition, its id the transition id.
Nothing here imports the OpenLineage client: names are plain strings.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from jobforge_core.common.config import Layer, PipelineConfig

FILE_NAMESPACE = "file"
# Run ids must be UUIDs; a transition id that is not one (a hand-written log) gets a stable
# UUID derived from it in this namespace, so a replay names the same run every time.
TRANSITION_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "jobforge:transition")


def job_name(source: str, layer: Layer | str) -> str:
    return f"{source}.{Layer(layer).value}"


def run_id(transition_id: str) -> str:
    """The transition id as a UUID: itself when it is one (JobForge writes uuid4 hex)."""
    try:
        return str(uuid.UUID(transition_id))
    except ValueError:
        return str(uuid.uuid5(TRANSITION_UUID_NAMESPACE, transition_id))


def file_dataset(path: Path | str) -> tuple[str, str]:
    return FILE_NAMESPACE, str(Path(path).absolute())


def table_dataset(cfg: PipelineConfig, layer: Layer, table: str) -> tuple[str, str]:
    return file_dataset(cfg.table_path(layer, table))


def quarantine_dataset(cfg: PipelineConfig, layer: Layer | str, table: str) -> tuple[str, str]:
    return file_dataset(cfg.quarantine_path() / Layer(layer).value / table)


def file_quarantine_dataset(cfg: PipelineConfig) -> tuple[str, str]:
    return file_dataset(cfg.quarantine_path() / "files")


def logical_name(layer: Layer, table: str) -> str:
    """The symlink name of a layer table: `gold.dim_noc`, `silver.noc_structure`."""
    return f"{layer.value}.{table}"

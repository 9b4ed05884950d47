"""Where each layer lives under the data root."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from jobforge_core.common.fence import OutsideFence


class Layer(StrEnum):
    STAGED = "staged"
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


class PipelineConfig(BaseModel):
    """Paths of one JobForge installation; built from settings or passed in by tests."""

    model_config = ConfigDict(frozen=True)

    data_root: Path = Path("data")
    source_dir: Path | None = None
    # Extra directories spec files may live in, outside the source directory (operator opt-in).
    allowed_roots: tuple[Path, ...] = ()

    @field_validator("data_root", "source_dir")
    @classmethod
    def _real(cls, value: Path | None) -> Path | None:
        """Resolved once, here: every path below is absolute and never follows the working
        directory or a symlink changed later (see jobforge_core.common.fence)."""
        return None if value is None else Path(os.path.realpath(value))

    @field_validator("allowed_roots")
    @classmethod
    def _real_roots(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        return tuple(Path(os.path.realpath(v)) for v in value)

    @classmethod
    def from_settings(cls, **overrides: object) -> PipelineConfig:
        from jobforge_core.common.settings import load_settings

        s = load_settings()
        values: dict[str, object] = {
            "data_root": s.data_root,
            "source_dir": s.source_dir,
            "allowed_roots": s.allowed_roots,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def resolved_source_dir(self) -> Path:
        return self.source_dir if self.source_dir is not None else self.data_root / "source"

    def staged_path(self) -> Path:
        return self.data_root / Layer.STAGED.value

    def bronze_path(self) -> Path:
        return self.data_root / Layer.BRONZE.value

    def silver_path(self) -> Path:
        return self.data_root / Layer.SILVER.value

    def gold_path(self) -> Path:
        return self.data_root / Layer.GOLD.value

    def quarantine_path(self) -> Path:
        return self.data_root / "quarantine"

    def catalog_path(self) -> Path:
        return self.data_root / "catalog"

    def catalog_tables_path(self) -> Path:
        return self.catalog_path() / "tables"

    def catalog_lineage_path(self) -> Path:
        return self.catalog_path() / "lineage"

    def catalog_glossary_path(self) -> Path:
        return self.catalog_path() / "glossary"

    def catalog_schemas_path(self) -> Path:
        return self.catalog_path() / "schemas"

    def state_path(self) -> Path:
        """Per-source record of the last successful batch, for the unchanged-source skip."""
        return self.catalog_path() / "state"

    def store_path(self) -> Path:
        return self.data_root / "jobforge.duckdb"

    def layer_path(self, layer: Layer | str) -> Path:
        return self.data_root / Layer(layer).value

    def table_path(self, layer: Layer | str, table: str) -> Path:
        return self.layer_path(layer) / f"{_part(table)}.parquet"

    def row_quarantine_file(self, layer: Layer | str, table: str, batch_id: str) -> Path:
        return (
            self.quarantine_path()
            / Layer(layer).value
            / _part(table)
            / f"{_part(batch_id)}.parquet"
        )

    def file_quarantine_dir(self, batch_id: str) -> Path:
        return self.quarantine_path() / "files" / _part(batch_id)


def _part(name: str) -> str:
    """A name that becomes one path component under the data root: never a separator or `..`,
    so a table or batch name cannot place a file outside its directory."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
        raise OutsideFence(f"not a valid file name under the data root: {name!r}")
    return name

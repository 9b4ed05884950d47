"""Where each layer lives under the data root."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict


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

    @classmethod
    def from_settings(cls, **overrides: object) -> PipelineConfig:
        from jobforge_core.settings import load_settings

        s = load_settings()
        values: dict[str, object] = {"data_root": s.data_root, "source_dir": s.source_dir}
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
        return self.layer_path(layer) / f"{table}.parquet"

    def row_quarantine_file(self, layer: Layer | str, table: str, batch_id: str) -> Path:
        return self.quarantine_path() / Layer(layer).value / table / f"{batch_id}.parquet"

    def file_quarantine_dir(self, batch_id: str) -> Path:
        return self.quarantine_path() / "files" / batch_id

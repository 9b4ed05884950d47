"""Rebuild the whole catalog after a run: table JSONs, glossary, model schema, DuckDB store."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from jobforge_core.catalog.glossary_use import term_uses
from jobforge_core.catalog.history_index import batch_versions
from jobforge_core.catalog.quarantine_index import quarantine_counts
from jobforge_core.catalog.stamp import catalog_inputs, invalidate
from jobforge_core.catalog.store import CatalogRows, build_store
from jobforge_core.catalog.tables import loaded_file, table_metadata
from jobforge_core.common.atomic import write_json
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.models import TableMetadata
from jobforge_core.common.table_names import catalog_name, metadata_path
from jobforge_core.history.transition_logs import read_logs
from jobforge_core.run.publish import published_files
from jobforge_core.sources.glossary import (
    GUIDE_SOURCE,
    column_terms,
    descriptor_codes,
    descriptor_terms,
)
from jobforge_core.sources.model_schema import Relationship, relationships, write_model_schema
from jobforge_core.sources.spec import GoldOutput, SourceSpec


@dataclass
class CatalogReport:
    tables: list[TableMetadata] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # table name -> metadata JSON path
    glossary_file: str = ""
    schema_file: str = ""
    store_file: str = ""
    site_file: str = ""  # the catalog site's index.html, once built from this catalog
    inputs: dict[str, object] = field(default_factory=dict)  # what the stamp will record


def lineage_edges(
    specs: dict[str, SourceSpec], files: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """upstream -> downstream between catalog names (source files as `file:<name>`)."""
    edges = []
    for spec in specs.values():
        name = (files or {}).get(spec.name, spec.file)
        chain = [f"file:{name}"] + [catalog_name(lyr, spec.name) for lyr in Layer][:3]
        edges += list(zip(chain, chain[1:], strict=False))
        for out in spec.gold:
            edges.append((catalog_name(Layer.SILVER, spec.name), out.table))
            edges += [(table, out.table) for table in sorted(out.read_tables())]
    return list(dict.fromkeys(edges))


def _layer_tables(spec: SourceSpec) -> list[tuple[Layer, str, GoldOutput | None]]:
    tables: list[tuple[Layer, str, GoldOutput | None]] = [
        (lyr, spec.name, None) for lyr in (Layer.STAGED, Layer.BRONZE, Layer.SILVER)
    ]
    return tables + [(Layer.GOLD, out.table, out) for out in spec.gold]


def rebuild_catalog(cfg: PipelineConfig, specs: dict[str, SourceSpec]) -> CatalogReport:
    """Everything, from what is on disk. The stamp is removed first; the caller writes it
    (`report.inputs`) once what it builds from the catalog (the site) is built too."""
    inputs = catalog_inputs(cfg, specs)
    invalidate(cfg)
    report = CatalogReport()
    guide = cfg.table_path(Layer.SILVER, GUIDE_SOURCE)
    terms = column_terms(specs) + descriptor_terms(guide)
    ids = {t.term_id for t in terms}
    up: dict[str, list[str]] = defaultdict(list)
    down: dict[str, list[str]] = defaultdict(list)
    for a, b in lineage_edges(specs, {n: loaded_file(cfg, s) for n, s in specs.items()}):
        down[a].append(b)
        up[b].append(a)
    published = published_files(cfg)  # gold as readers see it; None: never published
    for spec in specs.values():
        for layer, table, out in _layer_tables(spec):
            name = catalog_name(layer, table)
            path = cfg.table_path(layer, table)
            if layer is Layer.GOLD and published is not None:
                path = published.get(table)
                if path is None:
                    continue  # built but never published (held back): not for readers
            meta = table_metadata(
                cfg,
                spec,
                layer,
                table,
                path=path,
                out=out,
                glossary=ids,
                upstream=up[name],
                downstream=down[name],
            )
            if meta is None:
                continue
            path = metadata_path(cfg, name)
            write_json(path, meta.model_dump(mode="json"))
            report.tables.append(meta)
            report.files[name] = str(path)
    # A table no known spec builds, or not published, has no metadata: every reader agrees.
    written = {Path(p).name for p in report.files.values()}
    for stale in cfg.catalog_tables_path().glob("*.json"):
        if stale.name not in written:
            stale.unlink(missing_ok=True)
    # where each term is used, gold columns and rows first, once the tables are known
    terms = term_uses(terms, report.tables, cfg.data_root, descriptor_codes(guide))
    glossary_path = cfg.catalog_glossary_path() / "glossary.json"
    write_json(glossary_path, [t.model_dump() for t in terms])
    report.glossary_file = str(glossary_path)
    report.schema_file = write_model_schema(cfg, specs)
    catalog = CatalogRows(
        tables=report.tables,
        logs=sorted(read_logs(cfg), key=lambda log: log.started_at),
        quarantine=quarantine_counts(cfg),
        glossary=terms,
        relationships=[Relationship(**r) for r in relationships(specs)],
        history=[
            version
            for spec in specs.values()
            for layer, table, _ in _layer_tables(spec)
            for version in batch_versions(cfg, layer, table)
        ],
    )
    report.store_file = str(build_store(cfg, catalog))
    report.inputs = inputs
    return report


def catalog_markdown(report: CatalogReport, data_root: Path) -> str:
    lines = [
        "# JobForge catalog",
        "",
        "| table | layer | rows | columns | metadata |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for meta in sorted(report.tables, key=lambda m: (m.layer != Layer.GOLD, m.table_name)):
        link = report.files[meta.table_name]
        lines.append(
            f"| {meta.table_name} | {meta.layer.value} | {meta.row_count} | "
            f"{meta.column_count} | [{Path(link).name}](file://{Path(link).resolve()}) |"
        )
    lines += [
        "",
        f"Store: `{report.store_file}`",
        *(
            [f"Site: [{report.site_file}]({Path(report.site_file).resolve().as_uri()})"]
            if report.site_file
            else []
        ),
        f"Glossary: `{report.glossary_file}`",
        f"Model schema: `{report.schema_file}`",
        f"Data root: `{data_root}`",
    ]
    return "\n".join(lines) + "\n"

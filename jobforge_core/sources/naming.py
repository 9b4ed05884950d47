"""Column naming: original headers to snake_case, with declared renames winning."""

from __future__ import annotations

import difflib
import re
import unicodedata

from jobforge_core.common.errors import SourceFileError
from jobforge_core.common.provenance import ITEM_COLUMNS
from jobforge_core.sources.spec import SourceSpec


def snake_case(header: str) -> str:
    """'Conditions récentes ' -> 'conditions_recentes'; accents folded, punctuation to '_'."""
    ascii_text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    snake = re.sub(r"[^0-9a-zA-Z]+", "_", ascii_text.strip()).strip("_").lower()
    return snake or "column"


NESTED = "__"  # joins a flattened JSON object's key to its parent's: `provenance__source_url`


def json_name(header: str) -> str:
    """A flattened JSON header's parts normalised one by one and joined by `__`, so the
    nesting stays readable (`Provenance EN__Source URL` -> `provenance_en__source_url`);
    the child-table columns (`_item_index`...) keep their names."""
    if header in ITEM_COLUMNS:
        return header
    return NESTED.join(snake_case(part) for part in header.split(NESTED))


def column_mapping(spec: SourceSpec, headers: list[str], file: str) -> dict[str, str]:
    """Original header -> bronze name. Renames are keyed on the trimmed header."""
    name = json_name if spec.file_format() in ("json", "ndjson") else snake_case
    mapping = {h: spec.renames.get(h.strip(), name(h)) for h in headers}
    seen: dict[str, str] = {}
    for header, name in mapping.items():
        if name in seen:
            raise SourceFileError(
                f"headers {seen[name]!r} and {header!r} both become column {name!r}; "
                "declare a rename for one of them",
                file=file,
                column=header,
            )
        seen[name] = header
    return mapping


def labels(spec: SourceSpec, headers: list[str], file: str) -> dict[str, str]:
    """Bronze name -> trimmed original header, for gold outputs that show source labels."""
    return {name: header.strip() for header, name in column_mapping(spec, headers, file).items()}


def missing_required(spec: SourceSpec, headers: list[str]) -> list[str]:
    present = {h.strip() for h in headers}
    return [c for c in spec.required() if c.strip() not in present]


def declared_columns(spec: SourceSpec) -> list[tuple[str, str]]:
    """(spec field, column) for every bronze/silver column the spec names by its bronze name."""
    return [
        *(("types", c) for c in spec.types),
        *(("keys", c) for c in spec.key_columns),
        *(("normalise", c) for c in spec.normalise),
        *(("recode", c) for c in spec.recode),
        *((f"expectations[{e.id}]", e.column) for e in spec.expectations),
    ]


def check_declared_columns(spec: SourceSpec, names: list[str], file: str) -> None:
    """A spec naming a column the file does not give (`keys: [cod]`, a type for `rat`) stops
    at staging with the field, the name and the columns there are; left alone, a typo in
    `types` silently kept a column text and one in `keys` failed later in a polars plan dump."""
    present = set(names)
    unknown = [(field, c) for field, c in declared_columns(spec) if c not in present]
    if not unknown:
        return
    field, column = unknown[0]
    close = difflib.get_close_matches(column, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    named = ", ".join(f"{f}: {c!r}" for f, c in unknown)
    raise SourceFileError(
        f"the spec ({spec.spec_path or spec.name}) names column(s) the file does not have "
        f"({named}){hint} The file's columns, after renames, are {names}",
        file=file,
        column=column,
        rule="unknown_column",
    )

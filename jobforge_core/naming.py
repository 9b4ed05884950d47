"""Column naming: original headers to snake_case, with declared renames winning."""

from __future__ import annotations

import re
import unicodedata

from jobforge_core.errors import SourceFileError
from jobforge_core.spec import SourceSpec


def snake_case(header: str) -> str:
    """'Conditions récentes ' -> 'conditions_recentes'; accents folded, punctuation to '_'."""
    ascii_text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    snake = re.sub(r"[^0-9a-zA-Z]+", "_", ascii_text.strip()).strip("_").lower()
    return snake or "column"


def column_mapping(spec: SourceSpec, headers: list[str], file: str) -> dict[str, str]:
    """Original header -> bronze name. Renames are keyed on the trimmed header."""
    mapping = {h: spec.renames.get(h.strip(), snake_case(h)) for h in headers}
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

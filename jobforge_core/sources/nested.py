"""JSON and NDJSON records to all-text rows: envelopes, nested objects, lists as child tables.

A JSON value is staged as its text, as in every other format: numbers keep the digits the file
holds (`1.10` stays `1.10`, a 17-digit id stays exact), text stays Unicode (no `\\u` escapes),
and a nested value that is not flattened or unnested is staged as its JSON text.

A child table (`ReaderOptions.items`) walks down the declared lists: each item is a row with
the carried parent fields, `_parent_row`, `_item_index` and `_item_path`. An item of the wrong
kind (a text in a list of objects, a list in a list) or a field declared a list that is not
one is still a row, marked `_malformed_item` with its path, position and JSON text, so bronze
quarantines it and nothing vanishes. Rows are written in chunks to a parquet file, so NDJSON
is read with bounded memory; a JSON document is parsed whole, up to a declared size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobforge_core.common.errors import SourceFileError
from jobforge_core.common.provenance import ITEM_INDEX, ITEM_PATH, MALFORMED, PARENT_ROW
from jobforge_core.sources.naming import NESTED
from jobforge_core.sources.spec import ItemStep, SourceSpec

VALUE = "value"  # the column of a list of scalars
_CHUNK = 20_000  # rows per parquet row group: the rows held in memory at once


class _Number(str):
    """A JSON number as the text the file holds: a float would turn `1.10` into `1.1`."""


def loads(text: str) -> Any:
    return json.loads(text, parse_int=_Number, parse_float=_Number, parse_constant=_Number)


def render(value: Any) -> str:
    """JSON text of a parsed value: Unicode as is, numbers as written in the file."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    return "{" + ", ".join(f"{render(str(k))}: {render(v)}" for k, v in value.items()) + "}"


def text(value: Any) -> str | None:
    """A staged cell: text as is, a number as written, anything nested as its JSON text."""
    if value is None or isinstance(value, str):
        return value
    return render(value)


def _kind(value: Any) -> str:
    return "object" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"


def _at(value: Any, path: str) -> Any:
    """The value at a dotted path, or None where a step is missing."""
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def flatten(obj: dict, skip: set[str], nested: bool, out: dict, prefix: str = "") -> dict:
    """Header -> staged text; a nested object's fields as `parent__child` when `nested`; the
    fields at a `skip` path (lists that are child tables) left out."""
    for key, value in obj.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if dotted in skip:
            continue
        name = dotted.replace(".", NESTED)
        if nested and isinstance(value, dict) and value:
            flatten(value, skip, nested, out, dotted)
        else:
            out[name] = None if value == {} else text(value)
    return out


@dataclass
class _Node:
    """A record or an item: its row number in its own table and the row staged for it."""

    row: int
    value: Any
    path: str
    flat: dict[str, str | None]
    malformed: str | None = None


@dataclass
class Walk:
    """The rows of one table, and what a second count says they must be."""

    records: int = 0  # records of the document (the parent rows of the first level)
    items: int = 0  # items found by the lists' lengths (a child table's expected rows)
    columns: dict[str, bool] = field(default_factory=dict)  # header -> holds a non-null value


def _records(
    values: Iterable[tuple[str, Any]], skip: set[str], nested: bool, walk: Walk
) -> Iterator[_Node]:
    for row, (path, value) in enumerate(values, start=1):
        walk.records = row
        if isinstance(value, dict):
            yield _Node(row, value, path, flatten(value, skip, nested, {}))
        else:
            detail = f"record {row} ({path}) is {_a(value)}, not an object: {_shown(value)}"
            yield _Node(row, value, path, {}, detail)


def _a(value: Any) -> str:
    kind = _kind(value)
    return {"object": "an object", "list": "a list"}.get(kind, f"a scalar ({render(value)[:40]})")


def _shown(value: Any) -> str:
    return render(value)[:500]


def _items(
    parents: Iterator[_Node],
    step: ItemStep,
    skip: set[str],
    nested: bool,
    walk: Walk | None,
) -> Iterator[_Node]:
    """The items of the list at `step.path` of each parent, numbered in document order."""
    row = 0
    expected = None if step.items == "auto" else step.items
    for parent in parents:
        if parent.malformed:  # quarantined whole in its own table, its text in the detail
            continue
        carried = {col: parent.flat.get(fieldname) for col, fieldname in step.key.items()}
        carried[PARENT_ROW] = str(parent.row)
        found = _at(parent.value, step.path)
        path = f"{parent.path}.{step.path}"
        if found is None:  # missing or null: no items
            continue
        if not isinstance(found, list):
            row += 1
            if walk:
                walk.items += 1
            detail = f"{path} is {_a(found)}, not a list: {_shown(found)}"
            flat = {**carried, ITEM_INDEX: None, ITEM_PATH: path}
            yield _Node(row, found, path, flat, detail)
            continue
        if walk:
            walk.items += len(found)
        for index, item in enumerate(found):
            row += 1
            item_path = f"{path}[{index}]"
            kind = _kind(item)
            if expected is None and item is not None and kind != "list":
                expected = kind
            flat = {**carried, ITEM_INDEX: str(index), ITEM_PATH: item_path}
            detail = None
            if item is not None and kind != expected:
                holds = {"object": "objects", "scalar": "scalars"}.get(expected or "", "none")
                detail = (
                    f"item {index} of {path} ({item_path}) is {_a(item)}; the list holds "
                    f"{holds}: {_shown(item)}"
                )
            elif isinstance(item, dict):
                flatten(item, skip, nested, flat)
            elif expected == "scalar" or item is not None:
                flat[VALUE] = text(item)
            yield _Node(row, item, item_path, flat, detail)


def walk_rows(
    values: Iterable[tuple[str, Any]], spec: SourceSpec, walk: Walk
) -> Iterator[dict[str, str | None]]:
    """The staged rows of `spec`'s table from the (path, value) of each record, in order."""
    nested = spec.reader.flatten
    steps = spec.reader.items
    own_skip = {c.path for c in spec.children}
    nodes = _records(values, own_skip if not steps else set(), nested, walk)
    for depth, step in enumerate(steps):
        last = depth == len(steps) - 1
        nodes = _items(nodes, step, own_skip if last else set(), nested, walk if last else None)
    for node in nodes:
        row = dict(node.flat)
        row[MALFORMED] = node.malformed
        yield row


def records_of(document: Any, spec: SourceSpec, file: str) -> tuple[str, list]:
    """The JSON path and list of records in a document: `reader.records` when declared, else
    the document if it is a list, else the one list of an envelope object."""
    declared = spec.reader.records
    if declared:
        found = _at(document, declared)
        if not isinstance(found, list):
            what = "nothing" if found is None else _a(found)
            raise SourceFileError(
                f"`reader.records: {declared}` names {what} in the document, not a list; "
                f"lists found at: {', '.join(_list_paths(document)) or 'none'}",
                file=file,
            )
        return f"$.{declared}", found
    if isinstance(document, list):
        return "$", document
    if isinstance(document, dict):
        top = [k for k, v in document.items() if isinstance(v, list)]
        if len(top) == 1:
            return f"$.{top[0]}", document[top[0]]
        paths = _list_paths(document)
        if paths:
            raise SourceFileError(
                f"the JSON envelope holds lists at {', '.join(paths)}: say which holds the "
                f"records with `reader: {{records: {paths[0]}}}`",
                file=file,
            )
    raise SourceFileError("JSON must be a list of objects, or an object holding one", file=file)


def _list_paths(value: Any, prefix: str = "", depth: int = 4) -> list[str]:
    """Dotted paths of the lists inside nested objects (not inside lists), a few levels deep."""
    if not isinstance(value, dict) or depth == 0:
        return []
    paths = []
    for key, inner in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(inner, list):
            paths.append(path)
        else:
            paths += _list_paths(inner, path, depth - 1)
    return paths


def json_records(path: Path, spec: SourceSpec) -> Iterator[tuple[str, Any]]:
    """The records of a JSON document, parsed whole once its size is within the limit."""
    limit = spec.reader.max_document_bytes
    size = path.stat().st_size
    if size > limit:
        raise SourceFileError(
            f"the JSON document is {size:,} bytes, above the {limit:,} bytes a JSON document "
            "is read whole with (`reader: {max_document_bytes: ...}`); NDJSON (one record per "
            "line) is streamed with no limit",
            file=str(path),
            rule="document_too_large",
        )
    try:
        document = loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceFileError(f"not valid JSON: {exc}", file=str(path)) from exc
    base, records = records_of(document, spec, str(path))
    return ((f"{base}[{i}]", r) for i, r in enumerate(records))


def ndjson_records(path: Path) -> Iterator[tuple[str, Any]]:
    """The records of an NDJSON file, one line at a time (blank lines are no record)."""
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield f"line {line_no}", loads(line)
            except json.JSONDecodeError as exc:
                raise SourceFileError(
                    f"not valid JSON on line {line_no}: {exc}", file=str(path), row=line_no
                ) from exc
            except UnicodeDecodeError as exc:
                raise SourceFileError(f"not UTF-8 text: {exc}", file=str(path)) from exc


def write_table(records: Any, spec: SourceSpec, target: Path) -> Walk:
    """Walk the records twice (`records` is a callable giving a fresh iterator): once for the
    columns, once writing rows to `target` in chunks, every column text."""
    seen = Walk()
    if spec.reader.items:  # a child table has its columns even when every list is empty
        last = spec.reader.items[-1]
        seen.columns.update(dict.fromkeys([*last.key, PARENT_ROW, ITEM_INDEX, ITEM_PATH], True))
        if last.items == "scalar":
            seen.columns[VALUE] = True
    for row in walk_rows(records(), spec, seen):
        for name, value in row.items():
            seen.columns[name] = seen.columns.get(name, False) or value is not None
    if MALFORMED not in seen.columns:
        seen.columns[MALFORMED] = False
    columns = [c for c in seen.columns if c != MALFORMED and _kept(c, seen.columns)]
    schema = pa.schema([(c, pa.string()) for c in [*columns, MALFORMED]])
    walk = Walk()
    with pq.ParquetWriter(target, schema) as writer:
        chunk: list[dict] = []
        for row in walk_rows(records(), spec, walk):
            chunk.append(row)
            if len(chunk) == _CHUNK:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                chunk = []
        writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
    return walk


def _kept(name: str, columns: dict[str, bool]) -> bool:
    """A column that only ever held null where other records hold an object's fields
    (`meta: null` beside `meta: {a: 1}`) is not a column of its own."""
    if columns[name]:
        return True
    return not any(other.startswith(name + NESTED) for other in columns)

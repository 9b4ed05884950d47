"""docs/spec-reference.md, generated from the spec's pydantic models and the shipped kinds.

Every field's description is its docstring in `spec.py`; its type, allowed values and default
come from the model; its example from a shipped spec or kind that uses it, else from the
field's `examples`. `python -m flows.reference_docs` writes the page (`--check` says whether
it is current); tests/test_docs.py fails when a field has no description or no example, or
when the page differs from what this module renders.
"""

from __future__ import annotations

import textwrap
import types
import typing
from pathlib import Path
from string import Template
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from jobforge_core.sources.naming import json_name, snake_case
from jobforge_core.sources.spec import (
    NORMALISE_OPS,
    PACKAGE_KINDS,
    PACKAGE_SPECS,
    ChildTable,
    Expectation,
    ForeignKey,
    GoldCheck,
    GoldOutput,
    Lookup,
    ReaderOptions,
    Sequence,
    SourceSpec,
    Thresholds,
    Unpivot,
    spec_files,
)

# The documented models, in page order, with where each one sits in a spec.
MODELS: list[tuple[type[BaseModel], str]] = [
    (SourceSpec, "the top level of a spec file"),
    (ReaderOptions, "`reader:`"),
    (Expectation, "`expectations:` (a list)"),
    (Thresholds, "`thresholds:`"),
    (GoldOutput, "`gold:` (a list; `extra_gold:` in a spec with a kind)"),
    (Lookup, "`gold[].lookups`, `gold[].lookups_after`, `gold[].checks[].lookups` (lists)"),
    (Unpivot, "`gold[].unpivot`"),
    (Sequence, "`gold[].sequence`"),
    (ForeignKey, "`gold[].foreign_keys` (a list)"),
    (GoldCheck, "`gold[].checks` (a list)"),
    (ChildTable, "`children:` (a list); a child also takes any field of a source"),
]

# Where each model's mappings sit inside another's, to collect examples from shipped YAML.
NESTED: dict[type[BaseModel], dict[str, type[BaseModel]]] = {
    SourceSpec: {
        "reader": ReaderOptions,
        "thresholds": Thresholds,
        "expectations": Expectation,
        "gold": GoldOutput,
        "extra_gold": GoldOutput,
        "children": ChildTable,
    },
    GoldOutput: {
        "lookups": Lookup,
        "lookups_after": Lookup,
        "unpivot": Unpivot,
        "sequence": Sequence,
        "foreign_keys": ForeignKey,
        "checks": GoldCheck,
    },
    GoldCheck: {"lookups": Lookup},
    ChildTable: {"children": ChildTable},
}

HEADER_EXAMPLES = [
    "Code - NOC 2021 V1.0",
    "Occupation Name",
    "Prix ($)",
    "Conditions récentes ",
    "2024",
    "Work With Work Group or Team11",
    "%",
]
JSON_HEADER_EXAMPLES = ["Provenance EN__Source URL", "_item_index"]


def yaml_name(name: str, field: Any) -> str:
    return field.alias or name


def is_internal(field: Any) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("internal"))


def anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def render_type(annotation: Any) -> str:
    """`list of str`, `one of "a", "b"`, a link to a documented model..."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in args if a is not type(None)]
        return " or ".join(render_type(a) for a in parts)
    if origin is list:
        return f"list of {render_type(args[0])}"
    if origin is dict:
        return f"map of {render_type(args[0])} to {render_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if any(model is annotation for model, _ in MODELS):
            return f"[{annotation.__name__}](#{anchor(annotation)})"
        return annotation.__name__
    if annotation is Any:
        return "any value"
    if isinstance(annotation, str):  # a forward reference (ChildTable.children)
        return f"[{annotation}](#{annotation.lower()})"
    return f"`{getattr(annotation, '__name__', annotation)}`"


def flow(value: Any) -> str:
    """A YAML value on one line, as it would be written in a spec."""
    text = yaml.safe_dump(
        value, default_flow_style=True, width=100_000, allow_unicode=True, sort_keys=False
    ).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def render_default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return f"default: see [{type(value).__name__}](#{anchor(type(value))})"
    if value is None or value is PydanticUndefined:
        return "optional"
    return f"default `{flow(value)}`"


def constraints(field: Any) -> str:
    words = []
    for item in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(item, attr, None) is not None:
                words.append(f"{sign} {getattr(item, attr)}")
    return f" ({', '.join(words)})" if words else ""


# --- examples from the shipped specs and kinds ------------------------------------------------


def _raw_files() -> list[tuple[str, Any]]:
    """Shipped specs, then kinds (placeholders left unfilled, `$$` read as `$`)."""
    out: list[tuple[str, Any]] = []
    for path in spec_files(PACKAGE_SPECS):
        out.append((path.name, yaml.safe_load(path.read_text(encoding="utf-8"))))
    for path in spec_files(PACKAGE_KINDS):
        text = Template(path.read_text(encoding="utf-8")).safe_substitute({})
        out.append((f"kinds/{path.name}", yaml.safe_load(text)))
    return out


def _walk(
    model: type[BaseModel], value: Any, origin: str, found: dict[tuple[str, str], list]
) -> None:
    if isinstance(value, list):
        for item in value:
            _walk(model, item, origin, found)
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        found.setdefault((model.__name__, key), []).append((origin, item))
        inner = NESTED.get(model, {}).get(key)
        if inner is not None:
            _walk(inner, item, origin, found)


def shipped_examples() -> dict[tuple[str, str], list[tuple[str, Any]]]:
    found: dict[tuple[str, str], list] = {}
    for origin, raw in _raw_files():
        _walk(SourceSpec, raw, origin, found)
    return found


def _has_placeholder(text: str) -> bool:
    import re

    return re.search(r"\$[A-Za-z_{]", text) is not None


def example(model: type[BaseModel], name: str, field: Any, shipped: dict) -> str | None:
    """The shortest non-empty use in the shipped YAML, else the field's declared example."""
    key = yaml_name(name, field)
    candidates = []
    for origin, value in shipped.get((model.__name__, key), []):
        if value in ({}, [], "", None):
            continue
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            value = value[:1]  # one rule of a list of rules is example enough
        text = flow({key: value})[1:-1]
        if _has_placeholder(text) or len(text) > 140:
            continue
        candidates.append((len(text), text, origin))
    if candidates:
        _, text, origin = min(candidates)
        return f"`{text}` ({origin})"
    if field.examples:
        return f"`{flow({key: field.examples[0]})[1:-1]}`"
    return None


# --- the page ---------------------------------------------------------------------------------

INTRO = """\
# Spec reference

<!-- Generated by `.venv/bin/python -m flows.reference_docs` from the models in
jobforge_core/sources/spec.py and the kinds in jobforge_core/kinds/: do not edit by hand.
tests/test_docs.py fails when a field is undocumented or this page is not current. -->

A source is declared by one YAML file: where its file is, how it is read, typed, cleaned and
checked, and which gold tables it builds. Put your specs in a directory and pass it with
`--specs DIR` (or list it in `jobforge.yaml`'s `spec_dirs`). The
[tutorial](tutorial.md) writes one from scratch; [Adding sources](sources.md) explains kinds,
the merge rule and nested JSON.

The smallest spec names the source, its file and one gold table (every column kept):

```yaml
name: my_source
file: my_file.csv
gold:
  - table: my_table
```

Every field below gives its type, allowed values, default and an example (from a shipped spec
in `jobforge_core/specs/` or a kind in `jobforge_core/kinds/` when one uses it). Unknown
fields are refused: a typo is a spec error naming the file and the field (exit 2).

Two keys are not fields of the model: `extra_gold:` (a spec with a `kind` adds these gold
outputs before the kind's own) and `replace: [field, ...]` (take those fields wholesale from
the spec instead of merging them with the kind's; at the top level, or in a gold output for
its `foreign_keys`).

"""


def _field_lines(model: type[BaseModel], shipped: dict) -> list[str]:
    lines: list[str] = []
    internal: list[str] = []
    for name, field in model.model_fields.items():
        key = yaml_name(name, field)
        if is_internal(field):
            internal.append(f"`{key}`")
            continue
        head = f"- **`{key}`**: {render_type(field.annotation)}{constraints(field)}"
        head += f"; {render_default(field)}."
        lines.append(head)
        text = " ".join((field.description or "").split())
        found = example(model, name, field, shipped)
        if found:
            text += f" Example: {found}."
        lines += textwrap.wrap(text, 96, initial_indent="  ", subsequent_indent="  ")
    if internal:
        lines += [
            "",
            f"Set by JobForge, never declared: {', '.join(internal)}.",
        ]
    return lines


def _kinds() -> list[str]:
    lines = [
        "## Kinds",
        "",
        "A kind is a template: a spec names it (`kind:`) and gives its `params`; the kind's",
        "`$param` placeholders are filled in (`$$` is a literal dollar), then the spec's own",
        "fields are merged in. Your own kinds go in `<specs dir>/kinds/<kind>.yaml`.",
        "The shipped kinds:",
        "",
    ]
    users: dict[str, list[str]] = {}
    for path in spec_files(PACKAGE_SPECS):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if raw.get("kind"):
            users.setdefault(raw["kind"], []).append(raw["name"])
    for path in spec_files(PACKAGE_KINDS):
        text = path.read_text(encoding="utf-8")
        comments = []
        for line in text.splitlines():
            if not line.startswith("#"):
                break
            if "string.Template" not in line:
                comments.append(line.lstrip("# ").rstrip())
        params = sorted(
            {
                m.group("named") or m.group("braced")
                for m in Template.pattern.finditer(text)
                if (m.group("named") or m.group("braced")) and (m.group("named") != "name")
            }
        )
        raw = yaml.safe_load(Template(text).safe_substitute({}))
        tables = [str(g.get("table")) for g in raw.get("gold", [])]
        lines += [
            f"### `{path.stem}`",
            "",
            " ".join(comments),
            "",
            f"- params: {', '.join(f'`{p}`' for p in params)}",
            f"- gold outputs: {', '.join(f'`{t}`' for t in tables)}",
            "- shipped specs of this kind: "
            f"{', '.join(f'`{u}`' for u in users.get(path.stem, ()))}",
            f"- template: [`jobforge_core/kinds/{path.name}`](../jobforge_core/kinds/{path.name})",
            "",
        ]
    return lines


def _naming() -> list[str]:
    lines = [
        "## How headers become column names",
        "",
        "A header named in `renames` (trimmed) takes the declared name. Any other header is",
        "trimmed, its accents folded to ASCII, every run of other characters than letters and",
        "digits made one `_` (none at either end), and lower-cased; a header left empty is",
        "`column`. Two headers that become one name are an error asking for a rename. JSON",
        "headers are named part by part, nested objects joined by `__`. These are computed by",
        "the code that names the columns:",
        "",
        "| header | column |",
        "| --- | --- |",
    ]
    for header in HEADER_EXAMPLES:
        lines.append(f"| `{header}` | `{snake_case(header)}` |")
    for header in JSON_HEADER_EXAMPLES:
        lines.append(f"| `{header}` (JSON) | `{json_name(header)}` |")
    column_types = typing.get_args(SourceSpec.model_fields["default_type"].annotation)
    text = (
        "Types (`types`, `default_type`, `unpivot.variable_type`) are one of "
        + ", ".join(f"`{t}`" for t in column_types)
        + "; normalise operations are "
        + ", ".join(f"`{op}`" for op in NORMALISE_OPS)
        + ", `pad_left:N` and `decimal_code:W.F`."
    )
    lines += ["", *textwrap.wrap(text, 96), ""]
    return lines


def render() -> str:
    shipped = shipped_examples()
    lines = [INTRO.rstrip("\n"), "", "Contents:", ""]
    for model, _ in MODELS:
        lines.append(f"- [{model.__name__}](#{anchor(model)})")
    lines += ["- [How headers become column names](#how-headers-become-column-names)"]
    lines += ["- [Kinds](#kinds)", ""]
    for model, where in MODELS:
        doc = " ".join((model.__doc__ or "").split())
        lines += [f"## {model.__name__}", ""]
        lines += textwrap.wrap(f"In a spec: {where}. {doc}", 96)
        lines.append("")
        lines += _field_lines(model, shipped)
        lines.append("")
    lines += _naming()
    lines += _kinds()
    return "\n".join(lines).rstrip("\n") + "\n"


def undocumented() -> list[str]:
    """Fields without a description or an example (internal ones need a description only)."""
    shipped = shipped_examples()
    missing = []
    for model, _ in MODELS:
        for name, field in model.model_fields.items():
            where = f"{model.__name__}.{yaml_name(name, field)}"
            if not (field.description or "").strip():
                missing.append(f"{where}: no description (a docstring under the field)")
            elif not is_internal(field) and example(model, name, field, shipped) is None:
                missing.append(f"{where}: no example (used by no shipped spec; add examples=)")
        if not (model.__doc__ or "").strip():
            missing.append(f"{model.__name__}: no docstring")
    return missing


def reference_path(repo: Path) -> Path:
    return repo / "docs" / "spec-reference.md"

"""Source specs: every source is declared in YAML and validated here (invariant 8)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from string import Template
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from jobforge_core.common.errors import SpecError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ColumnType = Literal["str", "int", "float", "bool", "date"]
Format = Literal["csv", "xlsx", "json", "ndjson", "parquet"]
NORMALISE_OPS = ("upper", "lower", "collapse_spaces")  # and pad_left:N, decimal_code:W.F

PACKAGE_SPECS = Path(__file__).parents[1] / "specs"
PACKAGE_KINDS = Path(__file__).parents[1] / "kinds"


class _Strict(BaseModel):
    # `keys` is spelled key_columns in Python: a field named `keys` makes dict(model) fail,
    # and Prefect calls dict() on task parameters.
    # Each field's docstring is its description: docs/spec-reference.md is generated from them
    # (`python -m flows.reference_docs`), and a test fails on a field without one.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


def _check_regex(pattern: str, field: str, groups: int = 0, in_polars: bool = False) -> None:
    """A pattern that does not compile is a spec error at load time (exit 2), not a
    multi-line engine error half-way through a run. `in_polars`: the pattern runs in polars
    (Rust's regex), which refuses what Python's `re` accepts, such as look-around."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{field} {pattern!r} is not a valid regular expression: {exc}") from exc
    if compiled.groups < groups:
        raise ValueError(f"{field} {pattern!r} needs a group, (...), whose match is kept")
    # Only a pattern with a construct the engines may disagree on is compiled by polars too:
    # importing polars costs a third of a second before Prefect's server is started.
    if in_polars and re.search(r"\(\?|\\\d|\\[pPkg]", pattern):
        import polars as pl

        try:
            pl.Series([""], dtype=pl.String).str.contains(pattern)
        except pl.exceptions.PolarsError as exc:
            reason = str(exc).strip().splitlines()[-1].strip()
            raise ValueError(
                f"{field} {pattern!r} is not a regular expression the engine runs "
                f"(no look-around or back-references): {reason}"
            ) from None


def _check_identifier(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(f"{value!r} must be lower snake_case ([a-z][a-z0-9_]*)")
    return value


ItemKind = Literal["auto", "object", "scalar"]
# A JSON document (not NDJSON) is parsed whole, in memory: a few times its size. Bigger ones are
# refused with this limit named, rather than taking the worker down; NDJSON is streamed.
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024


class ItemStep(_Strict):
    """One level of a child table's walk: the list at `path` in each parent (a record, or an
    item of the level above), its items becoming rows that carry the parent's `key` fields."""

    path: str
    """Dotted path inside the parent to the list."""
    key: dict[str, str] = Field(default_factory=dict)
    """Child column -> parent field carried into every item row."""
    items: ItemKind = "auto"
    """`object`: each item an object (its fields become columns); `scalar`: each item a value
    (column `value`); `auto`: the kind of the first item seen. An item of another kind is
    quarantined as `malformed_item`."""


class ReaderOptions(_Strict):
    """How the file is read (`reader:`). Every value is staged as text whatever the format."""

    format: Format | None = Field(default=None, examples=["ndjson"])
    """The file's format; by default taken from the file name's extension (`.xls` is read as
    xlsx, `.jsonl` as ndjson, `.txt` and `.tsv` as csv)."""
    encoding: str = Field(default="auto", examples=["utf-16-le"])
    """CSV: `auto` decodes UTF-8 (with or without BOM), UTF-16 and UTF-32 with a byte-order
    mark, and otherwise cp1252; or any Python codec name (`utf-16-le` for UTF-16 without a
    mark)."""
    delimiter: str = Field(default=",", examples=[";"])
    """CSV: the field separator (a tab is `"\\t"`)."""
    quote_char: str = Field(default='"', examples=["'"])
    """CSV: the quote character (RFC 4180: a quote inside a quoted field is doubled)."""
    sheet: str | None = Field(default=None, examples=["Data"])
    """xlsx: the sheet to read; by default the first sheet."""
    duplicate_headers: Literal["fail", "number"] = Field(default="fail", examples=["number"])
    """A header repeated in the file: `fail` quarantines the file naming it and its positions;
    `number` stages the 2nd, 3rd... occurrence as `<header> (2)`, `<header> (3)`, which
    `renames` can target."""
    records: str | None = Field(default=None, examples=["data.occupations"])
    """JSON: dotted path to the list of records inside an envelope. By default a document
    that is a list is the records, and an object holding exactly one list (`{"data": [...]}`)
    is unwrapped to it; an envelope with several lists is refused, naming them."""
    flatten: bool = Field(default=True, examples=[False])
    """JSON/NDJSON: nested objects become columns `parent__child`; `false` keeps them as
    JSON text."""
    max_document_bytes: int = Field(default=MAX_DOCUMENT_BYTES, gt=0, examples=[1073741824])
    """JSON: a document is parsed whole, in memory; a bigger one is refused naming this limit
    (NDJSON is streamed and has no limit)."""
    items: list[ItemStep] = Field(default_factory=list, json_schema_extra={"internal": True})
    """Set by JobForge on the derived spec of a child table (see `children`): the lists to
    walk down. Not declared in a spec."""


class Expectation(_Strict):
    """A silver check on one column (`expectations:`). A row that breaks it is kept and
    counted (`warn`), quarantined (`drop`), or the whole file is quarantined (`fail`)."""

    column: str
    """The column checked, by its bronze name."""
    rule: Literal["not_null", "unique", "regex", "range", "accepted_values"]
    """`not_null`: a value is present; `unique`: no value repeats; `regex`: the value matches
    `pattern` (a full match is not implied: anchor it with `^...$`); `range`: a number within
    `min`/`max` (the column must be typed `int` or `float`); `accepted_values`: one of
    `values`."""
    action: Literal["warn", "drop", "fail", "off"] = "drop"
    """`warn`: count the rows, keep them; `drop`: quarantine the rows (`_quarantine_reason` is
    the rule id); `fail`: quarantine the whole file; `off`: switched off on purpose (a spec
    turning off a check of its kind): logged as `rule:<id>:off`, not run."""
    pattern: str | None = Field(default=None, examples=[r"^\d{5}$"])
    """`regex`: the regular expression (Rust regex syntax: no look-around)."""
    min: float | None = Field(default=None, examples=[0])
    """`range`: the smallest value allowed."""
    max: float | None = Field(default=None, examples=[5])
    """`range`: the largest value allowed."""
    values: list[str] | None = Field(default=None, examples=[["Example", "Index", "Inclusion"]])
    """`accepted_values`: the values allowed."""
    id: str | None = Field(default=None, examples=["code_is_five_digits"])
    """The rule's id in logs and quarantine; default `<rule>_<column>`. A spec entry with the
    id of its kind's entry changes that entry instead of adding one."""

    @model_validator(mode="after")
    def _arguments(self) -> Expectation:
        if self.rule == "regex" and not self.pattern:
            raise ValueError("regex expectation needs `pattern`")
        if self.pattern is not None:
            _check_regex(self.pattern, "pattern", in_polars=True)
        if self.rule == "range" and self.min is None and self.max is None:
            raise ValueError("range expectation needs `min` or `max`")
        if self.rule == "accepted_values" and not self.values:
            raise ValueError("accepted_values expectation needs `values`")
        if self.id is None:
            self.id = f"{self.rule}_{self.column}"
        return self


class Unpivot(_Strict):
    """Wide columns to long rows (gold `unpivot:`): one row per input row and unpivoted
    column, the column's name in `variable` and its cell in `value`."""

    columns: str | list[str] | None = None
    """The columns to unpivot: a regular expression over silver column names (`'^\\d{4}$'`:
    the year columns), or their list; omitted, every column not in `index`."""
    index: list[str] = Field(default_factory=list)
    """Columns repeated on every long row (the provenance columns always are)."""
    variable: str = "variable"
    """Name of the column that holds the unpivoted column's name."""
    value: str = "value"
    """Name of the column that holds the cell's value."""
    variable_from: Literal["name", "label"] = "name"
    """`name`: the variable is the silver column name (`2024`); `label`: the original source
    header, trimmed (`Contact With Others`)."""
    variable_pattern: str | None = None
    """A regular expression whose first group becomes the variable (`'(\\d)$'` keeps the
    last digit of `Holland code 1`)."""
    variable_type: ColumnType = "str"
    """The type the variable is cast to (`int` for years)."""
    drop_nulls: bool = Field(default=False, examples=[True])
    """`true`: an empty cell makes no long row; the rows it would have made are counted
    under `rule` in the gold log instead of being a loss."""
    rule: str = Field(default="empty_cells_make_no_long_row", examples=["absent_codes"])
    """The name under which `drop_nulls` counts the cells that made no row."""

    @model_validator(mode="after")
    def _patterns(self) -> Unpivot:
        if isinstance(self.columns, str):
            _check_regex(self.columns, "columns")
        if self.variable_pattern is not None:
            _check_regex(self.variable_pattern, "variable_pattern", groups=1, in_polars=True)
        return self


class Sequence(_Strict):
    """Order of a row within its group (gold `sequence:`), e.g. duty 1, 2, 3 of a profile."""

    name: str
    """Name of the new column holding the order (1 = first)."""
    partition_by: list[str]
    """Columns whose values form a group; numbering restarts at 1 in each."""
    order_by: str = Field(default="_source_row", examples=["duty"])
    """Column that orders the rows of a group; by default their order in the source file."""


def _expression_only(text: str, what: str) -> str:
    """A pydantic error (ValueError) for SQL text that is more than an expression."""
    from jobforge_core.common.sql_expression import NotAnExpression, check_expression

    try:
        return check_expression(text, what)
    except NotAnExpression as exc:
        raise ValueError(str(exc)) from None


class Lookup(_Strict):
    """Left join that brings columns from this source's silver table (`self`) or a gold table
    (gold `lookups:`, `lookups_after:`, a check's `lookups:`). A row that finds nothing gets
    nulls."""

    table: str = "self"
    """`self` (this source's silver table) or a gold table, which becomes a dependency: this
    source's gold runs after the table's source."""
    key: str
    """SQL expression over the current rows."""
    ref_key: str
    """SQL expression over the referenced table, usually a column; `lower(descriptor_name)`
    with `key: lower(descriptor)` matches names whatever their case."""
    where: str | None = None
    """SQL filter on the referenced table before the join."""
    columns: dict[str, str]
    """New column name -> column of the referenced table."""

    @field_validator("key", "ref_key", "where")
    @classmethod
    def _expression(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _expression_only(value, f"lookup {info.field_name}")


class ForeignKey(_Strict):
    """A gold column whose values must exist in another gold table (gold `foreign_keys:`).
    A row whose value is not there (an orphan) is quarantined with reason `foreign_key`."""

    column: str
    """The column of this gold table."""
    references: str
    """The gold table referred to; its source runs first."""
    ref_column: str | None = None
    """The column referred to; by default the same name as `column`."""
    cardinality: Literal["many_to_one", "one_to_one"] = Field(
        default="many_to_one", examples=["one_to_one"]
    )
    """Recorded in the model (`catalog.relationships`, the site's model page); not checked."""
    required: bool = False
    """A null is allowed (no link) unless `required`: then it is an orphan like an unknown
    value (a lookup that found nothing must not slip through as "no link")."""
    deferred: bool = False
    """Checked on the files at the end of the run instead of row by row in the gold step, and
    not an ordering constraint: the back edge of a cycle (a dimension that looks up a fact
    referring to it). An orphan fails the run (it is not quarantined)."""

    @property
    def target_column(self) -> str:
        return self.ref_column or self.column


class GoldCheck(_Strict):
    """A declared condition on the rows a gold output reads (after `where`, `derive` and
    `lookups`, before any unpivot), e.g. a label that disagrees with its dimension's. Rows
    where it is false are counted under `id` in the gold log (`warn:<id>`) and
    `catalog.quality`; nothing moves. A null result passes, as in an SQL CHECK."""

    id: str
    """The check's name in logs (`warn:<id>`), lower snake_case."""
    condition: str
    """SQL over the rows, with the check's own lookups' columns: true for a good row."""
    lookups: list[Lookup] = Field(
        default_factory=list,
        examples=[
            [
                {
                    "table": "dim_noc",
                    "key": "noc_code",
                    "ref_key": "noc_code",
                    "columns": {"noc_title": "class_title"},
                }
            ]
        ],
    )
    """Lookups made for this check only; their columns reach no table."""
    action: Literal["warn"] = Field(default="warn", examples=["warn"])
    """Always `warn`: the rows are counted, never moved."""
    count_distinct: list[str] = Field(default_factory=list)
    """Count distinct values of these columns (e.g. profiles) instead of rows."""

    _id = field_validator("id")(_check_identifier)

    @field_validator("condition")
    @classmethod
    def _expression(cls, value: str) -> str:
        return _expression_only(value, "check condition")


class GoldOutput(_Strict):
    """One gold table built from the source's silver table (`gold:`). The steps run in the
    order of the fields below: `where`, `derive`, `lookups`, `unpivot`, `derive_after`,
    `recode`, `lookups_after`, `sequence`, `columns`, then the `keys` and `foreign_keys`
    checks. Expressions are SQL as polars evaluates it (`substr(code, 1, 5)`,
    `code LIKE 'TEER%'`, `CAST(x AS INT)`, `CASE WHEN ... END`), expressions only: no subquery,
    table function or file read."""

    table: str
    """The gold table's name, lower snake_case; one source per gold table."""
    model: Literal["dimension", "fact", "aggregate"] = "fact"
    """What the table is, for the catalog, the site and the order of its lists."""
    description: str = ""
    """The table's description in the catalog, the site and OpenLineage."""
    where: str | None = None
    """SQL filter: only the rows where it is true feed this table."""
    derive: dict[str, str] = Field(default_factory=dict)
    """New column -> SQL expression over the silver columns."""
    lookups: list[Lookup] = Field(default_factory=list)
    """Joins that bring columns from this source's silver table or a gold table."""
    unpivot: Unpivot | None = None
    """Wide columns to long rows."""
    derive_after: dict[str, str] = Field(default_factory=dict, examples=[{"scale": "2"}])
    """New column -> SQL expression, computed on the long rows after `unpivot`."""
    recode: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Declared corrections after `derive_after`: column -> {value: replacement}, e.g. an
    abbreviated header mapped to its name in a dimension."""
    lookups_after: list[Lookup] = Field(
        default_factory=list,
        examples=[
            [
                {
                    "table": "dim_oasis_descriptor",
                    "key": "lower(descriptor)",
                    "ref_key": "lower(descriptor_name)",
                    "columns": {"descriptor_code": "descriptor_code"},
                }
            ]
        ],
    )
    """Lookups on the long rows, after `recode`."""
    sequence: Sequence | None = None
    """A column numbering each row within its group."""
    columns: list[str] | dict[str, str] | None = None
    """The table's columns: a list of names, or output name -> input column; omitted, every
    column (the provenance columns are always kept)."""
    key_columns: list[str] = Field(default_factory=list, alias="keys")
    """The table's grain (primary key), shown in the catalog; a row that repeats a grain
    already seen is quarantined (`duplicate_grain`)."""
    foreign_keys: list[ForeignKey] = Field(default_factory=list)
    """Columns whose values must exist in another gold table; orphans are quarantined."""
    checks: list[GoldCheck] = Field(
        default_factory=list,
        examples=[[{"id": "title_not_blank", "condition": "length(trim(title)) > 0"}]],
    )
    """Conditions counted as warnings (rows where false), nothing moved."""
    column_descriptions: dict[str, str] = Field(
        default_factory=dict, examples=[{"year": "Year of the projection"}]
    )
    """Column -> description, for this table's columns (the catalog, the site, OpenLineage)."""

    _table = field_validator("table")(_check_identifier)

    @field_validator("where")
    @classmethod
    def _where(cls, value: str | None) -> str | None:
        return None if value is None else _expression_only(value, "where")

    @field_validator("derive", "derive_after")
    @classmethod
    def _derived(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for name, expr in value.items():
            _expression_only(expr, f"{info.field_name}.{name}")
        return value

    def all_lookups(self) -> list[Lookup]:
        return [*self.lookups, *self.lookups_after, *(lk for c in self.checks for lk in c.lookups)]

    def read_tables(self, deferred: bool = True) -> set[str]:
        """Gold tables this output's step reads: foreign keys (deferred ones when asked) and
        lookups."""
        tables = {fk.references for fk in self.foreign_keys if deferred or not fk.deferred}
        return tables | {lk.table for lk in self.all_lookups() if lk.table != "self"}

    def column_map(self) -> dict[str, str] | None:
        """Output name -> input name, or None to keep every column."""
        if self.columns is None:
            return None
        if isinstance(self.columns, list):
            return {c: c for c in self.columns}
        return dict(self.columns)


class ChildTable(BaseModel):
    """A JSON list declared as its own table (`children` of a source).

    The child is a source of its own, derived from the parent (same file and reader, named
    `name`): each item is a row with the parent's `key` fields, `_parent_row` (the parent row's
    `_source_row`), `_item_index` and `_item_path`, so every layer, check, expectation and
    gold model applies to it unchanged. Any other source field (`keys`, `types`,
    `expectations`, `gold`...) may be declared here and applies to the child.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, use_attribute_docstrings=True)

    name: str = Field(examples=["occupation_keywords"])
    """The child table's source name (lower snake_case), unique among sources."""
    path: str = Field(examples=["keywords"])
    """Dotted path to the list inside each parent record (or item)."""
    key: list[str] | dict[str, str] = Field(default_factory=list, examples=[["code"]])
    """Parent fields carried into every item row: a list (same names) or child column ->
    parent field. A nested child may carry its parent's `_item_index` under a name of its own
    (`{code: code, career: _item_index}`)."""
    items: ItemKind = Field(default="auto", examples=["scalar"])
    """`object`: each item an object (its fields become columns); `scalar`: each item a value
    (column `value`); `auto`: the kind of the first item. An item of another kind, or a field
    that is not a list, is quarantined in bronze (`malformed_item`)."""
    children: list[ChildTable] = Field(
        default_factory=list, examples=[[{"name": "career_steps", "path": "steps"}]]
    )
    """Lists inside each item, as child tables of this child."""

    _name = field_validator("name")(_check_identifier)

    def key_map(self) -> dict[str, str]:
        return dict(self.key) if isinstance(self.key, dict) else {k: k for k in self.key}


# What a child table takes from its parent unless it declares it: ownership and text rules.
_INHERITED = (
    "version",
    "domain",
    "owner",
    "steward",
    "classification",
    "retention_days",
    "history_retention",
    "on_schema_change",
    "null_markers",
    "thousands_separator",
    "date_format",
)


GuardedLayer = Literal["bronze", "silver", "gold"]
DEFAULT_QUARANTINE_SHARE = 0.1


class Thresholds(_Strict):
    """Volume guard: a batch crossing one fails its source and the previous gold stays.

    `max_quarantine_share`: rows a layer may quarantine, as a share of the rows it handles
    (out + quarantined); one number for every layer or a map per layer. `max_row_drop_share`:
    how much smaller than its previous version a gold table may get. 1 switches a guard off.
    """

    max_quarantine_share: float | dict[GuardedLayer, float] = Field(
        default=DEFAULT_QUARANTINE_SHARE, examples=[{"bronze": 0.1, "silver": 0.2, "gold": 0.1}]
    )
    """Share of the rows a layer handles (out + quarantined) it may quarantine: one number for
    every layer, or a map per layer (a layer not named keeps 0.1). At gold, long rows over all
    the source's tables. Between 0 and 1; 1 switches the guard off."""
    max_row_drop_share: float = Field(default=0.5, examples=[1])
    """How much smaller than its previous version a gold table may get (0.5: lose at most
    half its rows). Between 0 and 1; 1 switches the guard off."""

    @field_validator("max_quarantine_share", "max_row_drop_share")
    @classmethod
    def _share(cls, v: float | dict[str, float]) -> float | dict[str, float]:
        for share in v.values() if isinstance(v, dict) else [v]:
            if not 0 <= share <= 1:
                raise ValueError(f"a share is between 0 and 1, got {share}")
        return v

    def quarantine_share(self, layer: str) -> float:
        share = self.max_quarantine_share
        return share.get(layer, DEFAULT_QUARANTINE_SHARE) if isinstance(share, dict) else share


class SourceSpec(_Strict):
    """A source: one file, how it is read, typed, cleaned and checked, and the gold tables
    it builds. One YAML file per source; a `kind` fills in the rest from a template."""

    name: str
    """The source's name, lower snake_case (`[a-z][a-z0-9_]*`): `--source NAME`, the staged,
    bronze and silver table names, the batch id's prefix. A spec with the name of a shipped
    spec replaces it."""
    version: str = Field(default="1", examples=["2"])
    """The spec's version (the tables' schema version in the catalog); part of the batch id,
    so a new version reprocesses the file."""
    kind: str | None = None
    """A template this spec completes (`kinds/<kind>.yaml` of a spec directory, or a shipped
    kind: see Kinds below): its `$param` placeholders are filled from `params`, then the
    spec's own fields are merged in (see docs/sources.md, the merge rule)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Values of the kind's `$param` placeholders (`name` is always given)."""
    domain: str = "general"
    """A grouping for the catalog and the Prefect tag `domain:<domain>`."""
    description: str = ""
    """What the source is, for the catalog and the site."""
    business_purpose: str = ""
    """Why the data is kept, for the catalog and the site."""
    owner: str = Field(default="JobForge data team", examples=["Labour Market Information"])
    """Who owns the data (catalog, site, OpenLineage `ownership`)."""
    steward: str = Field(default="JobForge data steward", examples=["Jane Doe"])
    """Who looks after its quality (catalog, site, OpenLineage `ownership`)."""
    classification: str = Field(default="internal", examples=["public"])
    """Its security classification, shown in the catalog and the site."""
    retention_days: int | None = Field(default=3650, examples=[365])
    """How long the data should be kept, recorded in the catalog (governance metadata:
    nothing is deleted by it)."""
    history_retention: int = Field(default=10, ge=0, examples=[30])
    """Replaced versions kept per layer table (`history/<layer>/<table>/<batch>.parquet`);
    `0` keeps none. Not part of the batch id: changing it reprocesses nothing."""
    on_schema_change: Literal["warn", "fail", "evolve"] = "warn"
    """A batch that adds, removes or retypes a column of a table: recorded and carried on
    (`warn`), rejected (`fail`: the file is quarantined with rule `on_schema_change` and the
    previous version put back), or accepted when only the columns a gold output unpivots come
    and go (`evolve`: the year columns of a COPS release, the descriptors of an OaSIS one),
    rejected otherwise. Part of the batch id."""
    file: str
    """The file in the source directory: a name, or a pattern (`employment_emploi_*.csv`)
    whose newest match, ordered by the numbers in the names (`v1.10` after `v1.9`), is loaded.
    It must resolve inside the source directory (or `$JOBFORGE_ALLOWED_ROOTS`)."""
    reader: ReaderOptions = Field(
        default_factory=ReaderOptions, examples=[{"encoding": "utf-16-le", "delimiter": ";"}]
    )
    """How the file is read (format, encoding, delimiter, sheet, JSON records...)."""
    required_columns: list[str] | None = Field(default=None, examples=[["Code", "Name"]])
    """Trimmed headers that must exist, else the file is quarantined naming them; default:
    the keys of `renames`."""
    renames: dict[str, str] = Field(default_factory=dict)
    """Trimmed source header -> column name (lower snake_case). Other headers are named by
    the rule in "How headers become column names" below."""
    types: dict[str, ColumnType] = Field(default_factory=dict)
    """Column name -> type, cast at bronze; a value that does not cast is quarantined
    (`cast_error`). `date` takes `date_format`, else ISO dates and a spreadsheet's date
    cells."""
    default_type: ColumnType = "str"
    """The type of every column `types` does not name."""
    null_markers: list[str] = Field(
        default_factory=lambda: ["", "N/A", "N/D"], examples=[["", "N/A", "N/D", "x", ".."]]
    )
    """Values read as null at bronze (compared after trimming)."""
    thousands_separator: str = Field(default=",", examples=[" "])
    """Removed from numbers only between groups of three digits (`8,238,800`): a decimal
    comma `1,5` is a cast error, never 15. An empty string turns it off."""
    date_format: str | None = Field(default=None, examples=["%d/%m/%Y"])
    """The format of `date` columns (chrono/strftime codes: `%Y-%m-%d`)."""
    key_columns: list[str] = Field(default_factory=list, alias="keys")
    """Columns that identify a record in silver: a null key is quarantined (`null_key`), a
    repeat of an earlier key too (`duplicate_key`)."""
    normalise: dict[str, list[str]] = Field(default_factory=dict)
    """Column -> list of operations applied in order at silver, after trimming: `upper`,
    `lower`, `collapse_spaces`, `pad_left:N` (zeros on the left up to N characters),
    `decimal_code:W.F` (`10010` and `31100.1` -> `10010.00` and `31100.10` for `5.2`)."""
    recode: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Declared corrections of known publisher errors at silver: column -> {wrong value:
    right value}, counted in the silver log as `recode:<column>`."""
    expectations: list[Expectation] = Field(default_factory=list)
    """Silver checks, each with its action (warn, drop, fail, off)."""
    gold: list[GoldOutput] = Field(default_factory=list)
    """The gold tables this source builds, in order (a dimension before a fact that looks it
    up). `extra_gold:` in a spec with a kind adds outputs before the kind's own."""
    drop_columns: list[str] = Field(default_factory=list, examples=[["oasis_label"]])
    """Silver columns deliberately carried to no gold table (they stay in silver); any other
    column no gold output carries is reported as `columns_not_carried`."""
    thresholds: Thresholds = Field(
        default_factory=Thresholds, examples=[{"max_quarantine_share": 0.01}]
    )
    """The volume guard: a batch crossing a threshold fails its source and the previous gold
    stays."""
    column_descriptions: dict[str, str] = Field(default_factory=dict)
    """Column -> description for the staged, bronze and silver tables (and the glossary's
    `column:<name>` terms)."""
    children: list[ChildTable] = Field(
        default_factory=list,
        examples=[[{"name": "occupation_keywords", "path": "keywords", "key": ["code"]}]],
    )
    """JSON lists declared as tables of their own: each child is a source derived from this
    one (same file), run with it."""
    parent: str | None = Field(default=None, json_schema_extra={"internal": True})
    """Set by JobForge on a child table's derived spec: its parent source."""
    spec_path: str | None = Field(default=None, json_schema_extra={"internal": True})
    """Set by JobForge: the file the spec was loaded from."""

    _name = field_validator("name")(_check_identifier)

    @model_validator(mode="after")
    def _children_are_json(self) -> SourceSpec:
        """Child tables come from JSON lists; each one is built now, so an error in one is a
        spec error at load time naming the child, not a surprise at its first run."""
        if self.children and self.file_format() not in ("json", "ndjson"):
            raise ValueError(f"`children` needs a JSON or NDJSON file, not {self.file!r}")
        child_specs(self)
        return self

    @field_validator("renames")
    @classmethod
    def _rename_targets(cls, v: dict[str, str]) -> dict[str, str]:
        for target in v.values():
            _check_identifier(target)
        return v

    @field_validator("normalise")
    @classmethod
    def _normalise_ops(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for column, ops in v.items():
            for op in ops:
                if op not in NORMALISE_OPS and not re.fullmatch(
                    r"pad_left:\d+|decimal_code:\d+\.\d+", op
                ):
                    raise ValueError(f"normalise[{column}]: unknown operation {op!r}")
        return v

    @model_validator(mode="after")
    def _ranges_on_numbers(self) -> SourceSpec:
        """A range compares numbers: on a text column it failed at silver in a polars error."""
        for e in self.expectations:
            kind = self.types.get(e.column, self.default_type)
            if e.rule == "range" and e.action != "off" and kind not in ("int", "float"):
                raise ValueError(
                    f"expectation {e.id!r}: a range needs a number column, and {e.column!r} "
                    f"is {kind}; declare `types: {{{e.column}: float}}` (or int)"
                )
        return self

    @model_validator(mode="after")
    def _unique_gold_tables(self) -> SourceSpec:
        names = [g.table for g in self.gold]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"gold tables declared twice: {sorted(dupes)}")
        return self

    def required(self) -> list[str]:
        return list(self.renames) if self.required_columns is None else self.required_columns

    def file_format(self) -> str:
        if self.reader.format:
            return self.reader.format
        suffix = Path(self.file).suffix.lower().lstrip(".")
        return {"xls": "xlsx", "jsonl": "ndjson", "txt": "csv", "tsv": "csv"}.get(suffix, suffix)

    def evolves(self, column: str) -> bool:
        """May `column` come and go between releases under `on_schema_change: evolve`? Yes
        for a column some gold output unpivots: one its `columns` pattern or list names, or,
        with no `columns`, any column but its index, the keys and the renamed ones."""
        fixed = {*self.key_columns, *self.renames, *self.renames.values()}
        for out in self.gold:
            u = out.unpivot
            if u is None:
                continue
            if isinstance(u.columns, str) and re.search(u.columns, column):
                return True
            if isinstance(u.columns, list) and column in u.columns:
                return True
            if (
                u.columns is None
                and column not in {*u.index, *fixed}
                and not column.startswith("_")
            ):
                return True
        return False

    def fingerprint(self) -> str:
        """Hash of everything that shapes the output, so a spec change makes a new batch."""
        # Policies that never change a table's content stay out: changing them reruns nothing.
        body = self.model_dump(mode="json", exclude=_NOT_FINGERPRINTED)
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def child_specs(spec: SourceSpec) -> list[SourceSpec]:
    """The derived source of each declared child table, its own children after it."""
    derived: list[SourceSpec] = []
    for child in spec.children:
        step = ItemStep(path=child.path, key=child.key_map(), items=child.items)
        reader = spec.reader.model_copy(update={"items": [*spec.reader.items, step]})
        own = dict(child.model_extra or {})
        types = {"_parent_row": "int", "_item_index": "int", **own.pop("types", {})}
        body = {
            **{f: getattr(spec, f) for f in _INHERITED},
            **own,
            "name": child.name,
            "file": spec.file,
            "reader": reader.model_dump(),
            "types": types,
            "children": [c.model_dump(by_alias=True) for c in child.children],
            "parent": spec.name,
            "spec_path": spec.spec_path,
        }
        try:
            made = SourceSpec.model_validate(body)
        except ValidationError as exc:
            raise ValueError(f"child table {child.name!r}: {exc}") from None
        derived += [made, *child_specs(made)]
    return derived


def with_children(specs: dict[str, SourceSpec]) -> dict[str, SourceSpec]:
    """Declared sources and the child tables they derive, each child a source of its own."""
    out = dict(specs)
    for spec in specs.values():
        for child in child_specs(spec):
            if child.name in out:
                raise SpecError(
                    f"child table {child.name!r} of {spec.name!r} has the name of another source"
                )
            out[child.name] = child
    return out


# Lists of rules merge entry by entry, by the key that identifies a rule; any other list
# (keys, null_markers, required_columns, lookups) is a plain value and the spec's replaces it.
def _expectation_key(entry: dict[str, Any]) -> str:
    return str(entry.get("id") or f"{entry.get('rule')}_{entry.get('column')}")


_RULE_LISTS: dict[str, Any] = {
    "expectations": _expectation_key,
    "gold": lambda entry: str(entry.get("table")),
    "foreign_keys": lambda entry: str(entry.get("column")),
    "checks": lambda entry: str(entry.get("id")),
}
REPLACE_FIELD = "replace"


def _merge_rule_list(
    key_of: Any, base: list[Any], override: list[Any], origin: str, field: str
) -> list[Any]:
    """Kind entries stay in place; a spec entry with the same key is merged into its entry
    (spec fields win), a new key is appended. Removing one takes `action: off` (expectations)
    or `replace: [<field>]`, so a check never vanishes because another was added."""
    if not all(isinstance(e, dict) for e in [*base, *override]):
        return override
    merged = {key_of(e): e for e in base}
    seen: set[str] = set()
    for entry in override:
        key = key_of(entry)
        if key in seen:
            raise SpecError(f"{origin}: {field} entry {key!r} is declared twice")
        seen.add(key)
        base_entry = merged.get(key, {})
        merged[key] = _deep_merge(base_entry, entry, origin, allow_replace=True)
    return list(merged.values())


_NOT_FINGERPRINTED = {"spec_path", "description", "history_retention"}


def _deep_merge(
    base: dict[str, Any], override: dict[str, Any], origin: str, allow_replace: bool = False
) -> dict[str, Any]:
    """The kind's template (`base`) completed by the spec (`override`): maps merge key by key,
    rule lists merge by rule key, other values are replaced; `replace: [field, ...]` in the
    spec (top level, or an entry of a rule list such as a gold output) takes those fields
    wholesale from the spec. Inside plain maps (`renames`) `replace` is an ordinary key."""
    override = dict(override)
    replace = (override.pop(REPLACE_FIELD, None) or []) if allow_replace else []
    if not isinstance(replace, list) or not all(isinstance(f, str) for f in replace):
        raise SpecError(f"{origin}: `replace` must be a list of field names")
    unknown = [f for f in replace if f not in override]
    if unknown:
        raise SpecError(f"{origin}: `replace` names {unknown}, which the spec does not declare")
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if key in replace:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(current, dict):
            merged[key] = _deep_merge(current, value, origin)
        elif key in _RULE_LISTS and isinstance(value, list) and isinstance(current, list):
            merged[key] = _merge_rule_list(_RULE_LISTS[key], current, value, origin, key)
        else:
            merged[key] = value
    return merged


# Both spellings of YAML's extension: a `my.yml` spec was skipped without a word, and the
# run then said only "unknown source".
SPEC_SUFFIXES = (".yaml", ".yml")


def spec_files(directory: Path) -> list[Path]:
    """The spec files of a directory (`*.yaml` and `*.yml`, not hidden ones such as an
    editor's `.#x.yaml`, as a shell glob would skip them), in name order."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in SPEC_SUFFIXES and not p.name.startswith(".") and not p.is_dir()
    )


def _find_kind(kind: str, spec_dirs: list[Path]) -> Path:
    candidates = [
        d / "kinds" / f"{kind}{suffix}" for d in reversed(spec_dirs) for suffix in SPEC_SUFFIXES
    ]
    candidates.append(PACKAGE_KINDS / f"{kind}.yaml")
    for path in candidates:
        if path.is_file():
            return path
    raise SpecError(f"unknown source kind {kind!r}: no kinds/{kind}.yaml in {spec_dirs}")


# libyaml when PyYAML has it: the pure-Python loader took 0.6 s of a small run's 1 s for the
# bundled specs (bench/RESULTS.md, fixed overhead).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# Values a spec may hold once YAML aliases are expanded. A 514-byte spec of nested aliases
# (a "billion laughs") is cheap to load, since the loader shares each aliased value, but
# expands to billions when a kind's params are substituted or the spec is merged and dumped:
# 3.9 GB, then a Rust panic. The shipped specs hold a few hundred values.
MAX_EXPANDED_VALUES = 100_000


def _expanded_size(value: Any, seen: dict[int, int]) -> int:
    """Values in `value` with every shared (aliased) part counted each time it is used, in
    time linear in the distinct parts."""
    known = seen.get(id(value))
    if known == -1:
        raise SpecError("an alias refers to itself (a recursive value): refused")
    if known is not None:
        return known
    seen[id(value)] = -1  # being counted
    if isinstance(value, dict):
        size = 1 + sum(_expanded_size(v, seen) for v in value.values())
    elif isinstance(value, list):
        size = 1 + sum(_expanded_size(v, seen) for v in value)
    else:
        size = 1
    seen[id(value)] = size
    return size


def _load_yaml(text: str) -> Any:
    loaded = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    size = _expanded_size(loaded, {})
    if size > MAX_EXPANDED_VALUES:
        raise SpecError(
            f"{size:,} values once its aliases are expanded (at most "
            f"{MAX_EXPANDED_VALUES:,}): refused as an alias bomb"
        )
    return loaded


def expand_kind(raw: dict[str, Any], spec_dirs: list[Path], origin: str) -> dict[str, Any]:
    """Fill a kind template with the spec's params, then let the spec's own fields win."""
    kind = raw.get("kind")
    if not kind:
        if REPLACE_FIELD in raw:
            raise SpecError(f"{origin}: `replace` only applies to a spec with a `kind`")
        return raw
    params = {"name": raw.get("name", ""), **raw.get("params", {})}
    text = _find_kind(kind, spec_dirs).read_text(encoding="utf-8")
    try:
        template = _load_yaml(Template(text).substitute(params)) or {}
    except KeyError as exc:
        raise SpecError(f"{origin}: kind {kind!r} needs param {exc.args[0]!r}") from exc
    return _deep_merge(template, raw, origin, allow_replace=True)


def parse_spec(raw: dict[str, Any], origin: str, spec_dirs: list[Path] | None = None) -> SourceSpec:
    """Expand the kind; `extra_gold` outputs come before the kind's own (dimensions first)."""
    extra = raw.pop("extra_gold", []) if isinstance(raw, dict) else []
    expanded = expand_kind(raw, spec_dirs or [], origin)
    expanded["gold"] = [*extra, *expanded.get("gold", [])]
    try:
        return SourceSpec.model_validate({**expanded, "spec_path": origin})
    except ValidationError as exc:
        raise SpecError(f"invalid source spec {origin}:\n{exc}") from exc


def load_spec_file(path: Path, spec_dirs: list[Path] | None = None) -> SourceSpec:
    try:
        raw = _load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a source spec must be a YAML mapping")
    return parse_spec(raw, str(path), spec_dirs)


def load_specs(extra_dirs: list[Path] | tuple[Path, ...] = ()) -> dict[str, SourceSpec]:
    """Shipped specs first, then each extra directory in order: a spec in a later directory adds
    a source or overrides the one of the same name from an earlier directory. Two files of one
    directory declaring the same name are an error naming both: which one wins would depend on
    file names, not on anything the user declared."""
    dirs = _distinct_dirs([PACKAGE_SPECS, *extra_dirs])
    specs: dict[str, SourceSpec] = {}
    for directory in dirs:
        if not directory.is_dir():
            raise SpecError(f"spec directory {directory} does not exist")
        in_dir: dict[str, str] = {}
        for path in spec_files(directory):
            spec = load_spec_file(path, list(dirs))
            if spec.name in in_dir:
                raise SpecError(
                    f"source {spec.name!r} is declared by two files of {directory}: "
                    f"{in_dir[spec.name]} and {path}; rename one, or move the override to a "
                    "later --specs directory"
                )
            in_dir[spec.name] = str(path)
            specs[spec.name] = spec
    specs = with_children(specs)
    _check_gold_tables_unique(specs)
    return specs


def _distinct_dirs(dirs: list[Path]) -> list[Path]:
    """A directory given twice is read once (at its last position, where it would win)."""
    last = {d.resolve(): d for d in dirs}
    keys = list(dict.fromkeys(reversed([d.resolve() for d in dirs])))
    return [last[k] for k in reversed(keys)]


def _check_gold_tables_unique(specs: dict[str, SourceSpec]) -> None:
    owner: dict[str, str] = {}
    for spec in specs.values():
        for out in spec.gold:
            if out.table in owner:
                raise SpecError(
                    f"gold table {out.table!r} is declared by both {owner[out.table]!r} "
                    f"and {spec.name!r}; each gold table has one source"
                )
            owner[out.table] = spec.name


def gold_owner(specs: dict[str, SourceSpec]) -> dict[str, str]:
    return {out.table: spec.name for spec in specs.values() for out in spec.gold}


def gold_dependencies(spec: SourceSpec, specs: dict[str, SourceSpec]) -> set[str]:
    """Sources whose gold tables this source's gold step reads (foreign keys, lookups); a
    deferred foreign key is checked after the run, so it orders nothing."""
    owners = gold_owner(specs)
    tables = {t for out in spec.gold for t in out.read_tables(deferred=False)}
    return {owners[t] for t in tables if t in owners and owners[t] != spec.name}


def gold_order(specs: dict[str, SourceSpec]) -> list[str]:
    """Sources in an order where every gold dependency comes first; a cycle is a spec error."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise SpecError(f"gold dependency cycle: {' -> '.join([*path, name])}")
        state[name] = 1
        for dep in sorted(gold_dependencies(specs[name], specs)):
            visit(dep, [*path, name])
        state[name] = 2
        order.append(name)

    for name in sorted(specs):
        visit(name, [])
    return order

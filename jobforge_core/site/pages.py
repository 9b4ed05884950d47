"""The site's HTML pages, as strings: every value from the catalog goes through `html.escape`.

Pages link to each other with relative URLs only, so the site works from `file://`, from
`jobforge docs --serve` and after being copied elsewhere.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from html import escape
from typing import Any

from jobforge_core.catalog.quality import REJECTED
from jobforge_core.common.config import Layer
from jobforge_core.common.models import (
    ColumnMetadata,
    ColumnSource,
    TableMetadata,
    TransitionStatus,
)
from jobforge_core.common.table_names import split_name
from jobforge_core.site.changes import changes_href
from jobforge_core.site.gather import SiteData
from jobforge_core.site.graph import Edge, Node, render_svg
from jobforge_core.sources.column_lineage import column_ref
from jobforge_core.sources.glossary import TermUse

LAYER_PAGES = {
    Layer.GOLD: "index.html",
    Layer.SILVER: "tables-silver.html",
    Layer.BRONZE: "tables-bronze.html",
    Layer.STAGED: "tables-staged.html",
}
NAV = [
    ("index.html", "Tables"),
    ("lineage.html", "Lineage"),
    ("model.html", "Model"),
    ("glossary.html", "Glossary"),
    ("quality.html", "Quality"),
]
FILE_PREFIX = "file:"


def slug(text: str) -> str:
    """A file name or fragment safe everywhere; distinct inputs that collide are rare (and
    `anchors` makes fragments unique per page)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def table_href(name: str, root: str = "") -> str:
    return f"{root}tables/{slug(name)}.html"


def term_anchor(term_id: str) -> str:
    return "term-" + slug(term_id)


def column_anchor(column: str) -> str:
    return "col-" + slug(column)


def ident(text: str) -> str:
    """An identifier as HTML that may break after `_` and `.` (never inside a word)."""
    return re.sub(r"(?<=\w)([_.])(?=\w)", r"\1<wbr>", escape(text))


def fmt_int(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def fmt_time(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC") if t else ""


def table_link(data: SiteData, name: str, root: str = "", fragment: str = "", css: str = "") -> str:
    """A link to a table's page; a table declared but not built yet has no page."""
    if name not in data.tables:
        return f'<code>{escape(name)}</code> <span class="muted">(not built)</span>'
    cls = f' class="{css}"' if css else ""
    anchor = f"#{fragment}" if fragment else ""
    return f'<a{cls} href="{table_href(name, root)}{anchor}">{escape(name)}</a>'


def pill(text: str, kind: str = "") -> str:
    return f'<span class="pill {escape(kind or text)}">{escape(text)}</span>'


def grid(
    headers: list[str], rows: Iterable[list[str]], numeric: Iterable[int] = (), id_: str = ""
) -> str:
    """A table; cells are HTML already (callers escape their text)."""
    num = set(numeric)
    head = "".join(
        f"<th{' class=num' if i in num else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in num else ''}>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    ident = f' id="{escape(id_)}"' if id_ else ""
    return f'<table class="grid"{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def page(
    title: str,
    body: str,
    *,
    root: str,
    here: str,
    generated: str,
    scripts: Iterable[str] = (),
    wide: bool = False,
) -> str:
    """A whole page; `wide` lets a graph use the window's full width."""
    nav = "".join(
        f'<a href="{root}{href}"{" class=here" if href == here else ""}>{escape(label)}</a>'
        for href, label in NAV
    )
    tags = "".join(f'<script src="{root}{escape(s)}"></script>' for s in scripts)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · JobForge catalog</title>"
        f'<link rel="stylesheet" href="{root}assets/site.css"></head><body>'
        f'<header><a class="brand" href="{root}index.html">JobForge catalog</a><nav>{nav}</nav>'
        f'<form class="search" action="{root}index.html" method="get" role="search">'
        '<input id="search" name="q" type="search" autocomplete="off" '
        'placeholder="Search tables, columns, descriptions, glossary" '
        'aria-label="Search"></form></header>'
        f"<main{' class=wide' if wide else ''}>{body}</main>"
        f"<footer>{escape(generated)}</footer>{tags}</body></html>\n"
    )


def _batch_info(data: SiteData, name: str) -> tuple[str, datetime | None]:
    chain = data.latest_transitions(name)
    batch = data.current_batch.get(name) or ""
    at = chain[-1].completed_at if chain else None
    return batch, at or data.tables[name].updated_at


# ---------------------------------------------------------------- tables


def _table_order(name: str) -> tuple[int, str]:
    """Dimensions, then facts, then the rest, aggregates last: what a reader looks for first."""
    for rank, prefix in enumerate(("dim_", "fact_")):
        if name.startswith(prefix):
            return rank, name
    return (3 if name.startswith("agg_") else 2), name


def _age(at: datetime | None, now: datetime) -> str:
    if at is None:
        return ""
    seconds = max(0, (now - at).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit}"
    return "now"


def health(data: SiteData, name: str, now: datetime) -> tuple[str, int, str]:
    """(status, rows quarantined, age) of the batch a table holds: `failed` when the source's
    latest attempt failed (the table keeps its previous batch), `partial` when rows of the
    batch were quarantined in any layer, else the batch's own status."""
    points = data.trend(name)
    current = next((p for p in points if p.current), points[-1] if points else None)
    source = data.sources.get(name)
    attempts = [log for log in data.logs if log.source_name == source]
    status = current.status if current else ""
    if attempts and attempts[-1].status is TransitionStatus.FAILED:
        status = "failed"
    lost = sum(q.rows for q in data.batch_quarantine(name))
    if lost and status == "success":
        status = "partial"
    return status, lost, _age(_batch_info(data, name)[1], now)


def tables_page(data: SiteData, layer: Layer, generated: str) -> str:
    """One row per table with its health first (status, quarantined rows, age of its batch);
    governance fields every table shares are said once above the list, not on every row."""
    metas = sorted(
        (m for m in data.tables.values() if m.layer is layer),
        key=lambda m: _table_order(m.table_name),
    )
    counts = defaultdict(int)
    for m in data.tables.values():
        counts[m.layer] += 1
    switch = " ".join(
        f'<a href="{LAYER_PAGES[lyr]}"{" class=here" if lyr is layer else ""}>'
        f"{escape(lyr.value)} ({counts[lyr]})</a>"
        for lyr in (Layer.GOLD, Layer.SILVER, Layer.BRONZE, Layer.STAGED)
    )
    governance = {"owner": "data_owner", "steward": "data_steward"}
    governance["classification"] = "classification"
    shared = {
        label: getattr(metas[0], attr)
        for label, attr in governance.items()
        if metas and len({getattr(m, attr) for m in metas}) == 1
    }
    varying = [(label, attr) for label, attr in governance.items() if label not in shared]
    now = datetime.now(UTC)
    rows = []
    for m in metas:
        batch, at = _batch_info(data, m.table_name)
        status, lost, age = health(data, m.table_name, now)
        rows.append(
            [
                f'<a class="table-link" href="{table_href(m.table_name)}">'
                f"{escape(m.table_name)}</a>",
                f"{pill(status) if status else ''} "
                f'<span title="rows quarantined from its batch, every layer">'
                f"{fmt_int(lost)} q</span> "
                f'<span class="muted" title="{escape(fmt_time(at))}">{escape(age)}</span>',
                escape(m.domain),
                fmt_int(m.row_count),
                fmt_int(m.column_count),
                escape(m.description),
                *(escape(getattr(m, attr)) for _, attr in varying),
                f'<code title="{escape(fmt_time(at))}">{escape(batch)}</code>',
            ]
        )
    headers = [
        "table",
        "health",
        "domain",
        "rows",
        "columns",
        "description",
        *(label for label, _ in varying),
        "last batch",
    ]
    common = "; ".join(f"{label}: {escape(value)}" for label, value in shared.items())
    body = (
        f"<h1>{escape(layer.value.capitalize())} tables</h1>"
        f'<p class="lead">{len(metas)} {escape(layer.value)} table(s) in '
        f"<code>{escape(str(data.data_root))}</code>. Layers: "
        f'<span class="layers">{switch}</span></p>'
        + (f'<p id="governance">Every table here: {common}.</p>' if common else "")
        + '<section id="search-results" hidden></section>'
        + grid(headers, rows, numeric=(3, 4), id_="tables")
    )
    scripts = ["assets/search-index.js", "assets/site.js"] if layer is Layer.GOLD else []
    return page(
        f"{layer.value} tables",
        body,
        root="",
        here="index.html",
        generated=generated,
        scripts=scripts,
    )


def search_index(data: SiteData) -> str:
    """Compact entries: [name, url, kind, layer, name, description, columns, column
    descriptions, glossary terms]; the script weighs the fields in this order."""
    terms = {t.term_id: t for t in data.glossary}
    entries: list[list[str]] = []
    for m in sorted(data.tables.values(), key=lambda m: (m.layer is not Layer.GOLD, m.table_name)):
        used = sorted({c.glossary_term_id for c in m.columns if c.glossary_term_id})
        entries.append(
            [
                m.table_name,
                table_href(m.table_name),
                "table",
                m.layer.value,
                m.table_name,
                m.description,
                " ".join(c.name for c in m.columns),
                " · ".join(c.description for c in m.columns if c.description),
                " · ".join(terms[t].term for t in used if t in terms),
            ]
        )
    for t in data.glossary:
        entries.append(
            [
                "" + t.term,
                f"glossary.html#{term_anchor(t.term_id)}",
                "term",
                "",
                t.term,
                t.definition,
                "",
                "",
                t.category,
            ]
        )
    fields = [
        {"label": "name", "weight": 8},
        {"label": "description", "weight": 4},
        {"label": "column", "weight": 3},
        {"label": "column description", "weight": 1},
        {"label": "glossary", "weight": 2},
    ]
    payload = json.dumps(
        {"fields": fields, "entries": entries}, ensure_ascii=False, separators=(",", ":")
    )
    # `</` cannot close a script element from inside a string.
    return "window.JOBFORGE_INDEX = " + payload.replace("</", "<\\/") + ";\n"


# ---------------------------------------------------------------- lineage graphs


def _node_for(data: SiteData, name: str, root: str) -> Node:
    if name.startswith(FILE_PREFIX):
        file = name[len(FILE_PREFIX) :]
        staged = next((t for t in data.downstream.get(name, []) if t in data.tables), None)
        return Node(
            id=name,
            label=file,
            sublabel="source file",
            kind="file",
            href=f"{table_href(staged, root)}#source" if staged else None,
            min_rank=0,
        )
    meta = data.tables.get(name)
    layer = meta.layer if meta else split_name(name)[0]
    rank = list(Layer).index(layer) + 1
    return Node(
        id=name,
        label=name,
        sublabel=f"{layer.value} · {fmt_int(meta.row_count)} rows" if meta else layer.value,
        kind=layer.value,
        href=table_href(name, root) if meta else None,
        min_rank=rank,
        title=(meta.description if meta else "") or name,
    )


def lineage_edges(data: SiteData) -> list[tuple[str, str]]:
    return data.edges


def _edge_kind(data: SiteData, a: str, b: str) -> str:
    if data.layer_of(a) is Layer.GOLD and data.layer_of(b) is Layer.GOLD:
        return "fk" if (a, b) in data.foreign_key_pairs else "lookup"
    return ""


def lineage_svg(
    data: SiteData, names: set[str] | None, root: str, focus: str = "", ident: str = "all"
) -> str:
    if names is None:
        edges = lineage_edges(data)
    else:
        edges = [(a, b) for a in names for b in data.downstream.get(a, []) if b in names]
    ids = set(names) if names is not None else {x for e in edges for x in e} | set(data.tables)

    # Starting order: by source, then layer, so each chain starts on one line.
    def key(n: str) -> tuple[str, int, str]:
        if n.startswith(FILE_PREFIX):
            down = data.downstream.get(n, [])
            return (data.sources.get(down[0], n) if down else n, 0, n)
        return (data.sources.get(n, n), list(Layer).index(data.layer_of(n)) + 1, n)

    nodes = [_node_for(data, n, root) for n in sorted(ids, key=key)]
    for node in nodes:
        if node.id == focus:
            node.kind += " focus"
    return render_svg(
        nodes,
        [Edge(a, b, kind=_edge_kind(data, a, b)) for a, b in edges],
        css_class="graph",
        focus=focus,
        ident=ident,
    )


def graph_box(id_: str, views: list[tuple[str, str, str]], hint: str = "") -> str:
    """A graph with its tools: one pre-laid-out SVG per view (`key, label, svg`), the first
    shown; assets/graph.js adds zoom, pan, focus on click and the view switch."""
    buttons = "".join(
        f'<button type="button" data-view="{escape(key)}"'
        f"{' class=on' if i == 0 else ''}>{escape(label)}</button>"
        for i, (key, label, _) in enumerate(views)
    )
    tools = (
        '<div class="graph-tools">'
        + (f'<span class="views">{buttons}</span>' if len(views) > 1 else "")
        + '<span class="zoom"><button type="button" data-zoom="in" title="zoom in">+</button>'
        '<button type="button" data-zoom="out" title="zoom out">&minus;</button>'
        '<button type="button" data-zoom="fit" title="the whole graph">fit</button></span>'
        '<span class="graph-sel muted">'
        + escape(
            hint
            or "Click a box to focus it and its neighbours; drag to pan, Ctrl+wheel or +/− to zoom."
        )
        + "</span></div>"
    )
    bodies = "".join(
        f'<div class="graph-view" data-view="{escape(key)}"{"" if i == 0 else " hidden"}>'
        f"{svg}</div>"
        for i, (key, _, svg) in enumerate(views)
    )
    return f'<div class="graph-box" id="{escape(id_)}">{tools}{bodies}</div>'


def gold_names(data: SiteData, names: Iterable[str] | None = None) -> set[str]:
    pool = data.tables if names is None else names
    return {n for n in pool if n in data.tables and data.tables[n].layer is Layer.GOLD}


def related(data: SiteData, name: str) -> set[str]:
    """The table, everything upstream of it (to the source files) and everything downstream."""
    up, down = data.upstream, data.downstream
    seen = {name}
    for graph in (up, down):
        todo = [name]
        while todo:
            for nxt in graph.get(todo.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
    return seen


def lineage_page(data: SiteData, generated: str) -> str:
    n_files = len({a for a, _ in lineage_edges(data) if a.startswith(FILE_PREFIX)})
    body = (
        "<h1>Lineage</h1>"
        f'<p class="lead">Every source file through staged, bronze and silver to the gold '
        f"tables ({n_files} file(s), {len(data.tables)} table(s)). Blue edges are foreign keys "
        "(a dimension checked by a fact), dashed ones lookups. Click a box to focus it and its "
        "neighbours, again to open its page; <em>around this table</em> keeps only what it "
        "comes from and what it feeds.</p>"
        '<p class="legend">'
        + "".join(
            f"<span>{pill(text, kind)}</span>"
            for text, kind in (
                ("source file", "file"),
                ("staged", ""),
                ("bronze", ""),
                ("silver", ""),
                ("gold", ""),
            )
        )
        + "</p>"
        + graph_box(
            "lineage-graph",
            [
                ("all", "all layers", lineage_svg(data, None, "", ident="all")),
                ("gold", "gold only", lineage_svg(data, gold_names(data), "", ident="gold")),
            ],
        )
    )
    return page(
        "Lineage",
        body,
        root="",
        here="lineage.html",
        generated=generated,
        wide=True,
        scripts=["assets/graph.js"],
    )


# ---------------------------------------------------------------- model (ER diagram)


def model_svg(data: SiteData) -> str:
    gold = {n: m for n, m in data.tables.items() if m.layer is Layer.GOLD}
    grains = {n: t.get("grain") or [] for n, t in data.model.get("tables", {}).items()}
    rels = [r for r in data.relationships if r["table"] in gold and r["referenced_table"] in gold]
    fk_cols: dict[str, dict[str, str]] = defaultdict(dict)
    ref_cols: dict[str, set[str]] = defaultdict(set)
    for r in rels:
        fk_cols[r["table"]][r["column"]] = r["referenced_table"]
        ref_cols[r["referenced_table"]].add(r["referenced_column"])
    nodes = []
    for name in sorted(gold, key=lambda n: (not n.startswith("dim_"), n)):
        meta = gold[name]
        keys = list(dict.fromkeys([*grains.get(name, []), *sorted(ref_cols[name]), *fk_cols[name]]))
        types = {c.name: c.data_type for c in meta.columns}
        rows = []
        for col in keys:
            marks = ["PK"] * (col in grains.get(name, [])) + ["FK"] * (col in fk_cols[name])
            rows.append((col, " ".join([*marks, f"{col}: {types.get(col, '?')}"])))
        shown = set(keys)
        rest = [c.name for c in meta.columns if c.name not in shown and not c.name.startswith("_")]
        if rest:
            more = ", ".join(rest[:3]) + (f" +{len(rest) - 3} more" if len(rest) > 3 else "")
            rows.append(("", more))
        nodes.append(
            Node(
                id=name,
                label=name,
                sublabel=f"{data.model.get('tables', {}).get(name, {}).get('model', '')} · "
                f"{fmt_int(meta.row_count)} rows",
                kind="gold",
                href=table_href(name),
                rows=rows,
                title=meta.description or name,
            )
        )
    edges = [
        Edge(
            r["referenced_table"],
            r["table"],
            kind="fk",
            src_row=r["referenced_column"],
            dst_row=r["column"],
            label=f"{r['table']}.{r['column']} -> {r['referenced_table']}."
            f"{r['referenced_column']} ({r.get('cardinality', '')})",
        )
        for r in rels
    ]
    return render_svg(nodes, edges, css_class="graph er", ident="model")


def model_page(data: SiteData, generated: str) -> str:
    rels = data.relationships
    rows = [
        [
            table_link(data, r["table"]),
            f"<code>{escape(r['column'])}</code>",
            table_link(data, r["referenced_table"]),
            f"<code>{escape(r['referenced_column'])}</code>",
            escape(r.get("cardinality", "")),
        ]
        for r in rels
    ]
    n_gold = sum(m.layer is Layer.GOLD for m in data.tables.values())
    body = (
        "<h1>Model</h1>"
        f'<p class="lead">The gold star schema: {n_gold} table(s), {len(rels)} foreign key(s). '
        "Each box lists the grain (PK), the foreign keys (FK) and the columns they reference; "
        "an arrow goes from a dimension's key to the column of the table that refers to it.</p>"
        + graph_box("model-graph", [("all", "gold tables", model_svg(data))])
        + "<h2>Foreign keys</h2>"
        + grid(
            ["table", "column", "references", "column", "cardinality"], rows, id_="relationships"
        )
    )
    return page(
        "Model",
        body,
        root="",
        here="model.html",
        generated=generated,
        wide=True,
        scripts=["assets/graph.js"],
    )


# ---------------------------------------------------------------- glossary


def glossary_use(data: SiteData) -> dict[str, list[tuple[str, str]]]:
    used: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for m in sorted(data.tables.values(), key=lambda m: (m.layer is not Layer.GOLD, m.table_name)):
        for c in m.columns:
            if c.glossary_term_id:
                used[c.glossary_term_id].append((m.table_name, c.name))
    return used


def _term_use_link(use: Any) -> str:
    href = f"{table_href(use.table_name)}#{column_anchor(use.column_name)}"
    if use.value is None:
        return f'<a href="{href}">{escape(use.table_name)}.{escape(use.column_name)}</a>'
    rows = "rows" if use.row_count is None else f"{fmt_int(use.row_count)} row(s)"
    where = f"{use.column_name} = '{use.value}'"
    return (
        f'<a href="{href}" title="{escape(where)}">{escape(use.table_name)}</a>'
        f'&nbsp;<span class="muted">{rows}</span>'
    )


def _term_uses(t: Any, columns: list[tuple[str, str]]) -> str:
    """Gold columns and rows first, one a line; the wide staged/bronze/silver columns folded
    under one line. `columns`: the tables' own links, for a catalog built before `used_by`."""
    uses = list(t.used_by) or [TermUse(table_name=table, column_name=col) for table, col in columns]
    if not uses:
        return '<span class="muted">not used by a column or a row</span>'
    gold = [u for u in uses if "." not in u.table_name]
    other = [u for u in uses if "." in u.table_name]
    lines = [_term_use_link(u) for u in gold]
    if other:
        inner = "<br>".join(_term_use_link(u) for u in other)
        summary = f"+{len(other)} upstream column(s)"
        lines.append(f"<details><summary>{summary}</summary>{inner}</details>")
    return "<br>".join(lines)


def glossary_page(data: SiteData, generated: str) -> str:
    used = glossary_use(data)
    terms = sorted(data.glossary, key=lambda t: (t.category, t.term.lower()))
    blocks = []
    for t in terms:
        blocks.append(
            [
                f'<a id="{term_anchor(t.term_id)}"></a><strong>{escape(t.term)}</strong>'
                f'<br><code class="muted">{escape(t.term_id)}</code>',
                escape(t.category),
                escape(t.definition),
                escape(t.source),
                _term_uses(t, used.get(t.term_id, [])),
            ]
        )
    body = (
        "<h1>Glossary</h1>"
        f'<p class="lead">{len(terms)} term(s): OaSIS descriptors from the descriptor guide, '
        "column terms from the specs and the provenance columns, each with the gold columns "
        "and rows that use it (a descriptor is a row of dim_oasis_descriptor and of the facts), "
        "then the staged, bronze and silver columns.</p>"
        + grid(["term", "category", "definition", "source", "used in"], blocks, id_="glossary")
    )
    return page("Glossary", body, root="", here="glossary.html", generated=generated)


# ---------------------------------------------------------------- quality


# What a rule's action means for the rows it counted: quarantined (an error in the data),
# kept with a warning, or an intended, declared correction (a recode, an unpivot's reshape).
SEVERITY = {
    "cast": "error",
    "drop": "error",
    "fk": "error",
    "fail": "error",
    "warn": "warning",
    "recode": "intended",
    "reshape": "intended",
}
SEVERITY_LABELS = {
    "error": "Errors: rows quarantined",
    "warning": "Warnings: rows kept, a rule flagged them",
    "intended": "Intended corrections: declared recodes and reshapes",
    "other": "Other rules",
}


def severity(action: str) -> str:
    return SEVERITY.get(action, "other")


def _quality_holder(data: SiteData, q: Any) -> str:
    """The page that shows a rule's rows: the gold table, else the layer's table."""
    if q.layer == Layer.GOLD.value:
        return q.table_name if q.table_name in data.tables else ""
    name = f"{q.layer}.{q.table_name}"
    return name if name in data.tables else ""


def _quality_count(data: SiteData, q: Any, rows: int, samples: set[tuple]) -> str:
    """A count, coloured by severity and linked to the sample rows where there are some."""
    text = f'<span class="sev-{severity(q.action)}">{fmt_int(rows)}</span>'
    if not rows:
        return "0"
    holder = _quality_holder(data, q)
    if (q.layer, q.table_name, q.batch_id, q.rule) in samples and holder:
        href = table_href(holder) + "#" + quarantine_anchor(q.batch_id, q.rule)
        return f'<a class="sample" href="{href}" title="sample rows">{text}</a>'
    if holder:
        return f'<a href="{table_href(holder)}" title="the table">{text}</a>'
    return text


def _batch_cell(data: SiteData, q: Any, rows: int, samples: set[tuple]) -> str:
    """A rule's count in one batch; a batch that failed as a whole reads "rejected", never 0."""
    count = _quality_count(data, q, rows, samples)
    if q.rule != REJECTED:
        return count
    return '<span class="sev-error">rejected</span>' + (f" ({count})" if rows else "")


def _quality_summary(data: SiteData, by_source: dict[str, list[Any]], samples: set) -> str:
    """The latest batch of every source: the rules that caught rows, by severity."""
    found: dict[str, list[list[str]]] = defaultdict(list)
    checks = 0
    for source in sorted(by_source):
        records = by_source[source]
        latest = max(records, key=lambda q: q.checked_at).batch_id
        for q in records:
            if q.batch_id != latest:
                continue
            checks += 1
            if not q.rows:
                continue
            holder = _quality_holder(data, q)
            share = q.share_of_rows_in
            share = "" if share is None else ("<0.1%" if 0 < share < 0.001 else f"{share:.1%}")
            found[severity(q.action)].append(
                [
                    escape(source),
                    pill(q.layer),
                    table_link(data, holder) if holder else escape(q.table_name),
                    f"<code>{escape(q.rule)}</code> <span class=muted>{escape(q.action)}</span>",
                    _quality_count(data, q, q.rows, samples),
                    share,
                ]
            )
    counts = ", ".join(
        f'<span class="sev-{sev}">{sum(len(r) for r in [found[sev]])} '
        f"{SEVERITY_LABELS[sev].split(':')[0].lower()}</span>"
        for sev in ("error", "warning", "intended")
    )
    head = (
        f'<p id="quality-counts">In the latest batch of each source ({len(by_source)} '
        f"source(s), {fmt_int(checks)} rule check(s)), rules that caught rows: {counts}. "
        "Every other check caught 0 rows. A number links to the quarantined rows' sample "
        "(or to the table when the rows were kept).</p>"
    )
    blocks = []
    for sev in ("error", "warning", "intended", "other"):
        if not found[sev]:
            continue
        blocks.append(
            f'<h3 class="sev-{sev}" id="summary-{sev}">{escape(SEVERITY_LABELS[sev])} '
            f"({len(found[sev])})</h3>"
            + grid(
                ["source", "layer", "table", "rule", "rows", "share of rows in"],
                found[sev],
                numeric=(4, 5),
                id_=f"summary-{sev}-table",
            )
        )
    if not blocks:
        blocks.append("<p>No rule caught a row in the latest batch of any source.</p>")
    return '<h2 id="summary">Summary</h2>' + head + "".join(blocks)


def quality_page(data: SiteData, generated: str) -> str:
    by_source: dict[str, list[Any]] = defaultdict(list)
    for q in data.quality:
        by_source[q.source].append(q)
    samples = {(q.layer, q.table_name, q.batch_id, q.reason) for q in data.quarantine}
    sections = []
    for source in sorted(by_source):
        records = by_source[source]
        batches = list(
            dict.fromkeys(q.batch_id for q in sorted(records, key=lambda q: q.checked_at))
        )
        cells: dict[tuple[str, str, str, str], dict[str, int]] = defaultdict(dict)
        first: dict[tuple[str, str, str, str], dict[str, Any]] = defaultdict(dict)
        for q in records:
            key = (q.layer, q.table_name, q.rule, q.action)
            cells[key][q.batch_id] = q.rows  # one record per batch: a re-run is not added
            first[key].setdefault(q.batch_id, q)
        order = {lyr.value: i for i, lyr in enumerate(Layer)}
        rows, zero = [], []
        for key in sorted(cells, key=lambda k: (order.get(k[0], 9), k[1], k[2])):
            layer, table, rule, action = key
            if not any(cells[key].values()) and rule != REJECTED:  # a rejection is never "0"
                zero.append(
                    f"<code>{escape(rule)}</code> <span class=muted>({escape(layer)})</span>"
                )
                continue
            counts = [
                _batch_cell(data, first[key][b], cells[key][b], samples) if b in cells[key] else ""
                for b in batches
            ]
            rows.append(
                [
                    escape(layer),
                    escape(table),
                    f"<code>{escape(rule)}</code>",
                    f'<span class="sev-{severity(action)}">{escape(action)}</span>',
                    *counts,
                ]
            )
        rejected = {q.batch_id for q in records if q.batch_status == "rejected"}
        headers = [
            "layer",
            "table",
            "rule",
            "action",
            *(f"{b} (rejected)" if b in rejected else b for b in batches),
        ]
        table = (
            '<div class="scroll">'
            + grid(headers, rows, numeric=range(4, 4 + len(batches)))
            + "</div>"
            if rows
            else ""
        )
        zeros = (
            f'<p class="zeros muted">0 rows in every batch ({len(zero)} check(s)): '
            + ", ".join(zero)
            + "</p>"
            if zero
            else ""
        )
        said = (
            f"{len(batches)} batch(es), oldest first; the rules that caught rows in some batch "
            "(blank: the rule did not run for that batch)."
            if rows
            else f"{len(batches)} batch(es); no rule caught a row."
        )
        sections.append(
            f'<h3 id="source-{slug(source)}">{escape(source)}</h3>'
            f'<p class="muted">{said}</p>' + table + zeros
        )
    files = []
    for f in data.failed_files:
        e = f.error
        files.append(
            f'<h3 id="file-{slug(f.batch_id)}"><code>{escape(f.batch_id)}</code> '
            f"{pill('failed')}</h3>"
            + '<table class="fields">'
            + "".join(
                f"<tr><th>{escape(k)}</th><td>{escape(str(e.get(k, '')))}</td></tr>"
                for k in ("layer", "exception", "message", "file", "row", "column")
                if e.get(k) not in (None, "")
            )
            + f"<tr><th>folder</th><td><code>{escape(f.folder)}</code> "
            + (f"({escape(', '.join(f.files))})" if f.files else "")
            + "</td></tr></table>"
            + f'<p><a href="files/{slug(f.batch_id)}/error.json">error.json</a></p>'
            + f"<pre>{escape(f.text)}</pre>"
        )
    body = (
        "<h1>Quality</h1>"
        f'<p class="lead">What the rules caught, summary first: errors (rows quarantined), '
        "warnings (rows kept) and intended corrections (declared recodes and reshapes, which "
        "are not errors), then every file that failed as a whole, then each source's rules per "
        f"batch ({len(data.quality)} check(s) in {len(by_source)} source(s)).</p>"
        + (_quality_summary(data, by_source, samples) if by_source else "")
        + '<h2 id="failed-files">Failed files</h2>'
        + ("".join(files) or "<p>No file in quarantine.</p>")
        + '<h2 id="by-source">Rules per source and batch</h2>'
        + ("".join(sections) or "<p>No transitions logged yet.</p>")
    )
    return page("Quality", body, root="", here="quality.html", generated=generated)


# ---------------------------------------------------------------- one table


_COLUMN_SETS: dict[int, tuple[TableMetadata, frozenset[str]]] = {}


def _has_column(meta: TableMetadata, column: str) -> bool:
    """A set of names per table, built once: a scan of every column per link made a wide
    table's pages quadratic (20,000 columns: most of a 61 s catalog rebuild)."""
    held = _COLUMN_SETS.get(id(meta))
    if held is None or held[0] is not meta:
        if len(_COLUMN_SETS) > 10_000:
            _COLUMN_SETS.clear()
        held = _COLUMN_SETS[id(meta)] = (meta, frozenset(c.name for c in meta.columns))
    return column in held[1]


def _column_link(data: SiteData, table: str, column: str, ref: str, root: str) -> str:
    meta = data.tables.get(table)
    if meta is None:
        return f'<code data-ref="{escape(ref)}">{escape(column)}</code>'
    href = table_href(table, root)
    if _has_column(meta, column):
        href += f"#{column_anchor(column)}"
    return f'<a data-ref="{escape(ref)}" href="{href}">{ident(column)}</a>'


def _source_column_html(data: SiteData, column: ColumnMetadata, root: str) -> str:
    """The column's inputs as the lineage model gives them (the same as the OpenLineage
    events): grouped by input table, each input column linked to its row upstream, how it is
    used (a transformation, a window, a join) on the table line and in the tooltip."""
    if not column.lineage:  # a catalog written before `lineage` existed
        return "<br>".join(
            f'<code data-ref="{escape(r)}">{escape(r)}</code>' for r in column.source_columns
        )
    groups: dict[str, list[ColumnSource]] = defaultdict(list)
    for source in column.lineage:
        groups[source.table].append(source)
    out = []
    for table, sources in groups.items():
        if table.startswith(FILE_PREFIX):
            head = f"{pill('file')} <code>{escape(table[len(FILE_PREFIX) :])}</code>"
        elif table in data.tables:
            head = f'<a href="{table_href(table, root)}">{ident(table)}</a>'
        else:
            head = f"<code>{escape(table)}</code>"
        kinds = sorted({s.subtype.lower() for s in sources if s.subtype != "IDENTITY"})
        how = f' <span class="muted">{escape(", ".join(kinds))}</span>' if kinds else ""
        links = ", ".join(
            f'<span title="{escape(f"{s.type} {s.subtype}: {s.description}".strip(": "))}">'
            + _column_link(data, table, s.column, column_ref(s), root)
            + "</span>"
            for s in sources
        )
        out.append(f"{head}{how}: {links}")
    return "<br>".join(out)


def _columns_html(data: SiteData, meta: TableMetadata) -> str:
    terms = {t.term_id: t for t in data.glossary}
    fks = {r["column"]: r for r in data.relationships if r["table"] == meta.table_name}
    grain = set(grain_of(data, meta.table_name))
    rows = []
    for c in meta.columns:
        term = terms.get(c.glossary_term_id or "")
        link = (
            f'<a href="../glossary.html#{term_anchor(term.term_id)}">{escape(term.term)}</a>'
            if term
            else ""
        )
        fk = fks.get(c.name)
        pk_html = (
            '<br><span class="pill pk" title="part of the grain">PK</span>'
            if c.name in grain
            else ""
        )
        fk_html = (
            "<br>FK &rarr; "
            + table_link(
                data,
                fk["referenced_table"],
                "../",
                column_anchor(fk["referenced_column"]),
                css="fk",
            )
            + f".<code>{escape(fk['referenced_column'])}</code>"
            if fk
            else ""
        )
        rows.append(
            [
                f'<a id="{column_anchor(c.name)}"></a><code>{ident(c.name)}</code>{pk_html}'
                f"{fk_html}",
                f"<code>{escape(c.data_type)}</code>",
                "yes" if c.nullable else "no",
                escape(c.description),
                link,
                ", ".join(f"<code>{escape(v)}</code>" for v in c.example_values),
                _source_column_html(data, c, "../"),
            ]
        )
    headers = ["column", "type", "nullable", "description", "glossary", "examples", "source"]
    return grid(headers, rows, id_="columns")


def _table_links(names: Iterable[str], data: SiteData) -> str:
    out = []
    for n in names:
        if n.startswith(FILE_PREFIX):
            out.append(f"{pill('file')} <code>{escape(n[len(FILE_PREFIX) :])}</code>")
        elif n in data.tables:
            out.append(
                f'{pill(data.layer_of(n).value)} <a href="{table_href(n, "../")}">{escape(n)}</a>'
            )
        else:
            out.append(f"<code>{escape(n)}</code> <span class=muted>(not built)</span>")
    return "<br>".join(out) or '<span class="muted">none</span>'


def _transitions_html(data: SiteData, name: str) -> str:
    chain = data.latest_transitions(name)
    if not chain:
        return "<p>No transition logged for the batch this table holds.</p>"
    first = chain[0]
    table = split_name(name)[1]
    rows = []
    for log in chain:
        gold = log.target_layer is Layer.GOLD
        out = log.rows_by_table.get(table, log.row_count_out) if gold else log.row_count_out
        run = (
            f'<a href="{escape(log.flow_run_url)}">flow run</a>'
            if log.flow_run_url
            else escape(log.flow_run_id or "")
        )
        rows.append(
            [
                f"{escape(log.source_layer)} &rarr; {escape(log.target_layer.value)}",
                fmt_int(log.row_count_in),
                fmt_int(out),
                fmt_int(log.row_count_quarantined),
                pill(log.status.value),
                escape(fmt_time(log.completed_at)),
                run,
            ]
        )
    files = ", ".join(escape(f) for f in first.source_files)
    return (
        f'<table class="fields" id="source"><tr><th>source file</th><td><code>{files}</code>'
        f"</td></tr><tr><th>SHA-256</th><td><code>{escape(first.source_sha256 or '')}</code>"
        f"</td></tr><tr><th>batch</th><td><code>{escape(first.batch_id)}</code></td></tr>"
        "</table>"
        + grid(
            ["transition", "rows in", "rows out", "quarantined", "status", "completed", "run"],
            rows,
            numeric=(1, 2, 3),
            id_="transitions",
        )
    )


def _trend_html(data: SiteData, name: str) -> str:
    points = data.trend(name)
    if len(points) < 2:
        return (
            f"<p class=muted>{len(points)} batch(es) so far: the trend appears when a second "
            "batch has been loaded.</p>"
        )
    top = max(max(p.rows, p.quarantined) for p in points) or 1
    bars = "".join(
        f'<div title="{escape(p.batch_id)}: {p.rows} rows" '
        f'style="height:{max(2, 90 * p.rows / top):.0f}px"></div>'
        f'<div class="q" title="{escape(p.batch_id)}: {p.quarantined} quarantined" '
        f'style="height:{max(1, 90 * p.quarantined / top):.0f}px"></div>'
        for p in points
    )
    rows = [
        [
            f"<code>{escape(p.batch_id)}</code>",
            escape(fmt_time(p.at)),
            fmt_int(p.rows),
            fmt_int(p.quarantined),
            pill(p.status),
            "current" if p.current else ("kept" if p.kept else ""),
        ]
        for p in points
    ]
    return (
        '<div class="bars" id="trend-bars">' + bars + "</div>"
        '<p class="legend"><span>blue: rows</span><span>red: rows quarantined</span></p>'
        + grid(
            ["batch", "at", "rows", "quarantined", "status", "version"],
            rows,
            numeric=(2, 3),
            id_="trend",
        )
    )


def quarantine_anchor(batch: str, reason: str) -> str:
    return f"q-{slug(batch)}-{slug(reason)}"


def _upstream_quarantine_html(data: SiteData, name: str) -> str:
    """What the batch this table holds lost in every layer up to this one, by layer and rule,
    each linked to the sample rows on the page of the table that quarantined them."""
    counts = data.batch_quarantine(name)
    batch = data.current_batch.get(name) or ""
    if not counts:
        return (
            "<p>No row of the batch this table holds was quarantined "
            f"(batch <code>{escape(batch)}</code>, every layer up to this one).</p>"
        )
    layer, table = split_name(name)
    rows = []
    for q in counts:
        holder = name if q.layer == layer.value else f"{q.layer}.{q.table_name}"
        href = table_href(holder, "../") + "#" + quarantine_anchor(q.batch_id, q.reason)
        rows.append(
            [
                pill(q.layer),
                f"<code>{escape(q.reason)}</code>",
                fmt_int(q.rows),
                f'<a class="sample" href="{href}">sample rows</a>',
            ]
        )
    total = sum(q.rows for q in counts)
    return (
        f"<p><strong>{fmt_int(total)} row(s)</strong> of the batch this table holds "
        f"(<code>{escape(batch)}</code>) were quarantined on the way here; the table was "
        "published without them.</p>"
        + grid(["layer", "rule", "rows", ""], rows, numeric=(2,), id_="quarantine-upstream")
    )


def _quarantine_html(data: SiteData, name: str) -> str:
    groups = data.quarantine_groups(name)
    upstream = _upstream_quarantine_html(data, name)
    if not groups:
        return upstream + "<p class=muted>No row of this table itself is in quarantine.</p>"
    summary = grid(
        ["batch", "reason", "rows", "file"],
        [
            [
                f"<code>{escape(g.batch_id)}</code>",
                f'<a href="#{quarantine_anchor(g.batch_id, g.reason)}">'
                f"<code>{escape(g.reason)}</code></a>",
                fmt_int(g.rows),
                f"<code>{escape(g.file_path)}</code>",
            ]
            for g in groups
        ],
        numeric=(2,),
        id_="quarantine",
    )
    samples = "".join(
        f'<h3 id="{quarantine_anchor(g.batch_id, g.reason)}">{escape(g.reason)} '
        f"<span class=muted>({fmt_int(g.rows)} row(s), batch "
        f"<code>{escape(g.batch_id)}</code>)</span></h3>"
        '<div class="scroll">'
        + grid(g.columns, [[escape(str(r.get(c, ""))) for c in g.columns] for r in g.sample])
        + "</div>"
        for g in groups
    )
    return upstream + "<h3>Quarantined from this table, by batch</h3>" + summary + samples


def _table_graph(data: SiteData, name: str) -> str:
    """The table's lineage around it (to the source files and down to what it feeds), and the
    gold tables among them (the star this table belongs to)."""
    around = related(data, name)
    views = [("around", "around this table", lineage_svg(data, around, "../", name, "around"))]
    gold = gold_names(data, around)
    if len(gold) > 1:
        views.append(("gold", "gold only", lineage_svg(data, gold, "../", name, "gold")))
    return graph_box("table-lineage", views)


RECORD_GRAIN = ("_source_file", "_source_row")


def grain_of(data: SiteData, name: str) -> list[str]:
    """The columns one row is unique on: a gold table's declared grain (its primary key), or
    for the layers before gold the source record (a row per record of the source file)."""
    meta = data.tables[name]
    if meta.layer is Layer.GOLD:
        return list(data.model.get("tables", {}).get(name, {}).get("grain") or [])
    return [c for c in RECORD_GRAIN if any(col.name == c for col in meta.columns)]


def _grain_html(data: SiteData, name: str) -> str:
    grain = grain_of(data, name)
    if not grain:
        return '<span class="muted">not declared</span>'
    cols = ", ".join(f'<a href="#{column_anchor(c)}"><code>{escape(c)}</code></a>' for c in grain)
    if data.tables[name].layer is Layer.GOLD:
        return f"one row per {cols} (primary key)"
    return f"one row per source record: {cols}"


def table_page(data: SiteData, name: str, generated: str) -> str:
    meta = data.tables[name]
    batch, at = _batch_info(data, name)
    fields = [
        ("grain", f'<span id="grain">{_grain_html(data, name)}</span>'),
        ("layer", pill(meta.layer.value)),
        ("domain", escape(meta.domain)),
        ("rows", fmt_int(meta.row_count)),
        ("columns", fmt_int(meta.column_count)),
        ("file", f"<code>{escape(meta.file_path)}</code> ({fmt_int(meta.file_size_bytes)} bytes)"),
        ("owner", escape(meta.data_owner)),
        ("steward", escape(meta.data_steward)),
        ("classification", escape(meta.classification)),
        ("retention", f"{meta.retention_days} days" if meta.retention_days else ""),
        ("schema version", escape(meta.schema_version)),
        ("last batch", f"<code>{escape(batch)}</code> {escape(fmt_time(at))}"),
        (
            "last release",
            f'<a id="what-changed" href="{changes_href(name, "../")}">what changed</a> '
            "(against the previous kept batch)"
            if name in data.changes
            else "",
        ),
        ("transform", f"<code>{escape(meta.transform_script)}</code>"),
        ("business purpose", escape(meta.business_purpose)),
    ]
    info = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in fields if v)
    fks = [r for r in data.relationships if r["table"] == name]
    refs = [r for r in data.relationships if r["referenced_table"] == name]
    fk_html = ""
    if fks or refs:
        fk_rows = [
            [
                f"<code>{escape(r['column'])}</code>",
                "&rarr;",
                table_link(data, r["referenced_table"], "../", css="fk")
                + f".<code>{escape(r['referenced_column'])}</code>",
                escape(r.get("cardinality", "")),
            ]
            for r in fks
        ] + [
            [
                table_link(data, r["table"], "../") + f".<code>{escape(r['column'])}</code>",
                "&rarr;",
                f"<code>{escape(r['referenced_column'])}</code> (this table)",
                escape(r.get("cardinality", "")),
            ]
            for r in refs
        ]
        fk_html = '<h2 id="foreign-keys">Foreign keys</h2>' + grid(
            ["column", "", "references", "cardinality"], fk_rows, id_="fks"
        )
    body = (
        f'<p class=muted><a href="../{LAYER_PAGES[meta.layer]}">{escape(meta.layer.value)} '
        "tables</a></p>"
        f"<h1>{escape(name)}</h1>"
        f'<p class="lead">{escape(meta.description)}</p>'
        f'<table class="fields" id="about">{info}</table>'
        f'<h2 id="columns-heading">Columns ({len(meta.columns)})</h2>'
        + _columns_html(data, meta)
        + fk_html
        + '<h2 id="lineage">Lineage</h2><div class="grid2">'
        + '<table class="fields"><tr><th>upstream</th><td id="upstream">'
        + _table_links(meta.upstream_tables, data)
        + '</td></tr><tr><th>downstream</th><td id="downstream">'
        + _table_links(meta.downstream_tables, data)
        + "</td></tr></table></div>"
        + _table_graph(data, name)
        + '<h2 id="transitions-heading">Transitions (latest batch)</h2>'
        + _transitions_html(data, name)
        + '<h2 id="quarantine-heading">Quarantine</h2><div id="quarantine-section">'
        + _quarantine_html(data, name)
        + "</div>"
        + '<h2 id="trend-heading">Rows and quarantine across batches</h2>'
        + _trend_html(data, name)
    )
    return page(name, body, root="../", here="", generated=generated, scripts=["assets/graph.js"])

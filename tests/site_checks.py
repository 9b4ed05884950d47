"""Checks of a built catalog site in a real browser, shared by the sample and real-file tests."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from urllib.parse import unquote, urlsplit

from browser import Browser

from jobforge_core.common.models import TableMetadata

PAGE_LINKS = """(() => {
  const out = [];
  for (const el of document.querySelectorAll('a[href], link[href], script[src], img[src]')) {
    const raw = el.getAttribute('href') ?? el.getAttribute('src');
    out.push([el.tagName.toLowerCase(), raw, new URL(raw, document.baseURI).href]);
  }
  return {links: out, ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)};
})()"""


def catalog(data_root: Path) -> dict[str, TableMetadata]:
    tables = {}
    for path in (data_root / "catalog" / "tables").glob("*.json"):
        meta = TableMetadata.model_validate_json(path.read_text(encoding="utf-8"))
        tables[meta.table_name] = meta
    return tables


def gold_tables(data_root: Path) -> set[str]:
    return {n for n, m in catalog(data_root).items() if m.layer.value == "gold"}


def listed_tables(browser: Browser, page: Path) -> list[str]:
    browser.open(page.as_uri())
    return browser.js(
        "Array.from(document.querySelectorAll('#tables a.table-link'), a => a.textContent)"
    )


def search(browser: Browser, site: Path, text: str) -> list[dict[str, str]]:
    """Type into the search box of the tables page; the hits as the user sees them."""
    browser.open((site / "index.html").as_uri())
    browser.type_into("#search", text)
    return browser.js(
        "Array.from(document.querySelectorAll('#search-hits li'), li => ({"
        "name: li.querySelector('a').textContent, href: li.querySelector('a').href,"
        "kind: li.querySelector('.pill').textContent}))"
    )


VISIBLE = ".graph-view:not([hidden]) svg"  # the graph's view on show (others are hidden)


def graph_nodes(browser: Browser, page: Path, container: str) -> dict[str, dict]:
    """Each node drawn in the SVG: its link and its rendered size (0 when not drawn)."""
    browser.open(page.as_uri())
    nodes = browser.js(
        f"Array.from(document.querySelectorAll('{container} {VISIBLE} [data-node]'), g => {{"
        "const r = g.getBoundingClientRect(); const a = g.closest('a');"
        "const raw = a ? a.getAttribute('href') : null;"
        "return {id: g.dataset.node, href: raw && new URL(raw, document.baseURI).href,"
        "w: r.width, h: r.height,"
        "text: g.textContent}; })"
    )
    return {n["id"]: n for n in nodes}


def graph_edges(browser: Browser, container: str) -> list[str]:
    return browser.js(
        f"Array.from(document.querySelectorAll('{container} {VISIBLE} [data-edge]'),"
        " e => e.dataset.edge)"
    )


def crawl(browser: Browser, site: Path) -> dict[str, list[str]]:
    """Open every page reachable from index.html; returns the problems found per page:
    a link or resource to a missing file, a fragment with no element of that id, a file
    outside the site, an uncaught script error. External links (http) are allowed only as
    plain links (the Prefect UI of a run), never as a script, stylesheet or image."""
    root = site.resolve()
    start = (root / "index.html").as_uri()
    seen: dict[str, list[str]] = {}  # page path -> ids
    links: list[tuple[str, str, str, str]] = []
    problems: dict[str, list[str]] = {}
    todo = deque([start])
    while todo:
        url = todo.popleft()
        path = unquote(urlsplit(url).path)
        if path in seen:
            continue
        since = len(browser.events)
        browser.open(url)
        found = browser.js(PAGE_LINKS)
        seen[path] = found["ids"]
        errors = browser.script_errors(since)
        if errors:
            problems.setdefault(path, []).extend(errors)
        for tag, raw, resolved in found["links"]:
            links.append((path, tag, raw, resolved))
            parts = urlsplit(resolved)
            if parts.scheme == "file" and parts.path.endswith(".html"):
                target = unquote(parts.path)
                if target not in seen and Path(target).is_file():
                    todo.append(f"file://{parts.path}")
    for page, tag, raw, resolved in links:
        parts = urlsplit(resolved)
        if parts.scheme in ("http", "https"):
            if tag != "a":
                problems.setdefault(page, []).append(f"external resource {raw}")
            continue
        if parts.scheme != "file":
            problems.setdefault(page, []).append(f"unexpected link {raw}")
            continue
        target = Path(unquote(parts.path))
        if not target.resolve().is_relative_to(root):
            problems.setdefault(page, []).append(f"link outside the site: {raw}")
        elif not target.is_file():
            problems.setdefault(page, []).append(f"broken link: {raw}")
        elif (
            parts.fragment
            and str(target) in seen
            and unquote(parts.fragment) not in seen[str(target)]
        ):
            problems.setdefault(page, []).append(f"no #{parts.fragment} in {target.name}: {raw}")
    problems["_pages"] = sorted(seen)
    return problems


def site_pages(site: Path) -> set[str]:
    return {str(p.resolve()) for p in site.rglob("*.html")}


def error_json(site: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in site.glob("files/*/error.json")]


GRAPH_CROSSINGS = """((container) => {
  // Every edge sampled every 2 px along its path, against every node box but its own two
  // ends, in the SVG's own coordinates: a sample inside a box (0.5 px in) is a crossing.
  const box = document.querySelector(container);
  const out = {};
  for (const view of box.querySelectorAll('.graph-view')) {
    const svg = view.querySelector('svg');
    const rects = {};
    for (const g of svg.querySelectorAll('[data-node]')) {
      const m = g.transform.baseVal.consolidate().matrix;
      const r = g.querySelector('rect');
      rects[g.dataset.node] = [m.e, m.f, m.e + r.width.baseVal.value,
                               m.f + r.height.baseVal.value];
    }
    const crossing = [];
    let edges = 0;
    for (const p of svg.querySelectorAll('[data-edge]')) {
      edges += 1;
      const [src, dst] = p.dataset.edge.split(' -> ');
      const length = p.getTotalLength();
      const hit = new Set();
      for (let s = 0; s <= length; s += 2) {
        const pt = p.getPointAtLength(s);
        for (const [id, [x0, y0, x1, y1]] of Object.entries(rects)) {
          if (id === src || id === dst) continue;
          if (pt.x > x0 + 0.5 && pt.x < x1 - 0.5 && pt.y > y0 + 0.5 && pt.y < y1 - 0.5) hit.add(id);
        }
      }
      if (hit.size) crossing.push(p.dataset.edge + ' through ' + [...hit].join(', '));
    }
    out[view.dataset.view] = {edges, nodes: Object.keys(rects).length, crossing};
  }
  return out;
})"""


def graph_crossings(browser: Browser, page: Path, container: str) -> dict[str, dict]:
    """Per view of the page's graph: edges, nodes and the edges that pass through a box."""
    browser.open(page.as_uri())
    return browser.js(f"{GRAPH_CROSSINGS}({json.dumps(container)})")


def horizontal_overflow(browser: Browser, page: Path) -> int:
    """How many px the page is wider than the window (0: no horizontal scroll)."""
    browser.open(page.as_uri())
    return max(0, browser.js("document.documentElement.scrollWidth - window.innerWidth"))


def glossary_use_problems(browser: Browser, data_root: Path, site: Path) -> list[str]:
    """Issue 28: every glossary term is linked to the gold columns and rows that use it.

    Checked against the gold parquet itself: each `descriptor_code` value of a gold table
    belongs to a term (by the guide's name, as dim_oasis_descriptor has it) that lists that
    table with the value's row count; each OaSIS descriptor term leads with its row of
    dim_oasis_descriptor; no term is said to be unused; the glossary page shows the gold links.
    """
    import duckdb
    import polars as pl

    from jobforge_core.sources.glossary import descriptor_term_id

    problems: list[str] = []
    terms = json.loads((data_root / "catalog" / "glossary" / "glossary.json").read_text())
    by_id = {t["term_id"]: t for t in terms}
    problems += [f"{t['term_id']}: used by nothing" for t in terms if not t["used_by"]]
    tables = catalog(data_root)
    dim = pl.read_parquet(data_root / tables["dim_oasis_descriptor"].file_path)
    code_term = {
        code: descriptor_term_id(name)
        for code, name in dim.select("descriptor_code", "descriptor_name").iter_rows()
    }
    for name, meta in tables.items():
        if "." in name or "descriptor_code" not in {c.name for c in meta.columns}:
            continue
        rows = pl.read_parquet(data_root / meta.file_path, columns=["descriptor_code"])
        counts = rows.drop_nulls().group_by("descriptor_code").len().iter_rows()
        for code, n in counts:
            term = by_id.get(code_term.get(code, ""))
            if term is None:
                problems.append(f"{name}: descriptor_code {code} has no glossary term")
                continue
            listed = {(u["table_name"], u["value"]): u["row_count"] for u in term["used_by"]}
            if listed.get((name, code)) != n:
                problems.append(f"{term['term_id']}: {name} {code} {n} rows, listed {listed}")
    for t in terms:
        if t["term_id"].startswith("oasis:") and t["used_by"]:
            first = t["used_by"][0]
            if first["table_name"] != "dim_oasis_descriptor" or not first["row_count"]:
                problems.append(f"{t['term_id']}: first use {first}, not its dimension row")
    with duckdb.connect(str(data_root / "jobforge.duckdb"), read_only=True) as con:
        empty = con.execute("SELECT count(*) FROM catalog.glossary WHERE len(used_by) = 0")
        if empty.fetchall()[0][0]:
            problems.append("catalog.glossary has terms with no use")
    browser.open((site / "glossary.html").as_uri())
    if "not used by" in browser.js("document.body.innerText"):
        problems.append("glossary.html says a term is not used")
    unlinked = browser.js(
        "Array.from(document.querySelectorAll('#glossary tbody tr')).filter(tr =>"
        " tr.cells[0].innerText.includes('oasis:') && !tr.cells[4].querySelector("
        " 'a[href*=\"tables/dim_oasis_descriptor.html\"]')).map(tr => tr.cells[0].innerText)"
    )
    problems += [f"glossary.html: {t!r} has no link to dim_oasis_descriptor" for t in unlinked]
    return problems

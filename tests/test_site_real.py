"""Issue 16 on the real Government of Canada files: the site the real run wrote, in Chromium.

Fails (never skips) under CI when the real files are missing (`real_dir`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from site_checks import catalog, crawl, gold_tables, graph_edges, graph_nodes, listed_tables, search

COPS = "employment_emploi_2024_2033_noc2021.csv"


@pytest.fixture(scope="module")
def real_site(real_flow_run) -> tuple[Path, Path]:
    data_root, code = real_flow_run
    assert code == 0
    return data_root, data_root / "docs"


def test_real_tables_page_and_search(browser, real_site):
    data_root, site = real_site
    gold = gold_tables(data_root)
    assert {"dim_noc", "fact_cops_employment", "fact_oasis_skills"} <= gold
    assert sorted(listed_tables(browser, site / "index.html")) == sorted(gold)
    hits = search(browser, site, "unit group")
    assert hits[0]["name"] == "dim_noc"


def test_real_fact_cops_employment_page(browser, real_site):
    data_root, site = real_site
    meta = catalog(data_root)["fact_cops_employment"]
    page = site / "tables" / "fact_cops_employment.html"
    browser.open(page.as_uri())
    names = browser.js(
        "Array.from(document.querySelectorAll('#columns tbody tr'),"
        " tr => tr.cells[0].innerText.split('\\n')[0])"
    )
    assert names == [c.name for c in meta.columns]
    fk = browser.js("Array.from(document.querySelectorAll('a.fk'), a => a.href)")
    assert (site / "tables" / "dim_noc.html").resolve().as_uri() + "#col-noc_code" in fk
    nodes = graph_nodes(browser, page, "#table-lineage")
    edges = set(graph_edges(browser, "#table-lineage"))
    chain = [
        f"file:{COPS}",
        "staged.cops_employment",
        "bronze.cops_employment",
        "silver.cops_employment",
        "fact_cops_employment",
    ]
    for a, b in zip(chain, chain[1:], strict=False):
        assert f"{a} -> {b}" in edges and nodes[b]["w"] > 0
    assert "5,676" in browser.js("document.getElementById('about').innerText")


def test_real_graphs_and_links(browser, real_site):
    data_root, site = real_site
    tables = catalog(data_root)
    nodes = graph_nodes(browser, site / "lineage.html", "#lineage-graph")
    assert set(tables) <= set(nodes) and all(nodes[n]["w"] > 0 for n in tables)
    model = graph_nodes(browser, site / "model.html", "#model-graph")
    assert set(model) == gold_tables(data_root)
    problems = crawl(browser, site)
    pages = problems.pop("_pages")
    assert problems == {}
    assert len(pages) == len(list(site.rglob("*.html")))

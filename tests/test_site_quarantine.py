"""Issue 28, item 2: a gold page shows the rows its batch lost upstream.

Before, with 2 rows of a COPS release quarantined at bronze (a cast error, a ragged record),
`fact_cops_employment`'s page said "No row of this table is in quarantine" and showed the
batch as quarantined 0, success: only quarantine files of the gold table itself were read.
Now the page rolls up every layer's quarantine of the batch the table holds (by layer and
rule, each linked to its sample rows) and the batch's row says `partial`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SAMPLES
from helpers import run_plain, specs

from jobforge_core.common.config import PipelineConfig
from jobforge_core.site.refresh import refresh_catalog

COPS = "employment_emploi_2024_2033_noc2021.csv"
PICKED = ["noc_structure", "cops_employment"]

ROWS = """Array.from(document.querySelectorAll('%s tbody tr'), tr =>
  Array.from(tr.cells, td => td.innerText.trim()))"""


@pytest.fixture(scope="module")
def two_releases(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    """A clean release, then one with a value that is not a number and a record with one
    field too many: both quarantined at bronze, the rest of the release published."""
    base = tmp_path_factory.mktemp("upstream-quarantine")
    source = base / "source"
    source.mkdir()
    for name in (COPS, "noc_structure_en.csv"):
        shutil.copy(SAMPLES / name, source / name)
    cfg = PipelineConfig(data_root=base / "data", source_dir=source)
    shipped = specs()
    run_plain(cfg, PICKED)
    lines = (source / COPS).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    cast = lines[-1].split(",")
    cast[5] = "lots"
    lines[-1] = ",".join(cast)
    lines[-2] = lines[-2].rstrip("\r\n") + ",extra\n"
    (source / COPS).write_text("".join(lines), encoding="utf-8")
    logs = run_plain(cfg, PICKED)["cops_employment"]
    assert [log.status.value for log in logs][-1] == "success"
    assert sum(log.row_count_quarantined for log in logs) == 2
    refresh_catalog(cfg, shipped)
    return cfg


def test_gold_page_rolls_up_the_quarantine_of_its_batch(browser, two_releases):
    site = two_releases.data_root / "docs"
    page = site / "tables" / "fact_cops_employment.html"
    browser.open(page.as_uri())
    text = browser.js("document.getElementById('quarantine-heading').nextElementSibling.innerText")
    assert "No row of this table is in quarantine" not in text
    rolled = browser.js(ROWS % "#quarantine-upstream")
    by_rule = {(r[0], r[1]): int(r[2]) for r in rolled}
    assert set(by_rule.values()) == {1}
    assert {layer for layer, _ in by_rule} == {"bronze"}
    assert len(by_rule) == 2  # the cast error and the ragged record, each its own rule
    links = browser.js(
        "Array.from(document.querySelectorAll('#quarantine-upstream a.sample'), a => a.href)"
    )
    assert len(links) == 2
    for link in links:
        target, _, anchor = link.partition("#")
        browser.open(target)
        assert browser.js(f"!!document.getElementById({anchor!r})"), link
        shown = browser.js(f"document.getElementById({anchor!r}).nextElementSibling.innerText")
        assert shown.strip(), f"no sample rows under {link}"
    browser.open(page.as_uri())
    trend = browser.js(ROWS % "#trend")
    assert len(trend) == 2
    (current,) = [r for r in trend if r[-1] == "current"]
    assert current[4] == "partial" and int(current[3]) == 2
    (previous,) = [r for r in trend if r[-1] != "current"]
    assert previous[4] == "success" and int(previous[3]) == 0


def test_a_dimension_with_a_clean_batch_says_so(browser, two_releases):
    site: Path = two_releases.data_root / "docs"
    browser.open((site / "tables" / "dim_noc.html").as_uri())
    text = browser.js("document.getElementById('quarantine-heading').nextElementSibling.innerText")
    assert "No row of the batch this table holds was quarantined" in text


def test_tables_index_shows_health_and_fits_1400_px(browser, two_releases):
    """Issue 28, item 4: a health column (last status, rows quarantined from the batch in
    any layer, age); governance said once when every table shares it; dimensions and facts
    before aggregates; no horizontal scroll in a 1,400 px window."""
    site = two_releases.data_root / "docs"
    browser.resize(1400, 1000)
    browser.open((site / "index.html").as_uri())
    headers = browser.js("Array.from(document.querySelectorAll('#tables th'), th => th.innerText)")
    assert headers[:2] == ["table", "health"] and "owner" not in headers
    assert "owner: JobForge data team" in browser.js(
        "document.getElementById('governance').innerText"
    )
    rows = {r[0]: r for r in browser.js(ROWS % "#tables")}
    fact = rows["fact_cops_employment"][1]
    assert fact.startswith("partial") and "2 q" in fact
    assert rows["dim_noc"][1].startswith("success") and "0 q" in rows["dim_noc"][1]
    names = list(rows)
    assert names.index("dim_noc") < names.index("fact_cops_employment")
    assert all(not n.startswith("agg_") for n in names[: names.index("fact_cops_employment")])
    width = browser.js("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width

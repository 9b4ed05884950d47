"""Issue 27 acceptance: next releases of the shipped samples, dropped in next to the old file
(no spec edit), then what changed (`jobforge diff`, value by value), where the rejected rows
are (`quarantine.<table>` in SQL), quality shares against hand-computed numbers (catalog, site,
OpenLineage), the release in `jobforge history`, and `restore` keeping lineage.

Releases are built by tests/releases.py from the bundled samples; every expected number below
is computed by hand from what the builder changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flows.cli import main
from jobforge_core.common.config import PipelineConfig
from tests import releases as rel

SOURCES = [
    "noc_structure",
    "cops_employment",
    "oasis_guide",
    "oasis_lead_statements",
    "oasis_labels",
    "oasis_skills",
]
UNIT_GROUPS = 8  # in the bundled COPS file, each with 11 years (2023-2033)


def _json(capsys, *args: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = main([*args, "--format", "json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out or "{}")


@pytest.fixture(scope="module")
def story(prefect_harness, tmp_path_factory):
    """Release 1 of COPS employment and OaSIS skills, then release 2 of both dropped in, each
    loaded by a plain run; then release 3 of OaSIS skills (a descriptor back, another gone)."""
    base = tmp_path_factory.mktemp("story")
    source = base / "source"
    source.mkdir()
    for f in (Path(__file__).parent.parent / "data" / "source").iterdir():
        (source / f.name).write_bytes(f.read_bytes())
    root = base / "data"
    run = ["run", "--data-root", str(root), "--source-dir", str(source)]
    for name in SOURCES:
        run += ["--source", name]
    assert main(run) == 0
    cfg = PipelineConfig(data_root=root)
    first = {t: _current(cfg, t) for t in ("fact_cops_employment", "fact_oasis_skills")}
    rel.cops_next(source)
    rel.skills_release(source, rel.SKILLS_2, drop="Digital Literacy")
    assert main(run) == 0  # cops partial: the 2 new unit groups are not in dim_noc (quarantine)
    second = {t: _current(cfg, t) for t in first}
    rel.skills_release(source, rel.SKILLS_3, drop="Numeracy")
    assert main(run) == 0
    return {"cfg": cfg, "source": source, "run": run, "first": first, "second": second}


def _current(cfg: PipelineConfig, table: str) -> str:
    from jobforge_core.history.batches import batch_of

    return batch_of(cfg.table_path("gold", table))


def test_diff_of_the_cops_release_value_by_value(story, capsys):
    cfg, source = story["cfg"], story["source"]
    code, d = _json(capsys, "diff", "fact_cops_employment", "--data-root", str(cfg.data_root))
    assert code == 0
    kept = UNIT_GROUPS - len(rel.COPS_REMOVED)  # 5 unit groups in gold, 11 years each
    s = d["diff"]
    assert (s["rows_from"], s["rows_to"]) == (UNIT_GROUPS * 11, kept * 11)
    assert (s["from_batch"], s["to_batch"]) == (
        story["first"]["fact_cops_employment"],
        story["second"]["fact_cops_employment"],
    )
    # the window moved: 2023 dropped (8 rows), 2034 added (5 rows): not "removed"/"added"
    assert d["window"] == {
        "column": "year",
        "from": [2023, 2033],
        "to": [2024, 2034],
        "dropped": [2023],
        "added": [2034],
        "rows_dropped": UNIT_GROUPS,
        "rows_added": kept,
    }
    # 3 unit groups removed x 10 shared years; nothing added to gold: the 2 new unit groups
    # went to quarantine (foreign key), 2 x 11 rows, and are said to be there
    assert (s["added"], s["removed"], s["changed"]) == (0, 3 * 10, len(rel.COPS_CHANGES))
    assert s["unchanged"] == kept * 10 - len(rel.COPS_CHANGES)
    assert s["quarantined_in_new_batch"] == 2 * 11
    (noc,) = d["by_key"]
    assert (noc["column"], noc["from"], noc["to"]) == ("noc_code", UNIT_GROUPS, kept)
    assert (noc["added"], noc["removed"], noc["changed"], noc["quarantined"]) == (0, 3, 3, 2)
    assert noc["removed_values"] == [
        "00011 Senior public administration executives",
        "21233 Interface and web experience designers",
        "72011 Crew supervisors, electrical and telecommunications trades",
    ]
    assert noc["quarantined_values"] == [code for code, _, _ in rel.COPS_ADDED]
    assert d["quarantined"] == [
        {"rule": "foreign_key", "rows": 22, "noc_code_values": ["21234", "21299"]}
    ]
    # each changed value with its delta, % and the occupation title from dim_noc
    expected = []
    for (noc_code, year), delta in rel.COPS_CHANGES.items():
        before = rel.cops_value(source, noc_code, year)
        expected.append(
            (noc_code, year, before, before + delta, delta, round(delta / before * 100, 2))
        )
    expected.sort(key=lambda e: -abs(e[4]))
    got = [
        (c["noc_code"], c["year"], c["from"], c["to"], c["delta"], c["pct"]) for c in d["changed"]
    ]
    assert got == expected
    titles = {c["noc_code"]: c["label"] for c in d["changed"]}
    assert titles["21232"] == "Application developers and coders"
    (m,) = d["measures"]
    total_before = sum(e[2] for e in expected)
    assert (m["column"], m["rows_changed"], m["delta"]) == ("employment", 3, 1400)
    assert (m["sum_from"], m["sum_to"]) == (total_before, total_before + 1400)
    assert m["pct"] == round(1400 / total_before * 100, 2)
    # the same story for people, on stderr
    capsys.readouterr()
    assert main(["diff", "fact_cops_employment", "--data-root", str(cfg.data_root)]) == 0
    err = capsys.readouterr().err
    assert "year window 2023-2033 -> 2024-2034: 8 row(s) of [2023] dropped" in err
    assert "noc_code: 0 added, 3 removed, 3 changed, 2 in quarantine (not in gold)" in err
    assert "employment: 3 value(s) changed, total +1,400" in err


def test_diff_of_oasis_releases_names_the_descriptors_added_and_dropped(story, capsys):
    cfg, source = story["cfg"], story["source"]
    root = str(cfg.data_root)
    code, d = _json(capsys, "diff", "fact_oasis_skills", "--data-root", root)
    assert code == 0  # release 3 against release 2: Digital Literacy back, Numeracy gone
    profiles, descriptors, scale = d["by_key"]
    assert descriptors["added_values"] == ["F01a04 Digital Literacy"]
    assert descriptors["removed_values"] == ["F01a03 Numeracy"]
    assert (descriptors["added"], descriptors["removed"], descriptors["changed"]) == (1, 1, 0)
    assert (d["diff"]["added"], d["diff"]["removed"], d["diff"]["changed"]) == (9, 9, 0)
    assert d["window"] == {}  # OaSIS has no year window
    # release 2 against release 1: two ratings changed, Digital Literacy dropped
    first, second = story["first"]["fact_oasis_skills"], story["second"]["fact_oasis_skills"]
    code, d = _json(
        capsys, "diff", "fact_oasis_skills", "--from", first, "--to", second, "--data-root", root
    )
    assert code == 0
    assert d["by_key"][1]["removed_values"] == ["F01a04 Digital Literacy"]
    got = {(c["oasis_code"], c["from"], c["to"], c["delta"]) for c in d["changed"]}
    want = set()
    for (oasis_code, skill), delta in rel.SKILLS_CHANGES.items():
        before = rel.skills_rating(source, oasis_code, skill)
        want.add((oasis_code, before, before + delta, delta))
    assert got == want
    labels = {c["oasis_code"]: c["label"] for c in d["changed"]}
    assert labels["21232.00"] == "Application developers and coders"


def test_quarantined_rows_are_queryable_in_sql(story, capsys):
    root = str(story["cfg"].data_root)
    sql = (
        "SELECT noc_code, count(*) AS n, min(_quarantine_reason) AS reason, "
        "min(_batch_id) AS batch FROM quarantine.fact_cops_employment GROUP BY 1 ORDER BY 1"
    )
    code, out = _json(capsys, "query", sql, "--data-root", root)
    assert code == 0
    batch = story["second"]["fact_cops_employment"]
    assert out == [
        {"noc_code": "21234", "n": 11, "reason": "foreign_key", "batch": batch},
        {"noc_code": "21299", "n": 11, "reason": "foreign_key", "batch": batch},
    ]
    import duckdb  # the store itself, for BI tools: the same view

    con = duckdb.connect(str(story["cfg"].store_path()), read_only=True)
    try:
        con.execute(f"SET file_search_path = '{root}'")
        n = con.execute("SELECT count(*) FROM quarantine.fact_cops_employment").fetchone()
    finally:
        con.close()
    assert n == (22,)


def _fk_quality(capsys, root: str, batch: str) -> list[dict]:
    sql = (
        "SELECT batch_id, rows, rows_in, share_of_rows_in, batch_status FROM catalog.quality "
        "WHERE table_name = 'fact_cops_employment' AND rule = 'foreign_key' "
        f"AND batch_id = '{batch}'"
    )
    code, out = _json(capsys, "query", sql, "--data-root", root)
    assert code == 0
    return out


def test_quality_shares_are_long_rows_over_long_rows_one_row_per_batch(story, capsys):
    cfg = story["cfg"]
    root = str(cfg.data_root)
    batch = story["second"]["fact_cops_employment"]
    # 22 of the 77 long rows that reached the foreign-key check (55 kept + 22): 2/7, not 22
    # of the 24 wide silver rows
    expected = [
        {
            "batch_id": batch,
            "rows": 22,
            "rows_in": 77,
            "share_of_rows_in": 22 / 77,
            "batch_status": "accepted",
        }
    ]
    assert _fk_quality(capsys, root, batch) == expected
    # the same batch loaded twice more: still one row of 22, not 66
    for _ in range(2):
        assert main([*story["run"], "--source", "cops_employment", "--force"]) == 0
    assert _fk_quality(capsys, root, batch) == expected
    # the site's quality page: 22 in the batch's column, and its share as a percentage
    html = (cfg.data_root / "docs" / "quality.html").read_text(encoding="utf-8")
    assert ">66<" not in html and "28.6%" in html
    # OpenLineage: the foreign-key assertion of that batch carries the same numbers
    found = []
    for line in (cfg.data_root / "openlineage" / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        for dataset in event.get("inputs", []):
            facet = (dataset.get("inputFacets") or {}).get("dataQualityAssertions")
            for a in facet["assertions"] if facet else []:
                if a["name"] == "foreign_key" and a["params"]["table"] == "fact_cops_employment":
                    found.append(
                        (a["actual"], a["params"]["rows_in"], a["params"]["share_of_rows_in"])
                    )
    assert ("22", 77, 22 / 77) in found
    # a declared check counted per profile: 1 of the 9 profiles, not 1 of the 288 long rows
    sql = (
        "SELECT DISTINCT rows, rows_in FROM catalog.quality WHERE table_name = "
        "'fact_oasis_skills' AND rule = 'label_differs_from_dim_oasis_profile'"
    )
    assert _json(capsys, "query", sql, "--data-root", root)[1] == [{"rows": 1, "rows_in": 9}]


def test_a_rejected_release_is_shown_as_rejected(story, capsys):
    """A release with a renamed required header is rejected (with a did-you-mean): its checks
    read as a rejected batch; the accepted one stays current."""
    cfg, source = story["cfg"], story["source"]
    third = source / "skills_oasis_2027_v4.0.csv"
    text = (source / rel.SKILLS_3).read_text(encoding="utf-8")
    third.write_text(text.replace("OaSIS Label - Final", "OaSIS Label Final", 1), encoding="utf-8")
    try:
        capsys.readouterr()
        assert main([*story["run"]]) == 1
        assert "did you mean 'OaSIS Label Final'" in capsys.readouterr().err
        sql = (
            "SELECT DISTINCT batch_id, batch_status FROM catalog.quality "
            "WHERE source = 'oasis_skills' ORDER BY batch_status"
        )
        rows = _json(capsys, "query", sql, "--data-root", str(cfg.data_root))[1]
        statuses = {r["batch_id"]: r["batch_status"] for r in rows}
        assert sorted(statuses.values()).count("rejected") == 1
        assert statuses[_current(cfg, "fact_oasis_skills")] == "accepted"
        html = (cfg.data_root / "docs" / "quality.html").read_text(encoding="utf-8")
        (rejected,) = [b for b, s in statuses.items() if s == "rejected"]
        assert f"{rejected} (rejected)" in html
        zeros = html.split('class="zeros muted"')[1:]  # "0 rows in every batch": not a rejection
        assert "batch_rejected" in html and not any(
            "batch_rejected" in z.split("</p>")[0] for z in zeros
        )
        assert '<span class="sev-error">rejected</span>' in html
    finally:
        third.unlink()


def test_history_names_the_releases(story, capsys):
    cfg = story["cfg"]
    code, out = _json(capsys, "history", "fact_cops_employment", "--data-root", str(cfg.data_root))
    assert code == 0
    releases = [(r["release"], r["current"], r["batches"]) for r in out["releases"]]
    assert releases == [
        (rel.COPS_2, True, [story["second"]["fact_cops_employment"]]),
        (rel.COPS_1, False, [story["first"]["fact_cops_employment"]]),
    ]
    assert all(len(r["file_date"]) == 10 for r in out["releases"])  # YYYY-MM-DD


def test_the_site_says_what_changed_in_the_last_release(story, browser):
    """The table page links to a "what changed" page: the diff of the current batch against
    the previous kept one, the same sentences as `jobforge diff`, within 1,400 px."""
    from site_checks import horizontal_overflow

    site = story["cfg"].data_root / "docs"
    table = (site / "tables" / "fact_cops_employment.html").read_text(encoding="utf-8")
    assert 'id="what-changed" href="../changes/fact_cops_employment.html"' in table
    page = site / "changes" / "fact_cops_employment.html"
    browser.open(page.as_uri())
    said = browser.js("[...document.querySelectorAll('#changes-story li')].map(e => e.textContent)")
    assert said[:2] == [
        "year window 2023-2033 -> 2024-2034: 8 row(s) of [2023] dropped, 5 row(s) of [2034] "
        "added (not counted below)",
        "noc_code: 0 added, 3 removed, 3 changed, 2 in quarantine (not in gold)",
    ]
    first = browser.js(
        "[...document.querySelectorAll('#changed-table tbody tr:first-child td')]"
        ".map(e => e.textContent)"
    )
    before = rel.cops_value(story["source"], "72010", 2033)
    assert first == [
        "72010",
        "2033",
        "Crew supervisors - machining, tooling and metal fabrication trades",
        "employment",
        f"{before:,}",
        f"{before + 1000:,}",
        "1,000",
        f"{round(1000 / before * 100, 2)}",
    ]
    assert horizontal_overflow(browser, page) == 0

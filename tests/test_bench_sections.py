"""bench/RESULTS.md: `bench.report` rewrites the file and must carry over every section the
other benches write (before, the run-share section was lost at each rewrite)."""

from __future__ import annotations

import re
from pathlib import Path

from bench.sections import CARRIED, kept_section, with_section

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "RESULTS.md"


def test_every_section_in_results_is_carried_over_by_the_report():
    text = RESULTS.read_text(encoding="utf-8")
    found = set(re.findall(r"<!-- ([a-z-]+) -->", text))
    assert found == set(CARRIED)


def test_a_section_is_replaced_in_place_or_appended():
    text = "# Results\n\n<!-- a -->\nold\n<!-- /a -->\n\n## After\n"
    replaced = with_section(text, "a", "new")
    assert replaced == "# Results\n\n<!-- a -->\nnew\n<!-- /a -->\n## After\n"
    assert kept_section(replaced, "a").strip() == "new"
    appended = with_section(replaced, "b", "more")
    assert appended.endswith("<!-- b -->\nmore\n<!-- /b -->\n")
    assert kept_section(appended, "a").strip() == "new"
    assert kept_section(text, "b") is None

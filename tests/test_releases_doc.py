"""docs/releases.md stays true: every command of its ```bash blocks is run, in order, in a
project folder like the page's (a `jobforge.yaml` with `data_root: data`, the samples in
`data/source/`). A `cp` of a release the page drops in is built by tests/releases.py; any
other kind of line fails the test, so the page cannot show a step this test skips."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from flows.cli import main
from tests import releases as rel

REPO = Path(__file__).parent.parent
PAGE = REPO / "docs" / "releases.md"
BUILDERS = {
    rel.COPS_2: rel.cops_next,
    rel.SKILLS_2: lambda source: rel.skills_release(source, rel.SKILLS_2, "Digital Literacy"),
}


def page_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_page_shows_the_whole_workflow():
    words = " ".join(page_commands())
    for step in ("jobforge run", "cp ", "jobforge history", "jobforge diff", "--file", "--unpin"):
        assert step in words
    assert "jobforge restore" in words and "jobforge lineage" in words


def test_every_command_of_the_releases_page_runs(prefect_harness, tmp_path, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    shutil.copytree(REPO / "data" / "source", tmp_path / "data" / "source")
    (tmp_path / "jobforge.yaml").write_text("data_root: data\nspec_dirs: []\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOBFORGE_PROJECT", raising=False)
    monkeypatch.delenv("JOBFORGE_DATA_ROOT", raising=False)
    outputs = {}
    for line in page_commands():
        words = shlex.split(line)
        if words[0] == "cp":
            name = Path(words[1]).name
            assert name in BUILDERS, f"the page drops in {name}: tests/releases.py builds none"
            BUILDERS[name](tmp_path / "data" / "source")
            continue
        skipped = f"docs/releases.md shows a step this test skips: {line}"
        assert words[0] == ".venv/bin/jobforge", skipped
        capsys.readouterr()
        assert main(words[1:]) == 0, f"{line}\n{capsys.readouterr().err}"
        captured = capsys.readouterr()
        outputs.setdefault(" ".join(words[1:3]), []).append(captured.out + captured.err)
    # what the page says the commands print, in the words that matter
    page = PAGE.read_text(encoding="utf-8")
    for said in (
        "noc_code: 0 added, 3 removed, 3 changed, 2 in quarantine (not in gold)",
        "employment: 3 value(s) changed, total +1,400 (+1.06%)",
        "nothing to do",
        "descriptor_code: 0 added, 1 removed, 2 changed",
    ):
        assert said in page
        assert any(said in out for outs in outputs.values() for out in outs), said
    (restored, again) = outputs["restore cops_employment"]
    assert "the next `jobforge run` loads it again" in restored
    assert again.strip().endswith("nothing to do")
    (lineage,) = outputs["lineage fact_cops_employment"]
    assert "employment_emploi_2024_2033_noc2021.csv" in lineage and "restored_at" in lineage
    (skills,) = outputs["diff fact_oasis_skills"]
    assert "descriptor_code  removed  F01a04 Digital Literacy" in skills
    assert "descriptor_code  removed  F01a04 Digital Literacy" in page

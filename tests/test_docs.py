"""Issue 31: the documentation stays true. The generated references are current and complete,
every link and anchor resolves, the README stays short and its quick start is what CI runs.
tests/test_docs_commands.py runs every command the pages show."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from docs_pages import DOCS, REPO, anchors, blocks, links, pages, without_code

from flows import reference_docs
from jobforge_core.sources import spec_docs

QUICK_START_RUN = (
    "python3.11 -m venv .venv && .venv/bin/pip install -c constraints.txt -e . "
    "&& .venv/bin/jobforge run"
)
QUICK_START_TESTS = (
    "python3.11 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[dev,dask]' "
    "&& .venv/bin/python -m pytest"
)


def test_generated_reference_pages_are_current():
    """Change the parser or the spec's models, then `.venv/bin/python -m flows.reference_docs`."""
    for path, text in reference_docs.pages().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(REPO)} is not current: run .venv/bin/python -m flows.reference_docs"
        )
    assert reference_docs.main(["--check"]) == 0


def test_every_spec_field_has_a_description_and_an_example():
    assert spec_docs.undocumented() == []
    page = (DOCS / "spec-reference.md").read_text(encoding="utf-8")
    for model, _ in spec_docs.MODELS:
        assert f"## {model.__name__}\n" in page
        for name, field in model.model_fields.items():
            key = spec_docs.yaml_name(name, field)
            shown = f"- **`{key}`**:" in page.split(f"## {model.__name__}\n", 1)[1]
            internal = spec_docs.is_internal(field)
            assert shown or internal, f"{model.__name__}.{key} is not on the page"


def test_a_field_without_a_description_is_reported(monkeypatch):
    field = spec_docs.Sequence.model_fields["order_by"]
    monkeypatch.setattr(field, "description", None)
    assert spec_docs.undocumented() == [
        "Sequence.order_by: no description (a docstring under the field)"
    ]


def test_every_command_and_option_is_documented():
    assert reference_docs.undocumented_cli() == []
    page = (DOCS / "cli-reference.md").read_text(encoding="utf-8")
    from flows.cli import build_parser

    for path, sub, _ in reference_docs.commands(build_parser()):
        section = page.split(f"\n## {path}\n", 1)[1].split("\n## ", 1)[0]
        for action in sub._actions:
            if not reference_docs._is_shown(action):
                continue
            if action.dest in reference_docs.common_dests():
                section_of = page.split("\n## Options of every command\n", 1)[1]
            else:
                section_of = section
            assert f"**`{reference_docs.option_name(action)}`**" in section_of, (path, action)


def test_readme_is_at_most_200_lines():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_the_quick_start_commands_are_the_ones_ci_runs():
    readme = blocks(REPO / "README.md")
    commands = [b.body.strip() for b in readme if b.lang == "bash"][:2]
    assert commands == [QUICK_START_RUN, QUICK_START_TESTS]
    assert QUICK_START_TESTS in (REPO / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_links_and_anchors_resolve(page):
    own = anchors(page)
    for target in links(page):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / unquote(path)).resolve() if path else page
        assert resolved.exists(), f"{page.name}: link to {target}: no {resolved}"
        if anchor:
            names = own if not path else anchors(resolved) if resolved.suffix == ".md" else set()
            assert anchor in names, f"{page.name}: link to {target}: no heading #{anchor}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_no_html_tag_swallows_text(page):
    """`<data root>` outside code is an HTML tag to a Markdown renderer, and disappears."""
    prose = without_code(page.read_text(encoding="utf-8"))
    tags = re.findall(r"<[a-zA-Z][^>\n]*>", prose)
    assert tags == [], f"{page.name}: put these in code spans: {tags}"


def test_every_page_is_linked_from_the_readme_or_another_page():
    linked = set()
    for page in pages():
        for target in links(page):
            path = target.partition("#")[0]
            if path.endswith(".md"):
                linked.add((page.parent / path).resolve())
    for page in DOCS.glob("*.md"):
        assert page.resolve() in linked, f"{page.name} is linked from no page"


def test_exceptions_to_running_every_command_are_few_and_say_why():
    skipped = [
        b for page in pages() for b in blocks(page) if b.lang == "bash" and b.marker("not run")
    ]
    assert len(skipped) <= 6, [b.where for b in skipped]
    for block in skipped:
        assert len(block.marker("not run")) > 20, f"{block.where}: say why it is not run"


def test_every_spec_the_pages_show_loads():
    """A YAML block that is a whole spec (it has `name` and `file`) validates, kinds and all;
    troubleshooting's deliberately broken one (saved under bad-specs/) is refused."""
    import yaml

    from jobforge_core.common.errors import SpecError
    from jobforge_core.sources.spec import parse_spec

    checked = 0
    for page in pages():
        for block in blocks(page):
            if block.lang != "yaml":
                continue
            raw = yaml.safe_load(block.body)
            if not (isinstance(raw, dict) and {"name", "file"} <= set(raw)):
                continue
            if (block.marker("file") or "").startswith("bad-specs/"):
                with pytest.raises(SpecError):
                    parse_spec(raw, block.where)
            else:
                parse_spec(raw, block.where)
            checked += 1
    assert checked >= 5

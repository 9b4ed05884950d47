"""Reading the documentation as the tests do: its pages, their code blocks with the HTML
comments that steer them, headings and their GitHub anchors, links.

Markers, each an HTML comment on the line(s) right above a fence (invisible on GitHub):

- `<!-- file: PATH -->`: the block is a file the reader saves as PATH (the test writes it);
- `<!-- before: COMMAND -->`: what the reader did by hand before the block (downloaded a
  release...), run first;
- `<!-- exit: N -->`: the block ends with exit code N (an error shown on purpose); a ```text
  block right after it holds lines the output must contain (`...` matches anything);
- `<!-- not run: REASON -->`: the block is not run, for the reason given (few, each justified).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
GENERATED = {"cli-reference.md", "spec-reference.md"}


def pages() -> list[Path]:
    """README.md and every page of docs/."""
    return [REPO / "README.md", *sorted(DOCS.glob("*.md"))]


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    markers: dict[str, list[str]] = field(default_factory=dict)
    # Lines between the end of the previous block and this one, blank ones only?
    follows_directly: bool = False

    def marker(self, name: str) -> str | None:
        values = self.markers.get(name)
        return values[-1] if values else None

    @property
    def where(self) -> str:
        page = self.page.relative_to(REPO) if self.page.is_relative_to(REPO) else self.page
        return f"{page}:{self.line}"


MARKER = re.compile(r"^<!--\s*([a-z ]+?)\s*:\s*(.*?)\s*-->\s*$")


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    last_end = -10
    while i < len(lines):
        fence = re.match(r"^(```+)(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        markers: dict[str, list[str]] = {}
        j = i - 1
        while j >= 0 and MARKER.match(lines[j]):
            name, value = MARKER.match(lines[j]).groups()
            markers.setdefault(name, []).insert(0, value)
            j -= 1
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence.group(1):
            end += 1
        between = lines[last_end + 1 : j + 1] if last_end >= 0 else ["x"]
        found.append(
            Block(
                page,
                i + 1,
                fence.group(2),
                "\n".join(lines[i + 1 : end]) + "\n",
                markers,
                follows_directly=all(not line.strip() for line in between),
            )
        )
        last_end = end
        i = end + 1
    return found


def without_code(text: str) -> str:
    """The page's prose: fenced blocks, code spans and HTML comments removed."""
    text = re.sub(r"(?ms)^```.*?^```", "", text)
    text = re.sub(r"(?s)<!--.*?-->", "", text)
    text = re.sub(r"``.*?``", "", text)
    return re.sub(r"`[^`]*`", "", text)


def heading_text(line: str) -> str | None:
    m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
    return m.group(1) if m else None


def slug(title: str) -> str:
    """GitHub's anchor of a heading: formatting dropped, lower case, punctuation other than
    `-` and `_` removed, spaces to hyphens."""
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    title = title.replace("`", "").replace("*", "")
    title = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return title.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^```.*?^```", "", text)
    seen: dict[str, int] = {}
    out = set()
    for line in text.splitlines():
        title = heading_text(line)
        if title is None:
            continue
        base = slug(title)
        n = seen.get(base, 0)
        out.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return out


def links(page: Path) -> list[str]:
    """Targets of the page's Markdown links and images, outside code."""
    text = re.sub(r"(?ms)^```.*?^```", "", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)

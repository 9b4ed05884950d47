"""Named sections of bench/RESULTS.md that one bench writes and `bench.report` carries over
when it rewrites the file: `<!-- NAME -->` ... `<!-- /NAME -->`."""

from __future__ import annotations

from pathlib import Path

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"

# Every section a bench of its own writes (bench.cli_startup, bench.run_share, bench.openlineage).
CARRIED = (
    "cli-startup",
    "run-share",
    "openlineage",
    "sample-run",
    "scaling",
    "stream",
    "throughput-perf",
)


def _marks(name: str) -> tuple[str, str]:
    return f"<!-- {name} -->", f"<!-- /{name} -->"


def with_section(text: str, name: str, section: str) -> str:
    """`text` with the section replaced, or appended when it is not there yet."""
    start, end = _marks(name)
    block = f"{start}\n{section.strip()}\n{end}\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        return head + block + rest.split(end, 1)[1].lstrip("\n")
    return text.rstrip("\n") + "\n\n" + block


def kept_section(text: str, name: str) -> str | None:
    start, end = _marks(name)
    if start in text and end in text:
        return text.split(start, 1)[1].split(end, 1)[0]
    return None


def write_section(name: str, section: str, path: Path = RESULTS_MD) -> None:
    """Put the section in bench/RESULTS.md (created when missing), the rest left as it is."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    path.write_text(with_section(text, name, section), encoding="utf-8")

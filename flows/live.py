"""A live display of the transitions running now, for source files big enough to wait on.

The one line per source (flows/cli_run.Progress) says what happened; on a file of hundreds of
megabytes a layer takes a minute, and a silent terminal looks like a hang. This shows each
running transition (source, layer, file size, elapsed time) with rich, which comes with
Prefect, and removes it when the transition ends. Only on a terminal by default: scripts and
CI logs get the plain lines, never control codes.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

# A file this size takes seconds per layer on a laptop: worth a live line.
DEFAULT_MIN_BYTES = 20 * 1024 * 1024
ENDED = ("transition_completed", "source_quarantined")


def progress_mode(stream: Any) -> bool | None:
    """JOBFORGE_PROGRESS: `auto` (default: on when the stream is a terminal), `always`,
    `never`. Returns None for off, else whether to force terminal output."""
    setting = os.environ.get("JOBFORGE_PROGRESS", "auto").strip().lower()
    if setting in ("never", "off", "0", "false", "no"):
        return None
    if setting in ("always", "on", "1", "true", "yes"):
        return True
    isatty = getattr(stream, "isatty", None)
    return False if isatty and isatty() else None


def min_bytes() -> int:
    """JOBFORGE_PROGRESS_MIN_BYTES: the smallest source file that gets a live line."""
    raw = os.environ.get("JOBFORGE_PROGRESS_MIN_BYTES", "")
    return int(raw) if raw.strip().isdigit() else DEFAULT_MIN_BYTES


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


class LiveTransitions:
    """Listener for JobForge events (jobforge_core.common.logs.listening) driving a rich display."""

    def __init__(self, force_terminal: bool, threshold: int) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(stderr=True, force_terminal=force_terminal or None)
        self.threshold = threshold
        self.display = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.running: dict[tuple[str, str], Any] = {}

    def on_event(self, event: dict[str, Any]) -> None:
        source, layer, name = event.get("source"), event.get("layer"), event.get("event")
        if not source or not layer:
            return
        key = (source, layer)
        if name == "transition_started":
            size = _size(event.get("source_file"))
            if size is not None and size >= self.threshold:
                what = f"{source:<24} {layer:<7} running  ({human_size(size)} source file)"
                self.running[key] = self.display.add_task(what, total=None)
        elif name in ENDED and key in self.running:
            self.display.remove_task(self.running.pop(key))

    def print_line(self, line: str) -> None:
        """A plain line above the live display, never wrapped or styled."""
        self.display.console.print(line, soft_wrap=True, markup=False, highlight=False)

    def __enter__(self) -> LiveTransitions:
        self.display.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.display.stop()


def _size(path: str | None) -> int | None:
    try:
        return Path(path).stat().st_size if path else None
    except OSError:
        return None

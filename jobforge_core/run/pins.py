"""Releases pinned in a data root (DESIGN invariant 19: releases move forward on purpose).

`jobforge run --file SOURCE=PATH` loads a given release and pins the source to it: later plain
runs stay on it, and never silently go back to the newest file of the spec's pattern (a COPS
release loaded with --file was rolled back by the next plain run). `--unpin SOURCE` lets the
source follow its newest release again. A pin in the project file (`releases:`) wins over one
recorded here, and --file over both.
"""

from __future__ import annotations

import json
from pathlib import Path

from jobforge_core.common.atomic import write_json
from jobforge_core.common.config import PipelineConfig


def pins_path(cfg: PipelineConfig) -> Path:
    return cfg.catalog_path() / "pins.json"


def read_pins(cfg: PipelineConfig) -> dict[str, str]:
    path = pins_path(cfg)
    if not path.is_file():
        return {}
    try:
        pins = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a damaged pins file pins nothing: the run says which files it loads
    return {str(k): str(v) for k, v in pins.items()} if isinstance(pins, dict) else {}


def update_pins(cfg: PipelineConfig, pin: dict[str, str], unpin: list[str]) -> dict[str, str]:
    """Record new pins, drop released ones; returns the pins now in force."""
    pins = {k: v for k, v in read_pins(cfg).items() if k not in set(unpin)}
    pins |= pin
    if pins or pins_path(cfg).is_file():
        write_json(pins_path(cfg), pins)
    return pins

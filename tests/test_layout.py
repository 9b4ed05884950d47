"""Issue 24: the core's packages form layers and every import goes down (or stays inside its
own package). A lazy import inside a function counts: it is a dependency all the same."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

CORE = REPO / "jobforge_core"

# Bottom to top; packages on one level may not import each other.
LEVELS = {
    "common": 0,
    "sources": 1,
    "checks": 2,
    "history": 2,
    "transitions": 3,
    "openlineage": 3,
    "run": 4,
    "catalog": 5,
    "query": 6,
    "site": 7,
}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "jobforge_core" else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "jobforge_core":
                found += [(node.lineno, f"jobforge_core.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def test_every_core_module_lives_in_a_layered_package():
    loose = [p.name for p in CORE.glob("*.py") if p.name != "__init__.py"]
    assert loose == []
    packages = {p.name for p in CORE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LEVELS)
    for name in packages:
        doc = ast.get_docstring(ast.parse((CORE / name / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"{name}/__init__.py says what the package owns"


def test_imports_only_go_down():
    upward = []
    for path in CORE.rglob("*.py"):
        own = path.relative_to(CORE).parts[0]
        if own not in LEVELS:
            continue
        for line, module in _imports(path):
            other = _package(module)
            if other is None or other == own:
                continue
            if LEVELS[other] >= LEVELS[own]:
                upward.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert upward == []


def test_the_core_never_imports_prefect():
    found = [
        f"{path.relative_to(REPO)}:{line}"
        for path in CORE.rglob("*.py")
        for line, module in _imports(path)
        if module.split(".")[0] == "prefect"
    ]
    assert found == []

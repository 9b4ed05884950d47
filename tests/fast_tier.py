"""The fast tier (`pytest -m fast`): does it still reach every module? (issue 29)

    .venv/bin/python tests/fast_tier.py     # the tier under coverage, then the check

Runs the fast tier as the README shows it (two xdist workers), measured by coverage.py in
every worker (`patch = subprocess`), and fails naming each module of `jobforge_core/`,
`flows/` and `tasks/` none of whose functions ran: importing a module runs its `def` lines,
so "reached" means a line inside a function or method body was executed (for a module of
constants only, that it was imported). CI runs it after
the full suite (.ci/run), so a new module that only slow tests reach is noticed.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("jobforge_core", "flows", "tasks")


def modules() -> list[Path]:
    return sorted(
        p
        for pkg in PACKAGES
        for p in (REPO / pkg).rglob("*.py")
        if p.name != "__init__.py" and "schemas" not in p.parts
    )


def body_lines(path: Path) -> set[int]:
    """Lines inside function bodies: what only a call, not an import, executes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for stmt in node.body:
                lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


def run_tier(data_file: Path) -> int:
    rc = data_file.with_suffix(".rc")
    rc.write_text(
        "[run]\n"
        f"data_file = {data_file}\n"
        "parallel = true\n"
        "patch = subprocess\n"
        f"source = {','.join(str(REPO / p) for p in PACKAGES)}\n"
    )
    command = [sys.executable, "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest"]
    command += ["-m", "fast", "-q", "-p", "no:cacheprovider"]
    code = subprocess.run(command, cwd=REPO, env={**os.environ, "COVERAGE_RCFILE": str(rc)})
    subprocess.run([sys.executable, "-m", "coverage", "combine", f"--rcfile={rc}", "-q"], cwd=REPO)
    return code.returncode


def unreached(data_file: Path) -> list[str]:
    import coverage

    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    measured = {Path(f).resolve(): set(data.lines(f) or ()) for f in data.measured_files()}
    missing = []
    for path in modules():
        ran = measured.get(path.resolve(), set())
        bodies = body_lines(path)
        if not (ran & bodies if bodies else ran):  # a module of constants: imported is enough
            missing.append(str(path.relative_to(REPO)))
    return missing


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        data_file = Path(tmp) / "fast.coverage"
        code = run_tier(data_file)
        if code != 0:
            print(f"the fast tier failed (exit {code})", file=sys.stderr)
            return code
        missing = unreached(data_file)
    if missing:
        print("modules the fast tier does not reach (no function of theirs ran):")
        print("\n".join(f"  {m}" for m in missing))
        return 1
    print(f"the fast tier reaches all {len(modules())} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())

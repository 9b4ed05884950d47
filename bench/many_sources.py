"""Many small declared sources, as a team adds them: a few rows each, one gold table each,
every other one with a foreign key to the one before it (so dependents are planned too).

Used by the scaling benchmark (`python -m bench scale`) and by the tests that run hundreds
of sources through `jobforge run` and a deployment (issue 23).
"""

from __future__ import annotations

from pathlib import Path

ROWS = 5

_SPEC = """\
name: {name}
domain: team
description: "Small declared source {i} of a scaling test"
file: {name}.csv
renames: {{Code: code, Libellé: label, Valeur: value}}
types: {{value: int}}
keys: [code]
expectations:
  - {{column: code, rule: regex, pattern: '^\\d{{3}}$', action: drop}}
gold:
  - table: {table}
    model: dimension
    columns: [code, label, value]
    keys: [code]
{fk}"""

_FK = """\
    foreign_keys:
      - {{column: code, references: {parent}}}
"""


def source_name(i: int) -> str:
    return f"team_src_{i:04d}"


def table_name(i: int) -> str:
    return f"dim_team_{i:04d}"


def write_sources(source_dir: Path, spec_dir: Path, count: int) -> list[str]:
    """`count` CSV files and their specs; returns the source names."""
    source_dir.mkdir(parents=True, exist_ok=True)
    spec_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = source_name(i)
        rows = "".join(f'{k:03d},"Libellé {i}-{k}",{i * 10 + k}\n' for k in range(ROWS))
        (source_dir / f"{name}.csv").write_text("\ufeffCode,Libellé,Valeur\n" + rows)
        fk = _FK.format(parent=table_name(i - 1)) if i % 2 == 1 else ""
        (spec_dir / f"{name}.yaml").write_text(
            _SPEC.format(name=name, i=i, table=table_name(i), fk=fk)
        )
        names.append(name)
    return names

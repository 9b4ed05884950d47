"""Next releases of the bundled samples, built by the tests that load them (issue 27).

Each builder writes a new file next to the old one, as the publisher's next release would be
dropped in, and returns what it changed so that a test can compute the expected diff by hand.
"""

from __future__ import annotations

import csv
from pathlib import Path

COPS_1 = "employment_emploi_2024_2033_noc2021.csv"
COPS_2 = "employment_emploi_2025_2034_noc2021.csv"
SKILLS_1 = "skills_oasis_2023_v1.0.csv"
SKILLS_2 = "skills_oasis_2025_v2.0.csv"

# COPS 2025-2034: the window moves by one year (2023 dropped, 2034 added), three values change,
# three unit groups leave and two new ones arrive that dim_noc does not know (foreign key).
COPS_CHANGES = {("21232", 2030): 500, ("00010", 2025): -100, ("72010", 2033): 1000}
COPS_REMOVED = ["00011", "21233", "72011"]
COPS_ADDED = [
    ("21234", "Web developers and programmers", "Développeurs Web et programmeurs"),
    ("21299", "Other computing professionals", "Autres professionnels en informatique"),
]


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _write(path: Path, rows: list[list[str]]) -> Path:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    tmp.replace(path)
    return path


def cops_next(source: Path) -> Path:
    """COPS employment 2025-2034 from the bundled 2024-2033 (see COPS_CHANGES)."""
    header, *rows = _read(source / COPS_1)
    years = [int(h) for h in header[3:]]
    new_years = [*years[1:], years[-1] + 1]
    out = []
    for row in rows:
        if row[0] in COPS_REMOVED:
            continue
        values = row[4:]  # 2023 dropped; 'N/A' stays as published
        values.append(str(int(values[-1]) + 100) if values[-1].isdigit() else "N/A")  # 2034
        for (code, year), delta in COPS_CHANGES.items():
            if row[0] == code:
                i = new_years.index(year)
                values[i] = str(int(values[i]) + delta)
        out.append([*row[:3], *values])
    for code, en, fr in COPS_ADDED:
        out.append([code, en, fr, *[str(1000 + i) for i in range(len(new_years))]])
    return _write(source / COPS_2, [[*header[:3], *map(str, new_years)], *out])


def cops_2034(source: Path, code: str) -> int | None:
    """The 2034 value cops_next gives a unit group: its 2033 value plus 100."""
    last = cops_value(source, code, 2033)
    return None if last is None else last + 100


def cops_value(source: Path, code: str, year: int) -> int | None:
    """A value of the bundled 2024-2033 release, to compute an expected delta by hand."""
    header, *rows = _read(source / COPS_1)
    (row,) = [r for r in rows if r[0] == code]
    value = row[header.index(str(year))]
    return int(value) if value.isdigit() else None


# OaSIS skills: release 2 changes two ratings and drops one skill; release 3 brings that skill
# back and drops another: against release 2, one descriptor added and one dropped.
SKILLS_3 = "skills_oasis_2026_v3.0.csv"
SKILLS_CHANGES = {("00010.00", "Writing"): 1, ("21232.00", "Reading Comprehension"): -1}


def skills_release(source: Path, name: str, drop: str) -> Path:
    """An OaSIS skills release from 2023 v1.0: SKILLS_CHANGES applied, the skill `drop` gone."""
    header, *rows = _read(source / SKILLS_1)
    names = [h.strip() for h in header]
    gone = names.index(drop)
    out = []
    for row in rows:
        row = list(row)
        for (code, skill), delta in SKILLS_CHANGES.items():
            if row[0] == code:
                i = names.index(skill)
                row[i] = str(int(row[i]) + delta)
        out.append([v for i, v in enumerate(row) if i != gone])
    return _write(source / name, [[h for i, h in enumerate(header) if i != gone], *out])


def skills_rating(source: Path, code: str, skill: str) -> int:
    """A rating of 2023 v1.0, to compute an expected delta by hand."""
    header, *rows = _read(source / SKILLS_1)
    (row,) = [r for r in rows if r[0] == code]
    return int(row[[h.strip() for h in header].index(skill)])

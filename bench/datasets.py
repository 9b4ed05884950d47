"""The three synthetic sources, in the formats of the real files, built chunk by chunk.

generic: a wide-ish table (10 columns, ~55 bytes a row: 10M rows ~ 0.55 GB of CSV);
cops:    a COPS-like yearly file (code, English and French names, one column per year);
oasis:   an OaSIS-like wide attribute file (profile code "00010.00", label, 30 ratings).
Every value is text as the publishers write it: zero-padded codes, French accents, quoted
thousands ("8,238,800"), "N/A"/"N/D" markers, and 0.1% bad rows (see `synth`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from bench.synth import (
    ROW,
    chance,
    choice,
    count_value,
    decimal,
    is_cast_error_row,
    key_row,
    padded,
    rand,
    thousands,
    with_markers,
)


@dataclass(frozen=True)
class Dataset:
    key: str  # generic | cops | oasis
    file: str
    headers: list[str]
    columns: Callable[[], list[pl.Expr]]  # one expression per header, over the row index `i`

    def frame(self, start: int, stop: int) -> pl.DataFrame:
        rows = pl.DataFrame({"i": pl.int_range(start, stop, dtype=pl.UInt64, eager=True)})
        exprs = [e.alias(h) for e, h in zip(self.columns(), self.headers, strict=True)]
        return rows.select(exprs)


CITIES = [
    "Montréal", "Québec", "Lévis", "Trois-Rivières", "Sept-Îles", "Gatineau", "Saint-Jérôme",
    "Rimouski", "Sherbrooke", "Chicoutimi", "Val-d'Or", "Baie-Comeau", "Toronto", "Moncton",
]  # fmt: skip
PROVINCES = ["QC", "ON", "BC", "AB", "MB", "SK", "NS", "NB", "NL", "PE", "YT", "NT", "NU"]

GENERIC_HEADERS = [
    "Code", "Province", "Ville", "Année", "Emploi", "Salaire horaire", "Taux de chômage",
    "Postes vacants", "FÉER", "Actif",
]  # fmt: skip


def _generic_columns() -> list[pl.Expr]:
    employment = with_markers(thousands(count_value(10)), 12, 10)
    return [
        padded(key_row(), 8),
        choice(PROVINCES, 1),
        choice(CITIES, 2),
        padded(2015 + rand(11, 3), 4),
        pl.when(is_cast_error_row()).then(pl.lit("env. 1 200")).otherwise(employment),
        decimal(15 + rand(60, 4), rand(100, 5)),
        with_markers(decimal(rand(20, 6), rand(10, 7) * 10), 8, 50),
        pl.when(chance(20, 9))
        .then(pl.lit(""))
        .otherwise(with_markers(rand(500, 13).cast(pl.String), 14, 30, "N/D")),
        rand(6, 15).cast(pl.String),
        pl.when(rand(2, 16) == 0).then(pl.lit("oui")).otherwise(pl.lit("non")),
    ]


OCCUPATIONS = [
    ("Software engineers and designers", "Ingénieurs et concepteurs en logiciel"),
    ("Registered nurses", "Infirmières autorisées et infirmiers autorisés"),
    ("Cooks", "Cuisiniers/cuisinières"),
    ("Transport truck drivers", "Conducteurs/conductrices de camions de transport"),
    ("Electricians", "Électriciens/électriciennes"),
    ("Early childhood educators", "Éducateurs/éducatrices de la petite enfance"),
    ("Financial auditors and accountants", "Vérificateurs/vérificatrices et comptables"),
    ("Retail salespersons", "Vendeurs/vendeuses - commerce de détail"),
]
YEARS = [str(y) for y in range(2023, 2034)]
AGGREGATES = (
    [("00000", "All Occupations", "Toutes les professions")]
    + [(f"TEER_{t}", f"TEER {t}", f"FÉER {t}") for t in range(6)]
    + [(f"NOC1_{b}", f"Broad category {b}", f"Grande catégorie {b}") for b in range(10)]
)


def _cops_columns() -> list[pl.Expr]:
    agg = len(AGGREGATES) > ROW

    def agg_or(part: int, value: pl.Expr) -> pl.Expr:
        names = {i: a[part] for i, a in enumerate(AGGREGATES)}
        return pl.when(agg).then(ROW.replace_strict(names, default="")).otherwise(value)

    years = []
    for n, _ in enumerate(YEARS):
        value = with_markers(thousands(count_value(20 + 2 * n)), 60 + n, 10)
        if n == 4:  # 2027
            value = pl.when(is_cast_error_row()).then(pl.lit("12 3o0")).otherwise(value)
        years.append(value)
    return [
        agg_or(0, padded(key_row(), 8)),
        agg_or(1, choice([o[0] for o in OCCUPATIONS], 1)),
        agg_or(2, choice([o[1] for o in OCCUPATIONS], 1)),
        *years,
    ]


DESCRIPTORS = [
    "Compréhension de lecture", "Écriture", "Écoute active", "Expression orale",
    "Mathématiques", "Sciences", "Pensée critique", "Apprentissage actif",
    "Stratégies d'apprentissage", "Surveillance", "Perceptivité sociale", "Coordination",
    "Persuasion", "Négociation", "Enseignement", "Orientation vers le service",
    "Résolution de problèmes complexes", "Analyse des opérations", "Conception technologique",
    "Sélection d'équipement", "Installation", "Programmation", "Contrôle des opérations",
    "Entretien de l'équipement", "Dépannage", "Réparation", "Analyse de la qualité",
    "Jugement et prise de décisions", "Analyse de systèmes", "Gestion du temps",
]  # fmt: skip
PROFILES = [
    "Ingénieurs en logiciel", "Infirmières praticiennes", "Cuisiniers en chef",
    "Électriciens industriels", "Éducatrices spécialisées", "Vérificateurs financiers",
]  # fmt: skip


def _oasis_columns() -> list[pl.Expr]:
    code_row = key_row()
    full = pl.concat_str(padded(code_row // 100, 5), pl.lit("."), padded(code_row % 100, 2))
    # The publisher sometimes drops the ".00" ("10010"): silver normalises it back.
    short = (code_row % 100 == 0) & (rand(10, 1) == 0)
    ratings = []
    for n, _ in enumerate(DESCRIPTORS):
        value = with_markers((1 + rand(5, 100 + n)).cast(pl.String), 200 + n, 5)
        if n == 7:
            value = pl.when(is_cast_error_row()).then(pl.lit("trois")).otherwise(value)
        ratings.append(value)
    return [
        pl.when(short).then(padded(code_row // 100, 5)).otherwise(full),
        choice(PROFILES, 2),
        *ratings,
    ]


DATASETS = {
    "generic": Dataset("generic", "bench_generic.csv", GENERIC_HEADERS, _generic_columns),
    "cops": Dataset(
        "cops",
        "bench_cops_employment_2023_2033.csv",
        ["Code", "Occupation Name", "Nom de la profession", *YEARS],
        _cops_columns,
    ),
    "oasis": Dataset(
        "oasis",
        "bench_oasis_skills.csv",
        ["OaSIS Code - Final", "OaSIS Label - Final", *DESCRIPTORS],
        _oasis_columns,
    ),
}

"""JobForge specs of the synthetic sources, as YAML text written next to the data.

The big sources are self-contained (no foreign keys to dim_noc / dim_oasis_profile), so the
measurement is about the big file, not about building dimensions. COPS-like and OaSIS-like
use the shipped kinds (renames, types, keys, normalisation) and override `gold` and
`expectations`, which the kinds tie to NOC 5-digit codes and dimension tables.
"""

from __future__ import annotations

SOURCE_NAMES = {"generic": "bench_generic", "cops": "bench_cops", "oasis": "bench_oasis"}
GOLD_TABLES = {
    "generic": ["bench_generic_fact"],
    "cops": ["bench_cops_fact", "bench_cops_agg"],
    "oasis": ["bench_oasis_fact"],
}

_GENERIC_BODY = """\
domain: bench
description: "Synthetic wide table for the benchmark"
renames:
  Code: code
  Province: province
  Ville: ville
  Année: annee
  Emploi: emploi
  Salaire horaire: salaire_horaire
  Taux de chômage: taux_chomage
  Postes vacants: postes_vacants
  FÉER: teer
  Actif: actif
types:
  annee: int
  emploi: int
  salaire_horaire: float
  taux_chomage: float
  postes_vacants: int
  teer: int
  actif: bool
keys: [code]
expectations:
  - {column: code, rule: regex, pattern: '^\\d{8}$', action: drop}
  - {column: annee, rule: range, min: 2000, max: 2040, action: warn}
gold:
  - table: {table}
    model: fact
    description: "Synthetic facts, a selection of the silver columns"
    columns: [code, province, ville, annee, emploi, salaire_horaire, taux_chomage, teer]
    keys: [code]
"""

_COPS = """\
name: bench_cops
kind: cops_yearly
file: {file}
description: "Synthetic COPS-like yearly projections (8-digit codes, no foreign keys)"
params:
  fact_table: bench_cops_fact
  aggregate_table: bench_cops_agg
  value: employment
expectations:
  - {{column: code, rule: regex, pattern: '^(\\d{{8}}|00000|TEER_\\d|NOC1_\\d)$', action: drop}}
gold:
  - table: bench_cops_fact
    model: fact
    where: "NOT (code = '00000' OR code LIKE 'TEER%' OR code LIKE 'NOC1%')"
    unpivot: {{columns: '^\\d{{4}}$', variable: year, variable_type: int, value: employment}}
    columns: {{noc_code: code, year: year, employment: employment}}
    keys: [noc_code, year]
  - table: bench_cops_agg
    model: aggregate
    where: "code = '00000' OR code LIKE 'TEER%' OR code LIKE 'NOC1%'"
    unpivot: {{columns: '^\\d{{4}}$', variable: year, variable_type: int, value: employment}}
    columns:
      aggregate_code: code
      aggregate_name_en: occupation_name_en
      aggregate_name_fr: occupation_name_fr
      year: year
      employment: employment
    keys: [aggregate_code, year]
"""

_OASIS = """\
name: bench_oasis
kind: oasis_wide_attributes
file: {file}
description: "Synthetic OaSIS-like skills ratings (30 descriptors, no foreign keys)"
params:
  fact_table: bench_oasis_fact
  value: proficiency
  code_header: OaSIS Code - Final
  label_header: OaSIS Label - Final
gold:
  - table: bench_oasis_fact
    model: fact
    derive:
      noc_code: "substr(oasis_code, 1, 5)"
    unpivot:
      index: [oasis_code, oasis_label, noc_code]
      variable: descriptor
      variable_from: label
      value: proficiency
    columns: [oasis_code, noc_code, descriptor, proficiency]
    keys: [oasis_code, descriptor]
"""


def _generic(name: str, file: str, table: str) -> str:
    head = f"name: {name}\nfile: {file}\n"
    return head + _GENERIC_BODY.replace("{table}", table)


def spec_yaml(key: str) -> str:
    from bench.datasets import DATASETS

    file = DATASETS[key].file
    if key == "generic":
        return _generic(SOURCE_NAMES[key], file, GOLD_TABLES[key][0])
    return (_COPS if key == "cops" else _OASIS).format(file=file)


def small_spec(name: str) -> str:
    """A tiny source of the generic shape, for the fixed-overhead measurement."""
    return _generic(name, f"{name}.csv", f"{name}_fact")

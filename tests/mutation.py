"""Score-based mutation testing of the invariant code (issue 17): a developer command, not CI.

    nice -n 19 .venv/bin/python tests/mutation.py run     # mutmut over the scope below
    nice -n 19 .venv/bin/python tests/mutation.py rerun   # only the mutants not killed last time
    .venv/bin/python tests/mutation.py score              # per-module score, survivors listed
    .venv/bin/python tests/mutation.py score --markdown   # the tables of tests/MUTATION.md
    .venv/bin/python tests/mutation.py judge              # every survivor with its judgement

The scope is the functions that reconcile, quarantine, plan batches, check foreign keys and
fence files and queries; `[tool.mutmut]` in pyproject.toml names their files and the fast core
test files (no Prefect, no subprocess) run against each mutant. mutmut keeps its results in
`mutants/` (git-ignored). `run` tests every mutant of the scope again; `rerun`, after new
tests, only those that were not killed (their names are passed to mutmut, which then
re-tests them whatever their last result).
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# area -> mutmut name globs (module.x_function / module.xǁClassǁmethod)
SCOPE: dict[str, list[str]] = {
    "reconcile": [
        "jobforge_core.transitions.common.*",
        "jobforge_core.checks.rowsets.*",
        "jobforge_core.transitions.gold.x__conserve__*",
        "jobforge_core.transitions.gold.x__check_coverage__*",
        "jobforge_core.transitions.gold.x__guard__*",
        "jobforge_core.transitions.gold.x__commit_gold__*",
    ],
    "quarantine": [
        "jobforge_core.checks.quarantine.*",
        "jobforge_core.checks.volume_guard.*",
        "jobforge_core.run.pipeline.x_quarantine_failed_source__*",
    ],
    "plan batches": [
        "jobforge_core.run.pipeline.x_select_specs__*",
        "jobforge_core.run.pipeline.x_source_file__*",
        "jobforge_core.run.pipeline.x_plan_sources__*",
        "jobforge_core.run.pipeline.x_upstream_matches__*",
        "jobforge_core.run.pipeline.x_upstream_batches__*",
        "jobforge_core.run.pipeline.x_gold_batch__*",
        "jobforge_core.run.pipeline.x_with_snapshot__*",
        "jobforge_core.run.pipeline.x_record_success__*",
        "jobforge_core.run.state.*",
    ],
    "foreign keys": [
        "jobforge_core.checks.integrity.*",
        "jobforge_core.transitions.gold.xǁGoldBuildǁ_with_fk_flags__*",
        "jobforge_core.transitions.gold.xǁGoldBuildǁsplit_rejects__*",
        "jobforge_core.transitions.gold.x__applied_rules__*",
    ],
    "fence": [
        "jobforge_core.common.fence.*",
        "jobforge_core.query.sql.x_one_line__*",
        "jobforge_core.query.sql.xǁQueryLimitsǁ__post_init____*",
        "jobforge_core.query.sql.x__parse__*",
        "jobforge_core.query.sql.x__kind__*",
        "jobforge_core.query.sql.x__explained__*",
        "jobforge_core.query.sql.x_check_read_only__*",
        "jobforge_core.query.sql.x__table_file__*",
        "jobforge_core.query.sql.x__load_store__*",
        "jobforge_core.query.sql.x__register__*",
        "jobforge_core.query.sql.x__lock__*",
        "jobforge_core.query.sql.x_connect__*",
        "jobforge_core.query.sql.x__mentioned__*",
        "jobforge_core.query.sql.x__run__*",
        "jobforge_core.query.sql.x_run_query__*",
    ],
    "publish": [
        "jobforge_core.run.publish.*",
        "jobforge_core.run.checksums.*",
        "jobforge_core.run.pins.*",
        "jobforge_core.run.registry.*",
        "jobforge_core.catalog.stamp.*",
    ],
    "history": [
        "jobforge_core.history.batches.*",
        "jobforge_core.history.transition_logs.*",
        "jobforge_core.checks.schema_drift.*",
    ],
    "housekeeping": [
        "jobforge_core.run.housekeeping.*",
        "jobforge_core.common.atomic.*",
        "jobforge_core.sources.snapshot.*",
    ],
    "spec": [  # thresholds, the fingerprint, schema evolution, required columns
        "jobforge_core.sources.spec.xǁThresholdsǁ*",
        "jobforge_core.sources.spec.xǁSourceSpecǁfingerprint__*",
        "jobforge_core.sources.spec.xǁSourceSpecǁevolves__*",
        "jobforge_core.sources.spec.xǁSourceSpecǁrequired__*",
        "jobforge_core.sources.spec.x__expectation_key__*",
    ],
}
PATTERNS = [p for globs in SCOPE.values() for p in globs]
# mutmut's exit codes (mutmut/stats.py): 1 and 3 kill, 0 survives
KILLED, SURVIVED = {1, 3}, {0}
TIMEOUT = {36, 24, -24, 152, 255}


def area_of(name: str) -> str | None:
    for area, globs in SCOPE.items():
        if any(fnmatch.fnmatchcase(name, g) for g in globs):
            return area
    return None


def function_of(name: str) -> str:
    """`jobforge_core.run.pipeline.x_plan_sources__mutmut_3` -> `pipeline.plan_sources`."""
    module, _, mangled = re.sub(r"__mutmut_\d+$", "", name).rpartition(".")
    short = module.removeprefix("jobforge_core.")
    return f"{short}.{mangled.removeprefix('x_').replace('xǁ', '').replace('ǁ', '.')}"


def results() -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for meta in sorted((REPO / "mutants").rglob("*.py.meta")):
        codes.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return {name: code for name, code in codes.items() if area_of(name) is not None}


def status(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in SURVIVED:
        return "survived"
    if code in TIMEOUT:
        return "timeout"
    if code in (5, 33):
        return "no tests"
    return "not checked" if code is None else f"other ({code})"


def score(markdown: bool) -> int:
    codes = results()
    if not codes:
        print("no mutmut results: run `tests/mutation.py run` first", file=sys.stderr)
        return 1
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    by_area: dict[str, Counter[str]] = defaultdict(Counter)
    for name, code in codes.items():
        st = status(code)
        by_module[name.rsplit(".", 1)[0].removeprefix("jobforge_core.")][st] += 1
        by_area[area_of(name) or ""][st] += 1
    total: Counter[str] = Counter()
    for c in by_module.values():
        total.update(c)
    columns = ["killed", "survived", "timeout", "no tests", "not checked"]

    def row(label: str, c: Counter[str]) -> str:
        n = sum(c.values())
        checked = n - c["not checked"]
        pct = f"{100 * c['killed'] / checked:.1f}%" if checked else "-"
        cells = [label, str(n), *(str(c[k]) for k in columns), pct]
        return "| " + " | ".join(cells) + " |" if markdown else "  ".join(cells)

    # of the mutants checked; a timeout is not counted as killed
    header = ["mutants", *columns, "killed % of checked"]
    for title, table in (("module", by_module), ("area", by_area)):
        cells = [title, *header]
        print("| " + " | ".join(cells) + " |" if markdown else "  ".join(cells))
        if markdown:
            print("|" + " --- |" * (len(header) + 1))
        for key in sorted(table):
            print(row(f"`{key}`" if markdown and title == "module" else key, table[key]))
        print(row("**all**" if markdown else "all", total))
        print()
    left = sorted(n for n, c in codes.items() if status(c) != "killed")
    print(f"{len(left)} not killed:")
    for name in left:
        print(f"  {status(codes[name]):<12} {name}")
    return 0


# Survivors judged by the shape of their change (regex on the mutated line): each rule says why
# such a mutant cannot change what JobForge promises. A survivor no rule covers is listed as
# "to judge" and needs a test or a reason of its own (JUDGED below).
RULES: list[tuple[str, str]] = [
    (
        r"^\s*i (= 1|-= 1)$",
        "a loop that never ends: a timeout, not a kill (2026-11-29, `_explained`)",
    ),
    (r'encoding="UTF-8"', "equivalent: codec names are case-insensitive"),
    (
        r"missing_ok=(None|False)|ignore_errors=(None|False)|\.unlink\(\)|rmtree\(path, \)",
        "a race only: another process deleting the same temp or kept file meanwhile; "
        "the data-root lock rules that out",
    ),
    (r"\.read\((None|2 << 20|1 << 21)\)", "performance only: the size of a read"),
    (r"(?i)select count\(\*\) from catalog\.tables", "equivalent: SQL is case-insensitive"),
    (r"\[:201\]|pread\(fd, 201", "equivalent: a bound no text reaches"),
    (r"monotonic\(\) > deadline", "equivalent: a monotonic clock equal to the deadline"),
    (r'strip\("XX\(\)XX"\)', "equivalent: a holder's text has no X around its name"),
    (r"sort_keys=(None|False)|^\s+default=str,$", "equivalent: the dump's key order is fixed"),
    (
        r'"(XXspecs_sha256XX|SPECS_SHA256|XXrecorded_atXX|RECORDED_AT)"',
        "equivalent: a key of an internal file, written and compared by the same code",
    ),
    (
        r"read_only=False|connect\(str\(cfg\.store_path\(\)\), \)",
        "equivalent in one process: read-only guards against another process writing",
    ),
    (
        r'model_dump\(mode=(None|"XXjsonXX"|"JSON")|model_dump\(exclude=',
        "equivalent here: the model holds no value whose Python and JSON forms differ",
    ),
    (r"comm_subplan_elim=|pl\.collect_all\(sinks, \)", "performance only: a polars plan flag"),
]
_P = "jobforge_core."
_ASCII = "equivalent: what it reads is ASCII (a snapshot id, batch ids and hashes)"
_FIRST_ROW = "equivalent: only the first row is read"
_UNDECIDED = "undecided: timed out under load (its tests ran past mutmut's limit); re-run"
JUDGED: dict[str, str] = {
    _P + "catalog.stamp.x__readable__mutmut_2": (
        "a model.json with accents under an ASCII locale would not read: the catalog is then "
        "rebuilt by every run (slower, never wrong)"
    ),
    _P
    + "catalog.stamp.x_catalog_inputs__mutmut_14": "equivalent: a JSON-mode dump needs no default",
    _P + "catalog.stamp.x_catalog_inputs__mutmut_16": "equivalent: the dump's key order is fixed",
    _P
    + "catalog.stamp.x_catalog_inputs__mutmut_17": "equivalent: a JSON-mode dump needs no default",
    _P + "catalog.stamp.x_catalog_inputs__mutmut_34": _ASCII,
    _P + "catalog.stamp.x_catalog_is_current__mutmut_3": (
        "equivalent: a missing stamp is then caught as unreadable: the same False"
    ),
    _P + "catalog.stamp.x_catalog_is_current__mutmut_9": _ASCII,
    _P
    + "checks.quarantine.x_reason_counts__mutmut_7": "equivalent: both lists come from one frame",
    _P
    + "checks.quarantine.x_reason_counts__mutmut_10": "equivalent: both lists come from one frame",
    _P
    + "checks.quarantine.x_reason_counts__mutmut_13": "equivalent: both lists come from one frame",
    _P + "common.atomic.x__drop_own_folder__mutmut_2": _UNDECIDED,
    _P
    + "common.atomic.x_write_json__mutmut_7": "equivalent: ensure_ascii=None is falsy like False",
    _P + "history.batches.x_batch_of__mutmut_7": (
        "equivalent: a multi-value Enum's first category is the first row's batch"
    ),
    _P + "history.batches.x_batch_of__mutmut_8": (
        "equivalent: a multi-value Enum's first category is the first row's batch"
    ),
    _P + "history.batches.x_batch_of__mutmut_12": "equivalent: only the first row is read",
    _P + "history.batches.x_batch_of__mutmut_15": "equivalent: only the first row is read",
    _P + "history.batches.xǁTableVersionǁingested_at__mutmut_2": _FIRST_ROW,
    _P + "history.batches.xǁTableVersionǁingested_at__mutmut_5": _FIRST_ROW,
    _P + "history.transition_logs.x__first__mutmut_3": (
        "a log line names NoneType for an error without text: every read error has text"
    ),
    _P
    + "query.sql.x__explained__mutmut_10": "equivalent: `ends` is built from `tokens` (2026-11-29)",
    _P
    + "query.sql.x__explained__mutmut_13": "equivalent: `ends` is built from `tokens` (2026-11-29)",
    _P
    + "query.sql.x__explained__mutmut_14": "equivalent: `ends` is built from `tokens` (2026-11-29)",
    _P + "run.publish.x__new_id__mutmut_3": (
        "equivalent: the id is unique by its microsecond time; the hash part helps a reader"
    ),
    _P + "run.publish.x__new_id__mutmut_6": "equivalent: one more hex digit in the id",
    _P + "run.publish.x__prune__mutmut_3": (
        "equivalent: commit points CURRENT at the newest snapshot before it prunes"
    ),
    _P + "run.publish.x__prune__mutmut_4": _ASCII,
    _P + "run.publish.x_current_snapshot__mutmut_6": _ASCII,
    _P + "run.publish.x__recorded__mutmut_1": "equivalent: `intact` reads size and mtime only",
    _P + "run.publish.x__working_versions__mutmut_13": (
        "a source's later gold table keeps its published version for one run when an earlier "
        "one's working file was deleted by hand"
    ),
    _P + "run.publish.x__working_versions__mutmut_68": "a label for a gold file without provenance",
    _P + "run.publish.x__working_versions__mutmut_69": "a label for a gold file without provenance",
    _P + "run.publish.x_audit__mutmut_13": "equivalent: with every file given, cfg is not read",
    _P + "run.publish.x_audit__mutmut_20": "equivalent: None is falsy like False",
    _P + "run.publish.x_audit__mutmut_3": (
        "equivalent here: each pass holds back one new version, fewer than the tables"
    ),
    _P + "run.publish.x_audit__mutmut_4": "equivalent: a looser bound on a loop that settles",
    _P + "run.publish.x_audit__mutmut_54": "unreachable: the bounded loop always settles",
    _P + "run.publish.x_publish__mutmut_59": (
        "equivalent: a mended table's entry is rebuilt with no file, so it is fresh anyway"
    ),
    _P + "run.publish.x_publish__mutmut_77": "performance only: unchanged tables relinked",
    _P + "sources.snapshot.x_drop_snapshot__mutmut_5": "a race only (see the unlink flags)",
    _P + "sources.snapshot.x_inspect__mutmut_24": "equivalent: hashlib names are case-insensitive",
    _P + "sources.snapshot.x_open_regular__mutmut_42": (
        "equivalent: reads of a regular file never block"
    ),
    _P + "sources.snapshot.x_open_regular__mutmut_6": (
        "a blocking open of a FIFO hangs: the hang is the bug this line prevents, seen only as "
        "a timeout"
    ),
    _P + "sources.snapshot.x_take_snapshot__mutmut_40": _UNDECIDED,
    _P + "sources.snapshot.x_take_snapshot__mutmut_47": (
        "only a full disk differs: the free space is then left out of the message"
    ),
    _P + "sources.snapshot.x_take_snapshot__mutmut_48": (
        "only a full disk differs: the free space is then left out of the message"
    ),
    _P + "sources.snapshot.x_take_snapshot__mutmut_50": (
        "only a full disk differs: the free space is then left out of the message"
    ),
    _P + "sources.spec.xǁSourceSpecǁfingerprint__mutmut_12": (
        "equivalent: the dump's key order is fixed by the model"
    ),
}


def mutated_line(name: str) -> str:
    mutmut = Path(sys.executable).with_name("mutmut")
    shown = subprocess.run(
        [str(mutmut), "show", name], cwd=REPO, capture_output=True, text=True
    ).stdout
    plus = [line[1:] for line in shown.splitlines() if line.startswith("+ ")]
    return " / ".join(plus) or "(line removed)"


def judge() -> int:
    """A markdown table of every mutant checked and not killed: its change and judgement."""
    codes = results()
    left = sorted(n for n, c in codes.items() if status(c) not in ("killed", "not checked"))
    print("| mutant (`jobforge_core.`) | status | change | judgement |")
    print("| --- | --- | --- | --- |")
    unjudged = 0
    for name in left:
        line = mutated_line(name)
        reason = JUDGED.get(name) or next(
            (why for pattern, why in RULES if re.search(pattern, line)), "**to judge**"
        )
        unjudged += reason == "**to judge**"
        short = name.removeprefix("jobforge_core.")
        change = line.strip().replace("|", "\\|")[:90]
        print(f"| `{short}` | {status(codes[name])} | `{change}` | {reason} |")
    print(f"\n{len(left)} not killed, {unjudged} to judge", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] in (["run"], ["rerun"]):
        names = PATTERNS
        if argv[0] == "rerun":
            names = sorted(n for n, code in results().items() if status(code) != "killed")
            if not names:
                print("every mutant of the scope was killed")
                return 0
        mutmut = Path(sys.executable).with_name("mutmut")
        extra = argv[1:] or ["--max-children", "2"]
        return subprocess.run([str(mutmut), "run", *extra, *names], cwd=REPO).returncode
    if argv[:1] == ["score"]:
        return score("--markdown" in argv)
    if argv[:1] == ["judge"]:
        return judge()
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Re-check that the suite still kills the mutants of tests/MUTATION.md (a developer command).

Each mutant is a one-line change a careless edit could make to a promise of the product. For
each, this script copies the repository (without .venv and generated data) to a temporary
directory, applies the change there, runs the tests named for it against the copy, and expects
them to FAIL. It also runs them once on the unchanged copy, where they must pass. The working
tree is never touched.

    .venv/bin/python tests/mutants.py               # every mutant (a few minutes)
    .venv/bin/python tests/mutants.py reconcile     # mutants whose id contains 'reconcile'
    .venv/bin/python tests/mutants.py --list

A mutant whose line is no longer in its file is reported STALE (the code moved on): update its
`old`/`new` here, not the test. Not run in CI: it is slow by nature.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", "bench", "mutants"
)
GENERATED = ("staged", "bronze", "silver", "gold", "quarantine", "catalog")


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str


def t(path: str, *names: str) -> tuple[str, ...]:
    return tuple(f"tests/{path}::{n}" for n in names) if names else (f"tests/{path}",)


MUTANTS: list[Mutant] = [
    # --- reconciliation, skip, conservation: the rows of issue 17's table ---
    Mutant(
        "reconcile-one-to-one-lt",
        "jobforge_core/transitions/common.py",
        "if rows_in != rows_out + rows_quarantined:",
        "if rows_in < rows_out + rows_quarantined:",
        t(
            "test_trust_invariants.py",
            "test_a_one_to_one_layer_that_loses_a_row_fails_and_writes_nothing",
            "test_reconciliation_is_an_equality_not_a_bound",
        ),
        "a layer that silently drops a row is logged success",
    ),
    Mutant(
        "plan-skip-ignores-batch",
        "jobforge_core/run/pipeline.py",
        "and state.batch_id == batch",
        "and True",
        t(
            "test_trust_invariants.py",
            "test_an_edited_file_is_planned_as_changed",
            "test_an_edited_spec_is_planned_as_changed",
        ),
        "an edited file (or spec) is planned unchanged and skipped",
    ),
    Mutant(
        "plan-skip-ignores-upstream",
        "jobforge_core/run/pipeline.py",
        "all(plans[d].unchanged for d in deps if d in plans)",
        "True",
        t("test_trust_invariants.py", "test_a_changed_dimension_re_runs_its_dependents"),
        "a fact is skipped although the dimension its foreign keys check changed",
    ),
    Mutant(
        "gold-conserve-gt",
        "jobforge_core/transitions/gold.py",
        "    if produced != expected:",
        "    if produced > expected:",
        t(
            "test_trust_invariants.py",
            "test_a_gold_output_that_loses_a_row_fails_and_keeps_the_previous_gold",
        ),
        "a gold output that loses rows is committed",
    ),
    Mutant(
        "gold-commits-on-failure",
        "jobforge_core/transitions/gold.py",
        "        discard(all_temps)\n        raise",
        "        _commit_gold(all_temps, cfg)\n        raise",
        t("test_trust_invariants.py", "test_a_failure_at_gold_keeps_every_previous_gold_table"),
        "a gold failure commits the outputs built before it",
    ),
    Mutant(
        "silver-commits-on-failed-expectation",
        "jobforge_core/transitions/silver.py",
        "    except BaseException:\n        discard(temps)\n        raise\n    rows_in, rows_out",
        "    except BaseException:\n        commit({target: temps[target]})\n        raise\n"
        "    rows_in, rows_out",
        t(
            "test_trust_invariants.py",
            "test_a_failure_at_silver_keeps_the_previous_gold_byte_for_byte",
        ),
        "a `fail` expectation still replaces the silver table",
    ),
    # --- the read-only store and the CLI's read commands ---
    Mutant(
        "readonly-deny-list",
        "jobforge_core/query/sql.py",
        'if kind == "SELECT":\n        return',
        'if kind not in {"DELETE", "DROP", "CREATE", "ATTACH"}:\n        return',
        t("test_catalog.py", "test_only_select_and_explain_reach_duckdb"),
        "the allow-list becomes a deny-list of four verbs: COPY over a gold table runs",
    ),
    Mutant(
        "readonly-explain-refused",
        "jobforge_core/query/sql.py",
        'if kind == "EXPLAIN":',
        'if kind == "EXPLAIN" and False:',
        t("test_catalog.py", "test_query_prints_gold_and_catalog_rows_and_explain_is_allowed"),
        "EXPLAIN is refused",
    ),
    Mutant(
        "query-loses-rows",
        "jobforge_core/query/sql.py",
        "return relation.pl()",
        "return relation.pl().head(1)",
        t("test_catalog.py", "test_query_prints_gold_and_catalog_rows_and_explain_is_allowed"),
        "jobforge query prints only part of the result",
    ),
    Mutant(
        "catalog-default-owner",
        "jobforge_core/sources/spec.py",
        'owner: str = "JobForge data team"',
        'owner: str = ""',
        t("test_catalog.py", "test_catalog_governance_defaults_when_a_spec_says_nothing"),
        "a table without a declared owner has none",
    ),
    Mutant(
        "catalog-default-retention",
        "jobforge_core/sources/spec.py",
        "retention_days: int | None = 3650",
        "retention_days: int | None = None",
        t("test_catalog.py", "test_catalog_governance_defaults_when_a_spec_says_nothing"),
        "a table without declared retention has none",
    ),
    Mutant(
        "catalog-steward-is-owner",
        "jobforge_core/catalog/tables.py",
        "data_steward=spec.steward,",
        "data_steward=spec.owner,",
        t(
            "test_catalog.py",
            "test_catalog_governance_defaults_when_a_spec_says_nothing",
            "test_catalog_governance_declared_in_a_spec_wins",
        ),
        "the steward column shows the owner",
    ),
    Mutant(
        "catalog-declared-retention-ignored",
        "jobforge_core/catalog/tables.py",
        "retention_days=spec.retention_days,",
        "retention_days=3650,",
        t("test_catalog.py", "test_catalog_governance_declared_in_a_spec_wins"),
        "a spec's retention_days never reaches the catalog",
    ),
    # --- retries (tasks/) ---
    Mutant(
        "retries-two",
        "tasks/retry.py",
        "RETRIES = 3",
        "RETRIES = 2",
        t("test_retries.py", "test_a_persistent_fault_is_tried_four_times_with_growing_delays"),
        "two retries instead of three",
    ),
    Mutant(
        "retries-constant-delay",
        "tasks/retry.py",
        "RETRY_DELAYS = exponential_backoff(backoff_factor=0.5)",
        "RETRY_DELAYS = 0.5",
        t("test_retries.py", "test_a_persistent_fault_is_tried_four_times_with_growing_delays"),
        "no backoff: the same delay before every retry",
    ),
    Mutant(
        "lock-error-not-transient",
        "jobforge_core/common/errors.py",
        'return name == "IOException" and',
        'return name == "IOExc" and',
        t(
            "test_retries.py",
            "test_a_lock_held_by_another_process_is_transient",
            "test_a_lock_error_in_a_task_is_retried_and_the_run_succeeds",
        ),
        "a DuckDB lock held by another process fails the source instead of retrying",
    ),
    Mutant(
        "lock-any-duckdb-io-error",
        "jobforge_core/common/errors.py",
        'return name == "IOException" and "lock" in',
        'return name == "IOException" or "lock" in',
        t("test_retries.py", "test_a_lock_held_by_another_process_is_transient"),
        "every DuckDB I/O error (a missing database) is retried",
    ),
    Mutant(
        "lock-word-in-path",
        "jobforge_core/common/errors.py",
        're.sub(r\'"[^"]*"\', "", str(exc))',
        "str(exc)",
        t("test_retries.py", "test_a_lock_held_by_another_process_is_transient"),
        "a permanent error whose file path contains 'lock' is retried",
    ),
    # --- jobforge run options and the docs ---
    Mutant(
        "cli-specs-ignored",
        "flows/cli_run.py",
        "spec_dirs=request.spec_dirs,",
        "spec_dirs=None,",
        t("test_cli_run.py", "test_run_with_specs_skips_an_unchanged_rerun_and_force_reprocesses"),
        "--specs DIR is ignored",
    ),
    Mutant(
        "cli-force-ignored",
        "flows/cli_run.py",
        "force=request.force,",
        "force=False,",
        t("test_cli_run.py", "test_run_with_specs_skips_an_unchanged_rerun_and_force_reprocesses"),
        "--force is ignored",
    ),
    Mutant(
        "cli-runner-ignored",
        "flows/cli_run.py",
        'if request.runner != "default":',
        "if False:",
        t("test_flow.py", "test_dask_runner_gives_the_same_gold_tables_as_the_default_runner"),
        "--runner dask runs on threads",
    ),
    Mutant(
        "readme-core-snippet",
        "docs/guarantees.md",
        "from jobforge_core.run.pipeline import plan_sources, run_source",
        "from jobforge_core.run.pipeline import plan_sources, run_sources",
        t("test_readme_examples.py", "test_readme_core_snippet_runs_as_written"),
        "the docs' core snippet names a function that does not exist",
    ),
    # --- deployments (prefect.yaml; a real server, minutes) ---
    Mutant(
        "deploy-nightly-cron",
        "prefect.yaml",
        'cron: "0 3 * * *"',
        'cron: "0 4 * * *"',
        t("test_deploy.py"),
        "nightly runs at 04:00",
    ),
    Mutant(
        "deploy-nightly-timezone",
        "prefect.yaml",
        "timezone: America/Toronto",
        "timezone: UTC",
        t("test_deploy.py"),
        "nightly runs at 03:00 UTC",
    ),
    Mutant(
        "deploy-single-source-entrypoint",
        "prefect.yaml",
        "entrypoint: flows/pipeline.py:medallion_flow",
        "entrypoint: flows/pipeline.py:jobforge_flow",
        t("test_deploy.py"),
        "single-source runs the full pipeline",
    ),
    Mutant(
        "deploy-catalog-entrypoint",
        "prefect.yaml",
        "entrypoint: flows/pipeline.py:catalog_flow",
        "entrypoint: flows/pipeline.py:jobforge_flow",
        t("test_deploy.py"),
        "the catalog deployment runs the pipeline instead",
    ),
    # --- bronze and silver declarations (docs/guarantees.md "The flow of a source") ---
    Mutant(
        "decl-bool-false-words",
        "jobforge_core/transitions/bronze.py",
        '"non", ',
        "",
        t("test_declared_rules.py", "test_bool_date_and_custom_null_markers_at_bronze"),
        "a French 'non' is no longer read as false",
    ),
    Mutant(
        "decl-date-format-ignored",
        "jobforge_core/transitions/bronze.py",
        "text.str.to_date(spec.date_format, strict=False)",
        "text.str.to_date(None, strict=False)",
        t("test_declared_rules.py", "test_bool_date_and_custom_null_markers_at_bronze"),
        "the declared date_format is ignored",
    ),
    Mutant(
        "decl-null-markers-default",
        "jobforge_core/transitions/bronze.py",
        "markers = [m.strip() for m in spec.null_markers]",
        'markers = ["", "N/A", "N/D"]',
        t("test_declared_rules.py", "test_bool_date_and_custom_null_markers_at_bronze"),
        "custom null_markers are ignored (the defaults always apply)",
    ),
    Mutant(
        "decl-no-trim",
        "jobforge_core/transitions/silver.py",
        "stripped = [pl.col(c).str.strip_chars() for c in text_cols]",
        "stripped = [pl.col(c) for c in text_cols]",
        t(
            "test_declared_rules.py",
            "test_silver_trims_pads_upper_cases_and_quarantines_by_declared_rule",
        ),
        "silver no longer trims text",
    ),
    Mutant(
        "decl-pad-right",
        "jobforge_core/transitions/silver.py",
        'expr = expr.str.pad_start(int(op.split(":")[1]), "0")',
        'expr = expr.str.pad_end(int(op.split(":")[1]), "0")',
        t(
            "test_declared_rules.py",
            "test_silver_trims_pads_upper_cases_and_quarantines_by_declared_rule",
        ),
        "pad_left pads on the wrong side",
    ),
    Mutant(
        "decl-null-key-kept",
        "jobforge_core/checks/expectations.py",
        "null_key = pl.any_horizontal([pl.col(k).is_null() for k in keys])",
        "null_key = pl.lit(False)",
        t(
            "test_declared_rules.py",
            "test_silver_trims_pads_upper_cases_and_quarantines_by_declared_rule",
        ),
        "a row with a null key reaches silver",
    ),
    Mutant(
        "decl-unique-ignored",
        "jobforge_core/checks/expectations.py",
        '    if exp.rule == "unique":\n',
        '    if exp.rule == "unique" and False:\n',
        t(
            "test_declared_rules.py",
            "test_silver_trims_pads_upper_cases_and_quarantines_by_declared_rule",
        ),
        "the unique expectation checks nothing",
    ),
    Mutant(
        "decl-accepted-values-inverted",
        "jobforge_core/checks/expectations.py",
        "failing = present & ~col.cast(pl.String).is_in(exp.values or [])",
        "failing = present & col.cast(pl.String).is_in(exp.values or [])",
        t(
            "test_declared_rules.py",
            "test_silver_trims_pads_upper_cases_and_quarantines_by_declared_rule",
        ),
        "accepted_values quarantines the accepted values",
    ),
    Mutant(
        "decl-warn-drops",
        "jobforge_core/transitions/silver.py",
        'dropping = [(r.rule_id, r.failing, r.detail) for r in rules if r.action == "drop"]',
        'dropping = [(r.rule_id, r.failing, r.detail) for r in rules if r.action != "fail"]',
        t("test_declared_rules.py"),
        "a `warn` expectation quarantines the row",
    ),
    Mutant(
        "decl-warn-silent",
        "jobforge_core/transitions/silver.py",
        'counted = [r for r in rules if r.action in ("warn", "fail")]',
        'counted = [r for r in rules if r.action == "fail"]',
        t("test_declared_rules.py"),
        "a `warn` expectation is not counted in the log",
    ),
    # --- run-level checks of the flow (flows/pipeline.py), by what the run did (issue 29) ---
    Mutant(
        "run-damaged-published-not-repaired",
        "flows/pipeline.py",
        "repair=set(damaged))",
        "repair=set())",
        t(
            "test_run_promises.py",
            "test_a_run_rebuilds_the_source_of_a_damaged_published_file_or_relinks_it",
        ),
        "a published file damaged at rest stays published after the run that rebuilt it",
    ),
    Mutant(
        "run-damaged-source-not-marked",
        "flows/pipeline.py",
        "        mark_for_repair(cfg, damaged)\n",
        "",
        t(
            "test_run_promises.py",
            "test_a_run_rebuilds_the_source_of_a_damaged_published_file_or_relinks_it",
        ),
        "the source of a damaged published table is called unchanged and never rebuilt",
    ),
    Mutant(
        "run-held-back-is-success",
        "flows/pipeline.py",
        "problems = published.held_back + [",
        "problems = [] + [",
        t(
            "test_published_gold.py",
            "test_a_dimension_that_breaks_a_failed_dependent_is_not_published",
        ),
        "a run whose new gold was held back for a broken foreign key exits 0",
    ),
    Mutant(
        "run-stale-catalog-kept",
        "flows/pipeline.py",
        "(runs or not catalog_is_current(cfg, known))",
        "runs",
        t("test_faults_round3.py", "test_corruption_at_rest_is_noticed_and_repaired"),
        "a truncated store is never rebuilt while every source is unchanged",
    ),
    Mutant(
        "run-retention-fingerprinted",
        "jobforge_core/sources/spec.py",
        '_NOT_FINGERPRINTED = {"spec_path", "description", "history_retention"}',
        '_NOT_FINGERPRINTED = {"spec_path", "description"}',
        t("test_run_promises.py", "test_a_retention_or_description_edit_reprocesses_nothing"),
        "editing history_retention reprocesses every source (issue 29's audit)",
    ),
    Mutant(
        "run-sweep-deletes-source-files",
        "jobforge_core/run/housekeeping.py",
        "        if spared is not None:\n",
        "        if False:\n",
        t("test_run_promises.py"),
        "a run deletes temp-named user files of a source dir inside an owned folder",
    ),
]


def copy_repo(target: Path) -> Path:
    shutil.copytree(REPO, target, ignore=IGNORED)
    data = target / "data"
    for name in GENERATED:
        shutil.rmtree(data / name, ignore_errors=True)
    for leftover in data.glob("*.duckdb"):
        leftover.unlink()
    return target


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[bool | None, str]:
    """True when the tests pass in `copy`, whose packages shadow the installed ones; None when
    they ran out of time (neither a pass nor a kill)."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CI", None)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(
            cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, "timeout"
    lines = (done.stdout + done.stderr).strip().splitlines()
    errors = [line for line in lines if line.startswith(("E ", "FAILED", "ERROR"))][:12]
    tail = "\n".join([*errors, *lines[-3:]])
    return done.returncode == 0, tail


def imports_from(copy: Path) -> bool:
    """The copy's packages must shadow the editable install, or no mutant would be seen."""
    code = "import jobforge_core, flows, tasks; print(jobforge_core.__file__, flows.__file__)"
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=copy, env=env, capture_output=True, text=True
    ).stdout.split()
    return len(out) == 2 and all(Path(p).is_relative_to(copy) for p in out)


def check(mutant: Mutant, base: Path, timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.id}-", dir=base) as tmp:
        copy = copy_repo(Path(tmp) / "repo")
        if not imports_from(copy):
            return "BROKEN   the copy's packages do not shadow the installed ones"
        path = copy / mutant.file
        text = path.read_text(encoding="utf-8")
        if text.count(mutant.old) != 1:
            return f"STALE    ({text.count(mutant.old)} matches of the original line)"
        passed, tail = run_tests(copy, mutant.tests, timeout)
        if passed is None:
            return f"TIMEOUT  on the real code after {timeout:g} s (raise --timeout)"
        if not passed:
            return f"BROKEN   tests fail on the real code:\n{tail}"
        path.write_text(text.replace(mutant.old, mutant.new), encoding="utf-8")
        passed, tail = run_tests(copy, mutant.tests, timeout)
        if passed is None:  # a timeout is not a kill
            return f"TIMEOUT  on the mutant after {timeout:g} s (raise --timeout)"
        return "SURVIVED" if passed else "killed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", help="substrings of mutant ids to run")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or any(s in m.id for s in args.only)]
    if args.list:
        for m in chosen:
            print(f"{m.id:32} {m.file}: {m.why}\n{'':32} killed by {', '.join(m.tests)}")
        return 0
    bad = 0
    base = Path(tempfile.gettempdir())
    for m in chosen:
        started = time.monotonic()
        verdict = check(m, base, args.timeout)
        bad += verdict != "killed"
        print(f"{m.id:32} {verdict}  ({time.monotonic() - started:.0f} s)", flush=True)
    print(f"\n{len(chosen) - bad}/{len(chosen)} mutants killed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""`jobforge` command line: run the pipeline locally, query the store, inspect the catalog.

Exit codes (docs/guarantees.md, "Exit codes"): 0 success; 1 a source failed, or nothing to show yet;
2 usage or spec error, reported before any work. Data goes to stdout in the chosen
`--format`; messages go to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack

import jobforge_core  # noqa: F401  (sets polars' morsel size before anything imports polars)
from flows.render import FORMATS, drop_stdout, emit, note
from flows.results import CommandError, Result, UsageError

# Prefect's embedded server needs more than the default 20 s on a cold 2-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

DESCRIPTION = """\
JobForge: an auditable medallion pipeline (staged -> bronze -> silver -> gold).

exit codes: 0 success (rows quarantined within thresholds included); 1 a source failed, or
nothing built yet to show; 2 usage or spec error, nothing done.
"""


GLOBAL_DEFAULTS = {
    "data_root": None,
    "spreadsheet_safe": False,
    "project": None,
    "format": "table",
    "verbose": False,
    "debug": False,
}


def _common(with_format: bool = True) -> argparse.ArgumentParser:
    """Options accepted before and after the sub-command; SUPPRESS keeps a value given before
    the sub-command from being reset by the sub-command's own default."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--data-root",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="data root (default: $JOBFORGE_DATA_ROOT, else the project file's, else ./data)",
    )
    p.add_argument(
        "--project",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="project file (default: $JOBFORGE_PROJECT, else jobforge.yaml in the working "
        "directory or a parent)",
    )
    if with_format:
        p.add_argument(
            "--format",
            choices=FORMATS,
            default=argparse.SUPPRESS,
            help="output on stdout: table (for people, default), csv, or json (one document)",
        )
        p.add_argument(
            "--spreadsheet-safe",
            action="store_true",
            default=argparse.SUPPRESS,
            help="csv: a text cell starting with = + - @ is prefixed with ' so that a "
            "spreadsheet shows it as text instead of running it as a formula",
        )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the run's event log on the console (it is always in the log file)",
    )
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show Python tracebacks of unexpected errors",
    )
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="jobforge",
        description=DESCRIPTION,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="jobforge COMMAND --help for its options",
    )

    run = sub.add_parser(
        "run",
        parents=[common],
        help="run the pipeline on the declared sources (local Prefect)",
        description="Run every declared source (or those named) through the four layers.",
    )
    run.add_argument(
        "--source-dir",
        metavar="DIR",
        help="where the source files are (default: $JOBFORGE_SOURCE_DIR, else <data-root>/source)",
    )
    run.add_argument(
        "--specs",
        action="append",
        metavar="DIR",
        help="directory of extra or overriding spec files (repeatable; after $JOBFORGE_SPEC_DIRS)",
    )
    run.add_argument(
        "--source",
        action="append",
        metavar="NAME",
        help="run only this source (repeatable; default: every declared source)",
    )
    run.add_argument(
        "--file",
        action="append",
        metavar="SOURCE=PATH",
        help="load this file for SOURCE instead of the newest its spec finds, and keep the "
        "source on it until --unpin (a given release; repeatable)",
    )
    run.add_argument(
        "--unpin",
        action="append",
        metavar="SOURCE",
        help="let SOURCE follow its newest release again (repeatable)",
    )
    run.add_argument(
        "--force", action="store_true", help="reprocess sources whose file and spec are unchanged"
    )
    run.add_argument(
        "--runner",
        choices=["default", "thread", "dask"],
        default="default",
        help="task runner: default ($JOBFORGE_TASK_RUNNER, else thread), thread, or dask "
        "(needs the [dask] extra)",
    )
    run.add_argument(
        "--summary",
        choices=["short", "full"],
        default="short",
        help="what the table view ends with: short (counts by status, default) or full (a row "
        "per source); csv and json always have every source",
    )
    run.add_argument(
        "--dask-address",
        metavar="ADDRESS",
        help="an existing Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)",
    )

    query = sub.add_parser(
        "query",
        parents=[common],
        help="read-only SQL on the gold views and the catalog tables",
        description="Run one SELECT or EXPLAIN on a read-only connection to the store.",
    )
    query.add_argument("sql", help='one SELECT or EXPLAIN statement, e.g. "SELECT * FROM dim_noc"')
    query.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop the query after this long (default $JOBFORGE_QUERY_TIMEOUT or 120; 0 = none)",
    )
    query.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="memory for the query, e.g. 512MB (default $JOBFORGE_QUERY_MEMORY_LIMIT or 2GiB)",
    )
    query.add_argument(
        "--max-rows",
        type=int,
        metavar="N",
        help="table format: show at most N rows (default 1000) and say when there are more; "
        "csv and json stream every row",
    )

    catalog = sub.add_parser(
        "catalog",
        parents=[common],
        help="list the tables, or show one table in full",
        description="Tables with rows, columns, layer and description; or one table's metadata.",
    )
    catalog.add_argument(
        "table", nargs="?", help="a table name (dim_noc, silver.noc_structure); default: all"
    )

    lineage = sub.add_parser(
        "lineage",
        parents=[common],
        help="source file -> staged -> bronze -> silver -> table, or rows back to their source",
        description="The transitions that built a table, or (--where) rows and their records.",
    )
    lineage.add_argument("table", help="a table name, e.g. dim_noc or fact_cops_employment")
    lineage.add_argument(
        "--where",
        metavar="EXPR",
        help="rows to trace back to their source records, e.g. \"noc_code = '21232'\"",
    )
    lineage.add_argument(
        "--limit",
        type=int,
        default=20,
        metavar="N",
        help="show at most N matching rows (default 20); the number matched is always given",
    )

    quarantine = sub.add_parser(
        "quarantine",
        parents=[common],
        help="rows and files in quarantine, by table and reason, with sample rows",
        description="Quarantined rows by table and reason (with samples), and failed files.",
    )
    quarantine.add_argument(
        "table", nargs="?", help="only this table (gold name, source name or layer.source)"
    )
    quarantine.add_argument(
        "--sample",
        type=int,
        default=5,
        metavar="N",
        help="sample rows per table and reason (default 5)",
    )
    from flows import cli_docs, cli_history, cli_openlineage

    cli_history.add_commands(sub, common)
    cli_docs.add_commands(sub, common)
    cli_openlineage.add_commands(sub, common)
    return parser


def dispatch(args: argparse.Namespace, owns_process: bool = False) -> Result:
    if args.command == "run":
        from flows.cli_run import preflight, run, terminate_as_interrupt

        request = preflight(
            args.data_root,
            args.source_dir,
            args.specs,
            args.source,
            args.file,
            args.unpin,
            args.force,
            args.runner,
            args.dask_address,
            args.summary,
        )
        from flows.embedded import shutdown, start_early
        from jobforge_core.run.housekeeping import RunInProgress, exclusive_run

        # The command's own process: start Prefect's temporary server (if one is needed)
        # before the flow's imports, which then run while it starts. The data root is taken
        # first: a second run is refused in a fraction of a second, before any server.
        with ExitStack() as held, terminate_as_interrupt(owns_process):
            try:
                held.enter_context(exclusive_run(request.cfg))
            except RunInProgress as exc:
                raise UsageError(str(exc)) from None
            server = start_early() if owns_process else None
            try:
                return run(request, args.verbose, owns_process=owns_process, server=server)
            finally:
                if server is not None:
                    shutdown(server)

    from flows import cli_docs, cli_history, cli_openlineage, cli_read

    if args.command in cli_history.COMMANDS:
        return cli_history.dispatch(args)
    if args.command in cli_docs.COMMANDS:
        return cli_docs.dispatch(args)
    if args.command in cli_openlineage.COMMANDS:
        return cli_openlineage.dispatch(args)
    if args.command == "query":
        return cli_read.query(
            args.data_root, args.sql, args.timeout, args.memory_limit, args.format, args.max_rows
        )
    if args.command == "catalog":
        return cli_read.catalog(args.data_root, args.table)
    if args.command == "lineage":
        return cli_read.lineage(args.data_root, args.table, args.where, args.limit)
    if args.command == "quarantine":
        return cli_read.quarantine(args.data_root, args.table, args.sample)
    raise AssertionError(args.command)


def skip_final_collection() -> None:
    """At exit, skip the interpreter's last cyclic garbage collection.

    With Prefect imported it walks millions of objects: 0.6-0.8 s after the command's work
    is done, for memory the operating system takes back anyway (bench/RESULTS.md, "A small
    run's time"). Registered before anything else of the command, this handler runs after
    every other exit handler (Prefect's, logging's flush and close); reference counting
    still frees what it frees, so only cyclic garbage is left to the operating system."""
    import atexit
    import gc

    atexit.register(gc.freeze)
    atexit.register(gc.disable)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, compute the command's result, render it; never a traceback unless --debug."""
    if argv is None:  # the `jobforge` command: this process is ours
        skip_final_collection()
    args = build_parser().parse_args(argv)
    # Defaults of the options shared before and after the sub-command (not via set_defaults:
    # the parsers share these option objects, and a default there would reset a value given
    # before the sub-command).
    for name, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    previous_project = os.environ.get("JOBFORGE_PROJECT")
    if args.project:  # read by settings, here and in the flow (the one place for variables)
        if not os.path.isfile(args.project):
            note(f"jobforge {args.command}: --project {args.project}: no such file")
            return 2
        os.environ["JOBFORGE_PROJECT"] = os.path.abspath(args.project)
    try:
        return _run_command(args, argv)
    finally:  # main() called in-process (tests, scripts) leaves the environment as it was
        if previous_project is None:
            os.environ.pop("JOBFORGE_PROJECT", None)
        else:
            os.environ["JOBFORGE_PROJECT"] = previous_project


def _run_command(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    from flows.render import SPREADSHEET_SAFE
    from jobforge_core.common.errors import JobForgeError

    SPREADSHEET_SAFE["on"] = bool(args.spreadsheet_safe)
    try:
        result = dispatch(args, owns_process=argv is None)
    except CommandError as exc:
        note(f"jobforge {args.command}: {exc}")
        return exc.exit_code
    except JobForgeError as exc:  # refusals and spec errors from the core: usage errors
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        note(f"jobforge {args.command}: {first}")
        return 2
    except KeyboardInterrupt:
        note(f"jobforge {args.command}: interrupted")
        return 130
    except BrokenPipeError:  # a command that streams (openlineage export --output -) | head
        drop_stdout()
        return 0
    except Exception as exc:
        if args.debug:
            raise
        note(
            f"jobforge {args.command}: unexpected {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''} (--debug shows the traceback)"
        )
        return 1
    return emit(result, args.format)


if __name__ == "__main__":
    sys.exit(main())

"""`jobforge run`: check everything that can be checked without Prefect, then run the flow.

Order matters for the user: a wrong option, an unknown source, a missing directory or a bad
spec is reported in one line (exit 2) before Prefect is imported or a server started. During
the run the console gets one line per source as it completes; Prefect's event log shows with
`-v`, and always goes to the run's log file and to Prefect.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.cli_read import did_you_mean
from flows.embedded import EmbeddedServer, startup_timeout
from flows.render import jobforge_command
from flows.results import Result, Section, UsageError, our_words, spec_error_line
from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.errors import SpecError

LAYERS = ("staged", "bronze", "silver")
# A source in one of these states has succeeded (rows in quarantine within its thresholds are
# part of success); any other state (failed, skipped, ...) makes the run exit 1.
OK_STATUSES = {"success", "partial", "unchanged"}


@dataclass(frozen=True)
class RunRequest:
    """What `jobforge run` was asked to do, checked."""

    cfg: PipelineConfig
    sources: list[str] | None
    spec_dirs: list[str] | None
    files: dict[str, str] | None
    unpin: list[str] | None
    force: bool
    runner: str
    dask_address: str | None
    # each declared source's gold dependencies: why a source not named ran (it follows them)
    depends: dict[str, list[str]] | None = None
    summary: str = "short"


def preflight(
    data_root: str | None,
    source_dir: str | None,
    specs: list[str] | None,
    sources: list[str] | None,
    files: list[str] | None,
    unpin: list[str] | None,
    force: bool,
    runner: str,
    dask_address: str | None,
    summary: str = "short",
) -> RunRequest:
    """Every check that needs no Prefect: specs valid, sources known, directories there."""
    from jobforge_core.common.settings import load_settings
    from jobforge_core.sources.spec import gold_dependencies, gold_order, load_specs

    cfg = PipelineConfig.from_settings(
        data_root=Path(data_root) if data_root else None,
        source_dir=Path(source_dir) if source_dir else None,
    )
    spec_dirs = [*load_settings().spec_dirs, *(Path(d) for d in specs or [])]
    try:
        declared = load_specs(spec_dirs)
        gold_order(declared)
    except SpecError as exc:
        raise UsageError(spec_error_line(exc)) from exc
    for name in dict.fromkeys(sources or []):
        if name not in declared:
            raise UsageError(
                f"unknown source {name!r}{did_you_mean(name, sorted(declared))} "
                f"(declared: {', '.join(sorted(declared))})"
            )
    given: dict[str, str] = {}
    for item in files or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--file takes SOURCE=PATH, got {item!r}")
        if name not in declared:
            raise UsageError(
                f"--file for unknown source {name!r}{did_you_mean(name, sorted(declared))}"
            )
        if not Path(path).is_file():
            raise UsageError(f"--file {item}: no such file")
        given[name] = str(Path(path).resolve())
    source_root = cfg.resolved_source_dir()
    if not source_root.is_dir():
        how = "--source-dir" if source_dir else "default <data-root>/source; set --source-dir"
        raise UsageError(f"source directory {source_root} does not exist ({how})")
    settings = load_settings()
    pins = {}
    for name, pinned in settings.releases.items():
        where = f"project file {settings.project_file}: releases: {name}"
        if name not in declared:
            raise UsageError(f"{where}: unknown source{did_you_mean(name, sorted(declared))}")
        path = Path(pinned) if Path(pinned).is_absolute() else source_root / pinned
        if not path.is_file():
            raise UsageError(f"{where}: no file {path}")
        pins[name] = str(path)
    _some_file_found(cfg, declared, sources, {**pins, **given})
    if cfg.data_root.exists() and not cfg.data_root.is_dir():
        raise UsageError(f"data root {cfg.data_root} is not a directory")
    if runner == "dask" and importlib.util.find_spec("prefect_dask") is None:
        raise UsageError("--runner dask needs the dask extra: pip install -e '.[dask]'")
    for name in unpin or []:
        if name not in declared:
            raise UsageError(
                f"--unpin: unknown source {name!r}{did_you_mean(name, sorted(declared))}"
            )
    depends = {n: sorted(gold_dependencies(spec, declared)) for n, spec in declared.items()}
    return RunRequest(
        cfg,
        sources or None,
        specs or None,
        given or None,
        unpin or None,
        force,
        runner,
        dask_address,
        depends,
        summary,
    )


def _some_file_found(
    cfg: PipelineConfig, declared: dict[str, Any], sources: list[str] | None, given: dict[str, str]
) -> None:
    """A whole-run mistake (a wrong or empty source directory) in one line before start-up,
    instead of a file quarantine per source. Without the pipeline's imports (polars: 0.2 s
    before the first line a new user sees): a glob counts as found when a file matches it,
    as `jobforge_core.run.pipeline.source_file` then picks one."""
    import glob

    base = cfg.resolved_source_dir()

    def there(pattern: str) -> bool:
        if not glob.has_magic(pattern):
            return (base / pattern).is_file()
        return any((base / p).is_file() for p in glob.glob(pattern, root_dir=base))

    wanted = list(dict.fromkeys(sources or declared))
    found = sum(1 for name in wanted if name in given or there(declared[name].file))
    if wanted and not found:
        raise UsageError(
            f"0 of {len(wanted)} declared files found in {cfg.resolved_source_dir()} "
            "(--source-dir, or source_dir in jobforge.yaml)"
        )


class Progress:
    """One line per source as it completes, from JobForge's own events (this process's)."""

    def __init__(
        self,
        cfg: PipelineConfig,
        stream: Any = None,
        named: list[str] | None = None,
        depends: dict[str, list[str]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.stream = stream
        self.named = set(named or [])
        self.depends = depends or {}
        # Set by a live display (flows/live.py), so that these lines print above it unwrapped.
        self.printer: Any = None
        self.rows: dict[str, dict[str, int]] = {}
        self.quarantined: dict[str, int] = {}
        self.done: set[str] = set()
        self.lock = threading.Lock()

    def on_event(self, event: dict[str, Any]) -> None:
        source, layer = event.get("source"), event.get("layer")
        if not source or not layer:
            return
        with self.lock:
            if event.get("event") == "transition_completed":
                self.rows.setdefault(source, {})[layer] = event.get("rows_out", 0)
                q = self.quarantined.get(source, 0) + (event.get("rows_quarantined") or 0)
                self.quarantined[source] = q
                if layer == "gold":
                    status = "partial" if q else "success"
                    tables = self._gold_tables(event.get("transition_id"))
                    self._line(source, status, self.rows[source], q, tables=tables)
            elif event.get("event") == "source_quarantined":
                self._line(source, "failed", self.rows.get(source, {}), None, event.get("error"))

    def _gold_tables(self, transition_id: str | None) -> dict[str, int] | None:
        """Each gold table's own count, from the transition log written before the event."""
        path = self.cfg.catalog_lineage_path() / f"{transition_id}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8")).get("rows_by_table")
        except (OSError, ValueError):
            return None

    def _line(
        self,
        source: str,
        status: str,
        rows: dict[str, Any],
        quarantined: int | None,
        error: str | None = None,
        tables: dict[str, int] | None = None,
    ) -> None:
        if source in self.done:
            return
        self.done.add(source)
        counts = [f"{layer} {rows[layer]}" for layer in LAYERS if layer in rows]
        if tables:
            counts += [f"{t} {n}" for t, n in tables.items()]
        elif "gold" in rows:
            counts.append(f"gold {rows['gold']}")
        parts = [f"{source:<24} {status:<9}", ", ".join(counts)]
        if quarantined:
            parts.append(f"{quarantined} row(s) quarantined")
        if error:
            parts.append(our_words(error) or error)
        elif self.named and source not in self.named and status in ("success", "partial"):
            parts.append(f"({following(source, self.named, self.depends)})")
        line = "  ".join(p for p in parts if p).rstrip()
        if self.printer:
            self.printer(line)
        else:
            print(line, file=self.stream or sys.stderr, flush=True)

    def finish(self, summaries: list[dict[str, Any]]) -> None:
        """Lines for sources whose events this process did not see (unchanged, skipped,
        failed before a transition, or run by Dask workers)."""
        with self.lock:
            for s in summaries:
                self._line(
                    s["source"],
                    s["status"],
                    s.get("rows", {}),
                    s.get("quarantined"),
                    s.get("error") or s.get("skipped"),
                    s.get("gold_tables"),
                )


def following(source: str, ran: set[str], depends: dict[str, list[str]]) -> str:
    """Why a source that was not named ran: its gold reads the gold of one that ran."""
    reads = [d for d in depends.get(source, []) if d in ran]
    if reads:
        return f"ran because its gold reads {', '.join(reads)}'s, which ran"
    return "ran because a source whose gold it reads ran"


class _RunEventsOffConsole(logging.Filter):
    """Default console: no run event log (it goes to the API and the log file) and nothing
    below WARNING from anything else; `-v` removes this filter."""

    RUN_LOGGERS = ("jobforge", "prefect.flow_runs", "prefect.task_runs")

    def filter(self, record: logging.LogRecord) -> bool:
        if any(record.name == n or record.name.startswith(n + ".") for n in self.RUN_LOGGERS):
            return False
        return record.levelno >= logging.WARNING


@contextmanager
def concise_console(enabled: bool, keep: bool = False) -> Iterator[None]:
    """Filter Prefect's console handlers (configured when Prefect was imported).

    `keep`: leave the filter on when the block ends, for a process that is the command
    itself: the embedded server stops at interpreter exit and logs as it goes."""
    if not enabled:
        yield
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    names = ["", "uvicorn", "fastapi", *logging.root.manager.loggerDict]
    handlers = {
        h
        for n in names
        for h in getattr(logging.getLogger(n), "handlers", [])
        if isinstance(h, PrefectConsoleHandler)
    }
    quiet = _RunEventsOffConsole()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in () if keep else handlers:
            handler.removeFilter(quiet)


def _ui_url(flow_run_id: Any) -> str | None:
    """The run's page, when a server that outlives this command is configured."""
    from prefect.settings import get_current_settings
    from prefect.utilities.urls import url_for

    if not get_current_settings().api.url or not flow_run_id:
        return None
    return url_for("flow-run", obj_id=str(flow_run_id))


def _ignore(_event: dict[str, Any]) -> None:
    return None


def live_display() -> Any:
    """The live transitions display when wanted (a terminal, or JOBFORGE_PROGRESS=always),
    else a no-op context."""
    from contextlib import nullcontext

    from flows.live import LiveTransitions, min_bytes, progress_mode

    forced = progress_mode(sys.stderr)
    if forced is None:
        return nullcontext()
    return LiveTransitions(force_terminal=forced, threshold=min_bytes())


def _import_while_server_starts() -> None:
    """What the run imports on first use (JobForge's modules, Arrow's datasets, the
    OpenLineage client: 0.4-1 s of a small run), imported while the server is still starting."""
    import importlib
    import pkgutil

    import jobforge_core
    from jobforge_core.common.settings import load_openlineage_settings

    skip = "jobforge_core.openlineage" if load_openlineage_settings().disabled else None
    for module in pkgutil.walk_packages(jobforge_core.__path__, "jobforge_core."):
        if not (skip and module.name.startswith(skip)):
            importlib.import_module(module.name)
    importlib.import_module("pyarrow.dataset")


@contextmanager
def terminate_as_interrupt(owns_process: bool) -> Iterator[None]:
    """SIGTERM (a `kill`, a service manager, a CI job cancelled) stops the run as Ctrl-C
    does: the temporary server is stopped and the command says `interrupted` (exit 130).
    By default SIGTERM ended the process on the spot, leaving Prefect's server running as an
    orphan. Only in the command's own process, and only from the main thread. The
    `jobforge` command enters it before it spawns the server (flows/cli.py `dispatch`), so
    no SIGTERM can fall between the spawn and the handler."""
    import signal

    if not owns_process or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(
    request: RunRequest,
    verbose: bool,
    owns_process: bool = False,
    server: EmbeddedServer | None = None,
) -> Result:
    """`server`: Prefect's temporary server, started before these imports (flows/embedded.py);
    the run waits for it only after them. The `jobforge` command calls it inside
    `terminate_as_interrupt`, entered before the server is spawned."""
    from flows.adhoc import foreground_run
    from flows.pipeline import jobforge_flow
    from flows.runners import make_task_runner
    from jobforge_core.common.logs import listening

    if server is not None:
        _import_while_server_starts()
        server.wait_ready(startup_timeout())

    flow = jobforge_flow
    if request.runner != "default":
        runner = make_task_runner(request.runner, request.dask_address)
        flow = jobforge_flow.with_options(task_runner=runner)
    progress = Progress(request.cfg, named=request.sources, depends=request.depends)
    live = live_display()
    progress.printer = getattr(live, "print_line", None)
    with (
        concise_console(not verbose, keep=owns_process),
        listening(progress.on_event),
        live,
        listening(getattr(live, "on_event", _ignore)),
        foreground_run(api_url=server.api_url if server is not None else None),
    ):
        state = flow(
            sources=request.sources,
            data_root=str(request.cfg.data_root),
            source_dir=str(request.cfg.source_dir) if request.cfg.source_dir else None,
            spec_dirs=request.spec_dirs,
            files=request.files,
            unpin=request.unpin,
            force=request.force,
            return_state=True,
        )
    from flows.summary import run_outcome

    outcome = run_outcome(state)  # the summary of a completed or a failed run
    flow_run_id = state.state_details.flow_run_id
    if outcome is None:
        detail = our_words(state.message)
        return Result(
            [Section.fields("run", {"status": "crashed", "message": detail, "exit_code": 1})],
            notes=[f"jobforge run: the flow run ended {state.name}: {detail}"],
            exit_code=1,
        )
    summaries = outcome.get("sources", [])
    progress.finish(summaries)
    return run_result(outcome, state, flow_run_id, link=server is None, request=request)


def why(s: dict[str, Any], request: RunRequest | None, ran: set[str]) -> str:
    """Why the source ran, or did not: what `"status"` alone does not say."""
    named = set(request.sources or []) if request else set()
    if s["status"] == "unchanged":
        return "unchanged: same file, spec and upstream gold as its last run; --force reruns it"
    if s["status"] == "skipped":
        return f"skipped: {s.get('skipped')}"
    if named and s["source"] not in named:
        return following(s["source"], ran, (request.depends or {}) if request else {})
    if request is not None and request.force:
        return "--force"
    if s["status"] == "failed":
        return "failed: see error"
    return "new batch: its file or spec changed, the gold it reads changed, or it never ran"


def run_result(
    outcome: dict[str, Any],
    state: Any,
    flow_run_id: Any,
    link: bool = True,
    request: RunRequest | None = None,
) -> Result:
    """`link`: False when the run's server stops with this command (no page to link to)."""
    summaries = outcome.get("sources", [])
    ran = {s["source"] for s in summaries if s["status"] not in ("unchanged", "skipped")}
    failed = [s["source"] for s in summaries if s["status"] not in OK_STATUSES]
    # run-level checks of the flow (catalog rebuild, foreign keys at the end of the run)
    problems = list(outcome.get("problems") or [])
    exit_code = 1 if failed or problems or not state.is_completed() else 0
    sources = [
        {
            "source": s["source"],
            "status": s["status"],
            **{layer: s.get("rows", {}).get(layer) for layer in LAYERS},
            "gold": s.get("gold_tables") or s.get("rows", {}).get("gold"),
            "quarantined": s.get("quarantined", 0),
            "quarantine_by_rule": s.get("reasons", {}),
            "schema_changes": s.get("schema_changes", []),
            "batch_id": s.get("batch_id"),
            "error": our_words(s.get("error")),
            "skipped": s.get("skipped"),  # why: a gold dependency failed
            "why": why(s, request, ran),
            "columns_not_carried": s.get("columns_not_carried", []),
        }
        for s in summaries
    ]
    counts: dict[str, int] = {}
    for s in sources:
        counts[s["status"]] = counts.get(s["status"], 0) + 1
    url = _ui_url(flow_run_id) if link else None
    run_fields = {
        "status": "failed" if exit_code else "succeeded",
        "exit_code": exit_code,
        "message": run_message(counts, state.message, exit_code),
        "counts": counts,
        "flow_run_id": str(flow_run_id) if flow_run_id else None,
        "flow_run_url": url,
        "data_root": outcome.get("data_root"),
        "log_file": outcome.get("log_file"),
        "site": outcome.get("site"),
        "sources": len(summaries),
        "failed": failed,
        "problems": problems,
        "kept": list(outcome.get("kept") or []),
    }
    view = ["source", "status", *LAYERS, "gold", "quarantined", "batch_id"]
    full = request is not None and request.summary == "full"
    # The table view: the per-source lines were printed as each source completed, so the
    # end is a short count by status (`--summary full`: the per-source table); csv and json
    # always carry every source.
    people = ("table", "csv", "json") if full or request is None else ("csv", "json")
    by_status = [{"status": k, "sources": n} for k, n in sorted(counts.items())]
    sections = [
        Section("sources", sources, columns=view, max_width=None, formats=people),
        Section("summary", by_status, formats=() if full or request is None else ("table",)),
        # Scripts read the run's own fields from json; people get them as notes below.
        Section("run", [run_fields], kind="fields", formats=("json",)),
    ]
    return Result(sections, notes=_next_steps(run_fields, sources), exit_code=exit_code)


def run_message(counts: dict[str, int], message: str | None, exit_code: int) -> str | None:
    """The run's one-line outcome; Prefect's `N source(s) processed` said nothing of an
    all-unchanged run."""
    if exit_code:
        return message
    total = sum(counts.values())
    if total and counts.get("unchanged") == total:
        return f"all {total} source(s) unchanged: nothing to do (--force reprocesses)"
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or message


def _next_steps(run: dict[str, Any], sources: list[dict[str, Any]]) -> list[str]:
    """The short summary after the per-source lines, as `dbt run` ends: the outcome with the
    counts by status, then each failure and each warning with what it asks of the user, then
    where to look."""
    jobforge = jobforge_command()
    root = run["data_root"]
    notes = []
    partial = [s["source"] for s in sources if s["status"] == "partial"]
    ok = len(sources) - len(run["failed"])
    warned = [s for s in sources if any(":warn:" in r for r in s["quarantine_by_rule"])]
    counts = ", ".join(f"{n} {status}" for status, n in sorted(run["counts"].items()))
    if run["exit_code"] == 0:
        if sources and run["counts"].get("unchanged") == len(sources):
            notes.append(
                f"succeeded: nothing to do, all {len(sources)} source(s) unchanged since their "
                "last run (--force reprocesses them) (exit 0)"
            )
        else:
            line = f"succeeded: {ok} source(s) ({counts})"
            if partial:
                line += f"; {len(partial)} with rows in quarantine, within their thresholds"
            if warned:
                line += f"; {len(warned)} with warnings (rows kept)"
            notes.append(line + " (exit 0)")
    else:
        for s in sources:
            if s["source"] in run["failed"]:
                if s["skipped"]:
                    notes.append(f"SKIPPED {s['source']}: {s['skipped']}")
                else:
                    notes.append(f"FAILED {s['source']}: {s['error'] or s['status']}")
        notes += [f"FAILED {problem}" for problem in run["problems"]]
        skipped = sum(1 for s in sources if s["skipped"])
        failed = len(run["failed"]) - skipped
        what = f"{failed} of {len(sources)} source(s) failed" if failed else run["message"]
        what += f", {skipped} skipped" if skipped and failed else ""
        notes.append(f"failed: {what} (exit 1); by status: {counts}")
        if failed:
            notes.append(
                f"  what to do: {jobforge} quarantine --data-root {root} shows each failed "
                "file and its error report; fix the file (or its spec) and run again (the "
                "sources that succeeded are unchanged then, and skipped)"
            )
    quarantined = [
        s for s in sources if s["status"] not in ("failed", "unchanged") and s["source"] in partial
    ]
    if quarantined:
        notes.append(
            "rows in quarantine (within the source's thresholds: the rest of the batch is in "
            "gold); worth a look:"
        )
        for s in quarantined:
            rules = ", ".join(
                f"{rule} {n}" for rule, n in s["quarantine_by_rule"].items() if ":warn:" not in rule
            )
            if rules:
                notes.append(f"  {s['source']}: {rules}")
    if warned:
        notes.append(
            "warnings (a warn rule counted rows but kept them: nothing is asked of you unless "
            "the rule matters for your use):"
        )
        for s in warned:
            rules = ", ".join(
                f"{rule} {n}" for rule, n in s["quarantine_by_rule"].items() if ":warn:" in rule
            )
            notes.append(f"  {s['source']}: {rules}")
        notes.append(
            f'  see them: {jobforge} query --data-root {root} "SELECT source, table_name, rule, '
            "rows FROM catalog.quality WHERE action = 'warn' AND rows > 0\""
        )
    for s in sources:
        for change in s.get("schema_changes", []):
            notes.append(f"  {s['source']}: schema change: {change}")
    for s in sources:
        if s.get("columns_not_carried"):
            columns = ", ".join(s["columns_not_carried"])
            notes.append(f"  {s['source']}: columns not carried to gold: {columns}")
    notes += [f"  {line}" for line in run.get("kept", [])]
    notes.append(f"data:       {root}   (gold tables in {root}/gold)")
    example = _example_table(root, sources)
    if example:
        notes.append(
            f'query:      {jobforge} query --data-root {root} "SELECT * FROM {example} LIMIT 5"'
        )
    if partial or run["failed"]:
        notes.append(f"quarantine: {jobforge} quarantine --data-root {root}")
    if run["log_file"]:
        notes.append(f"log:        {run['log_file']}")
    if run.get("site"):
        notes.append(
            f"site:       {run['site']}   (or: {jobforge} docs --serve --data-root {root})"
        )
    if run["flow_run_url"]:
        notes.append(f"run:        {run['flow_run_url']}")
    elif run["flow_run_id"]:  # a temporary server: the run stays in its database
        notes.append(
            f"run:        {run['flow_run_id']}   (recorded in Prefect's database under "
            "PREFECT_HOME; `prefect server start` shows it)"
        )
    notes.append(f"every source's counts: {jobforge} run ... --summary full (or --format json)")
    return notes


def _example_table(root: str | None, sources: list[dict[str, Any]]) -> str | None:
    """A gold table the data root holds, for the query hint: `dim_noc` when there, else one
    this run wrote, else any (a data root of a user's own sources has no dim_noc, and a hint
    that fails is worse than none)."""
    if not root:
        return None
    gold = Path(root) / "gold"
    ran = [t for s in sources if isinstance(s.get("gold"), dict) for t in s["gold"]]
    held = sorted(p.stem for p in gold.glob("*.parquet")) if gold.is_dir() else []
    for table in ["dim_noc", *ran, *held]:
        if (gold / f"{table}.parquet").is_file():
            return table
    return None

"""`jobforge_flow` (all or some sources, concurrently) and `medallion_flow` (one source)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from flows.chains import run_chains, unwalked
from flows.naming import is_jobforge_name, run_name
from flows.recorded import await_recorded
from flows.results import spec_error_line
from flows.run_log import current_run_log, run_log
from flows.runners import runner_from_settings
from flows.summary import RunFailed, markdown, source_summary
from jobforge_core.catalog.stamp import catalog_is_current
from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import SpecError
from jobforge_core.common.logs import get_logger
from jobforge_core.common.models import LayerTransitionLog
from jobforge_core.run.housekeeping import exclusive_run
from jobforge_core.run.pins import update_pins
from jobforge_core.run.pipeline import SourcePlan, plan_sources, release
from jobforge_core.run.publish import damaged_published, mark_for_repair, publish
from jobforge_core.run.registry import kept_lines, known_specs
from jobforge_core.site import default_site_dir
from jobforge_core.sources.spec import load_specs
from tasks.artifacts import artifact_key, log_row
from tasks.catalog import rebuild_catalog_task
from tasks.layers import LAYER_TASKS
from tasks.run_logging import attach_run_logging


def _spec_dirs(given: list[str] | None) -> list[Path]:
    """$JOBFORGE_SPEC_DIRS (os.pathsep-separated) first, then the run's own: later ones win."""
    from jobforge_core.common.settings import load_settings

    return [*load_settings().spec_dirs, *(Path(d) for d in given or [])]


def _pinned(cfg: PipelineConfig, specs: dict[str, Any]) -> dict[str, Path]:
    """Releases pinned in the project file (`releases:`), which stay until changed there; a
    file name is looked up in the source directory."""
    from jobforge_core.common.settings import load_settings

    pins = load_settings().releases
    unknown = sorted(set(pins) - set(specs))
    if unknown:
        raise SpecError(f"project file pins a release of unknown source(s) {unknown}")
    base = cfg.resolved_source_dir()
    return {name: Path(f) if Path(f).is_absolute() else base / f for name, f in pins.items()}


def _run_name() -> str:
    current = flow_run.get_name()
    if is_jobforge_name(current):  # given at creation (or by the pull step): kept
        return str(current)
    return run_name(
        flow_run.get_flow_name() or "",
        flow_run.get_parameters(),
        flow_run.get_scheduled_start_time(),
    )


MAX_TAGS = 6


def run_tags(current: set[str], plans: dict[str, SourcePlan], names: list[str] | None) -> set[str]:
    """What kind of run it is, in at most MAX_TAGS tags whatever the number of sources (the
    UI shows two and "+N"): a source tag only on a single-source run, the domains run while
    they fit. The sources themselves are in the run's name and its summary artifact."""
    tags = set(current) | {"jobforge"}
    if not names:
        tags.add("all-sources")
    elif len(names) == 1:
        tags |= {"single-source", f"source:{names[0]}"}
    else:
        tags.add("selected-sources")
    domains = sorted({f"domain:{p.spec.domain}" for p in plans.values() if not p.unchanged})
    if len(tags) + len(domains) <= MAX_TAGS:
        tags |= set(domains)
    return tags


def _tag_flow_run(plans: dict[str, SourcePlan], names: list[str] | None) -> None:
    """Tags on the flow run (one API call), filterable in the UI."""
    run_id = flow_run.get_id()
    if not run_id:
        return
    with get_client(sync_client=True) as client:
        current = set(client.read_flow_run(run_id).tags)
        client.update_flow_run(run_id, tags=sorted(run_tags(current, plans, names)))


def run_sources(
    names: list[str] | None,
    data_root: str | None,
    source_dir: str | None,
    spec_dirs: list[str] | None,
    force: bool,
    rebuild_catalog: bool = True,
    files: dict[str, str] | None = None,
    unpin: list[str] | None = None,
) -> State:
    """Plan, submit every changed source's chain, wait, then publish the run's artifacts."""
    attach_run_logging()
    cfg = PipelineConfig.from_settings(
        data_root=Path(data_root) if data_root else None,
        source_dir=Path(source_dir) if source_dir else None,
    )
    specs = load_specs(_spec_dirs(spec_dirs))
    with exclusive_run(cfg) as stale:  # one run per data root; a killed run's temps go
        # --file pins its release in the data root; pins stay until --unpin (run/pins.py)
        held = update_pins(cfg, dict(files or {}), list(unpin or []))
        given = {name: Path(path) for name, path in held.items() if name in specs}
        given |= _pinned(cfg, specs)
        return _run_locked(specs, cfg, names, force, rebuild_catalog, stale, given)


def _run_locked(
    specs: dict[str, Any],
    cfg: PipelineConfig,
    names: list[str] | None,
    force: bool,
    rebuild_catalog: bool,
    stale: list[Path],
    given: dict[str, Path],
) -> State:
    log = get_logger(flow_run=flow_run.get_name())
    if stale:
        log.info("stale_temps_removed", count=len(stale), first=str(stale[0]))
    damaged = damaged_published(cfg)  # by stat: free; a damaged file's source is rebuilt
    if damaged:
        mark_for_repair(cfg, damaged)
        for table, why in damaged.items():
            log.warning("published_file_damaged", table=table, detail=why)
    known, kept = known_specs(cfg, specs)
    for line in kept_lines(known, kept):
        log.info("table_kept", detail=line)
    plans = plan_sources(specs, cfg, names, force=force, files=given)
    log.info("run_planned", sources=len(plans), unchanged=sum(p.unchanged for p in plans.values()))
    _tag_flow_run(plans, names)

    runs = run_chains(plans, specs, cfg, LAYER_TASKS)
    for plan in plans.values():
        release(plan)  # the private copies staging read (snapshot.py)
    summaries, all_logs = [], []
    for name, plan in plans.items():
        run = runs.get(name)
        logs: list[LayerTransitionLog] = (
            [run.futures[layer].state.result() for layer in Layer if layer in run.done]
            if run
            else []
        )
        all_logs += logs
        summaries.append(
            source_summary(
                name,
                plan.batch_id,
                logs,
                unchanged=plan.unchanged,
                error=run.error if run else None,
                skipped=run.skipped if run else None,
            )
        )
        if plan.unchanged:
            log.info("source_unchanged", source=name, batch_id=plan.batch_id)
        elif run and run.skipped:
            log.warning("source_skipped", source=name, reason=run.skipped)
    futures = [f for run in runs.values() for f in run.futures.values()]
    failed = {s["source"] for s in summaries if s["status"] in ("failed", "skipped")}
    published = publish(cfg, known, failed, note=flow_run.get_name() or "", repair=set(damaged))
    problems = published.held_back + [f"foreign key {o}" for o in published.orphans]
    log.info(
        "gold_published",
        snapshot=published.snapshot.id if published.snapshot else None,
        tables=",".join(published.published),
        held_back=len(published.held_back),
    )
    if rebuild_catalog and (runs or not catalog_is_current(cfg, known)):
        catalog = rebuild_catalog_task.submit(unwalked(cfg), unwalked(known))
        catalog.wait()
        futures.append(catalog)
        if not catalog.state.is_completed():
            log.error("catalog_rebuild_failed", message=catalog.state.message)
            problems.append(
                f"catalog rebuild failed (the store and catalog are stale; the next run "
                f"rebuilds them): {catalog.state.message}"
            )
    missing = await_recorded(futures)
    if missing:
        log.warning("task_runs_not_yet_recorded", task_runs=",".join(missing))
    return _finish(summaries, all_logs, cfg, problems, kept_lines(known, kept))


def _finish(
    summaries: list[dict[str, Any]],
    logs: list[LayerTransitionLog],
    cfg: PipelineConfig,
    problems: list[str] | None = None,
    kept: list[str] | None = None,
) -> State:
    """The run's state: Failed when a source failed or a run-level check (catalog, foreign
    keys) did, with every reason in the message."""
    if logs:
        create_table_artifact(
            table=[log_row(log) for log in logs],
            key=artifact_key("jobforge-transitions"),
            description="Every layer transition of this flow run",
        )
    site = default_site_dir(cfg) / "index.html"
    site_file = str(site) if site.is_file() else None
    problems = problems or []
    create_markdown_artifact(
        markdown=markdown(summaries, flow_run.get_name() or "", site=site_file, problems=problems),
        key=artifact_key("jobforge-summary"),
        description="Rows per layer, quarantine and outputs per source",
    )
    result = {
        "data_root": str(cfg.data_root),
        "sources": summaries,
        "problems": problems,
        "kept": kept or [],  # tables of sources this run did not declare, left published
        "log_file": current_run_log(),
        "site": site_file,
    }
    failed = [s["source"] for s in summaries if s["status"] == "failed"]
    skipped = [s["source"] for s in summaries if s["status"] == "skipped"]
    get_logger().info(
        "run_finished", sources=len(summaries), failed=",".join(failed), skipped=",".join(skipped)
    )
    if failed or skipped or problems:
        # A failed state's data must be an exception (Prefect raises it from `result()`, and
        # the engine of a deployment run resolves it); this one carries the summary.
        reasons = [f"{len(failed)} source(s) failed: {', '.join(failed)}"] if failed else []
        if skipped:
            reasons.append(f"{len(skipped)} skipped: {', '.join(skipped)}")
        message = "; ".join(reasons + problems)
        return Failed(message=message, data=RunFailed(message, result))
    return Completed(message=f"{len(summaries)} source(s) processed", data=result)


def spec_failed(exc: SpecError) -> State:
    """An invalid spec ends the run `Failed` before any work, in one line, as `jobforge run`
    says it (exit 2 there): returned, not raised, so Prefect logs no traceback for it; the
    error is the state's data, so a direct call of the flow still raises it."""
    attach_run_logging()  # installs the filter that keeps the engine's final raise quiet
    return Failed(message=spec_error_line(exc), data=exc)


@flow(
    name="jobforge",
    flow_run_name=_run_name,
    log_prints=True,
    task_runner=runner_from_settings(),
)
def jobforge_flow(
    sources: list[str] | None = None,
    data_root: str | None = None,
    source_dir: str | None = None,
    spec_dirs: list[str] | None = None,
    force: bool = False,
    files: dict[str, str] | None = None,
    unpin: list[str] | None = None,
) -> State:
    """Every declared source (or the named ones) through staged -> bronze -> silver -> gold.

    `files` maps a source to the file to load instead of its spec's (a given release); the
    source stays on it until `unpin` names it.
    """
    try:
        with run_log(data_root):
            return run_sources(
                sources, data_root, source_dir, spec_dirs, force, files=files, unpin=unpin
            )
    except SpecError as exc:
        return spec_failed(exc)


@flow(
    name="medallion",
    flow_run_name=_run_name,
    log_prints=True,
    task_runner=runner_from_settings(),
)
def medallion_flow(
    source: str,
    data_root: str | None = None,
    source_dir: str | None = None,
    spec_dirs: list[str] | None = None,
    force: bool = False,
) -> State:
    """One source through the four layers."""
    try:
        with run_log(data_root):
            return run_sources([source], data_root, source_dir, spec_dirs, force)
    except SpecError as exc:
        return spec_failed(exc)


@flow(name="catalog", flow_run_name=_run_name, log_prints=True)
def catalog_flow(data_root: str | None = None, spec_dirs: list[str] | None = None) -> dict | State:
    """Rebuild catalog JSONs, glossary, model schema and the DuckDB store from what is on disk."""
    attach_run_logging()
    cfg = PipelineConfig.from_settings(data_root=Path(data_root) if data_root else None)
    try:
        specs = load_specs(_spec_dirs(spec_dirs))
    except SpecError as exc:
        return spec_failed(exc)
    with exclusive_run(cfg, holder="jobforge catalog"):
        return rebuild_catalog_task(cfg, known_specs(cfg, specs)[0])

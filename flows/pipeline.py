"""`jobforge_flow` (all or some sources, concurrently) and `medallion_flow` (one source)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.futures import PrefectFuture, wait
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import allow_failure

from flows.run_log import current_run_log, run_log
from flows.runners import runner_from_settings
from flows.summary import markdown, source_summary
from jobforge_core.catalog.stamp import catalog_is_current
from jobforge_core.config import Layer, PipelineConfig
from jobforge_core.housekeeping import exclusive_run
from jobforge_core.integrity import foreign_key_orphans
from jobforge_core.logs import get_logger
from jobforge_core.models import LayerTransitionLog
from jobforge_core.pipeline import SourcePlan, plan_sources, release
from jobforge_core.spec import gold_dependencies, load_specs
from tasks.artifacts import artifact_key, log_row
from tasks.catalog import rebuild_catalog_task
from tasks.layers import LAYER_TASKS
from tasks.run_logging import attach_run_logging


def _spec_dirs(given: list[str] | None) -> list[Path]:
    """$JOBFORGE_SPEC_DIRS (os.pathsep-separated) first, then the run's own: later ones win."""
    from jobforge_core.settings import load_settings

    return [*load_settings().spec_dirs, *(Path(d) for d in given or [])]


def _run_name() -> str:
    sources = flow_run.parameters.get("sources") or flow_run.parameters.get("source")
    if not sources:
        return "jobforge-all-sources"
    names = [sources] if isinstance(sources, str) else list(sources)
    shown = "+".join(names[:3]) + (f"+{len(names) - 3}-more" if len(names) > 3 else "")
    return f"jobforge-{shown}"


def _submit_chain(
    plan: SourcePlan, cfg: PipelineConfig, gold_waits: list[Any]
) -> dict[Layer, PrefectFuture]:
    futures: dict[Layer, PrefectFuture] = {}
    previous: list[Any] = []
    for layer, task in LAYER_TASKS.items():
        waits = previous + (gold_waits if layer is Layer.GOLD else [])
        futures[layer] = task.submit(plan, cfg, wait_for=waits)
        previous = [futures[layer]]
    return futures


def _tag_flow_run(plans: dict[str, SourcePlan]) -> None:
    """Tags on the flow run (one API call), filterable in the UI: sources and domains run."""
    run_id = flow_run.get_id()
    if not run_id:
        return
    wanted = {"jobforge"} | {f"source:{n}" for n, p in plans.items() if not p.unchanged}
    wanted |= {f"domain:{p.spec.domain}" for p in plans.values() if not p.unchanged}
    with get_client(sync_client=True) as client:
        current = set(client.read_flow_run(run_id).tags)
        client.update_flow_run(run_id, tags=sorted(current | wanted))


def _error_of(futures: dict[Layer, PrefectFuture]) -> str | None:
    for layer, future in futures.items():
        state = future.state
        if state.is_failed() or state.is_crashed():
            return f"{layer.value}: {state.message}"
        if not state.is_completed():
            return f"{layer.value}: not run ({state.name})"
    return None


def run_sources(
    names: list[str] | None,
    data_root: str | None,
    source_dir: str | None,
    spec_dirs: list[str] | None,
    force: bool,
    rebuild_catalog: bool = True,
    files: dict[str, str] | None = None,
) -> State:
    """Plan, submit every changed source's chain, wait, then publish the run's artifacts."""
    attach_run_logging()
    cfg = PipelineConfig.from_settings(
        data_root=Path(data_root) if data_root else None,
        source_dir=Path(source_dir) if source_dir else None,
    )
    specs = load_specs(_spec_dirs(spec_dirs))
    given = {name: Path(path) for name, path in (files or {}).items()}
    with exclusive_run(cfg) as stale:  # one run per data root; a killed run's temps go
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
    plans = plan_sources(specs, cfg, names, force=force, files=given)
    log.info("run_planned", sources=len(plans), unchanged=sum(p.unchanged for p in plans.values()))
    _tag_flow_run(plans)

    chains: dict[str, dict[Layer, PrefectFuture]] = {}
    for name, plan in plans.items():  # plans come in gold dependency order
        if plan.unchanged:
            continue
        deps = gold_dependencies(plan.spec, specs)
        gold_waits = [allow_failure(chains[d][Layer.GOLD]) for d in deps if d in chains]
        chains[name] = _submit_chain(plan, cfg, gold_waits)
    wait([f for chain in chains.values() for f in chain.values()])
    for plan in plans.values():
        release(plan)  # the private copies staging read (snapshot.py)

    summaries, all_logs = [], []
    for name, plan in plans.items():
        chain = chains.get(name, {})
        logs: list[LayerTransitionLog] = [
            f.state.result() for f in chain.values() if f.state.is_completed()
        ]
        all_logs += logs
        error = _error_of(chain) if chain else None
        summaries.append(
            source_summary(name, plan.batch_id, logs, unchanged=plan.unchanged, error=error)
        )
        if plan.unchanged:
            log.info("source_unchanged", source=name, batch_id=plan.batch_id)
    problems = [f"foreign key {o}" for o in foreign_key_orphans(cfg, specs)] if chains else []
    if rebuild_catalog and (chains or not catalog_is_current(cfg, specs)):
        catalog = rebuild_catalog_task.submit(cfg, specs)
        catalog.wait()
        if not catalog.state.is_completed():
            log.error("catalog_rebuild_failed", message=catalog.state.message)
            problems.append(
                f"catalog rebuild failed (the store and catalog are stale; the next run "
                f"rebuilds them): {catalog.state.message}"
            )
    return _finish(summaries, all_logs, cfg, problems)


def _finish(
    summaries: list[dict[str, Any]],
    logs: list[LayerTransitionLog],
    cfg: PipelineConfig,
    problems: list[str] | None = None,
) -> State:
    """The run's state: Failed when a source failed or a run-level check (catalog, foreign
    keys) did, with every reason in the message."""
    if logs:
        create_table_artifact(
            table=[log_row(log) for log in logs],
            key=artifact_key("jobforge-transitions"),
            description="Every layer transition of this flow run",
        )
    create_markdown_artifact(
        markdown=markdown(summaries, flow_run.get_name() or ""),
        key=artifact_key("jobforge-summary"),
        description="Rows per layer, quarantine and outputs per source",
    )
    problems = problems or []
    result = {
        "data_root": str(cfg.data_root),
        "sources": summaries,
        "problems": problems,
        "log_file": current_run_log(),
    }
    failed = [s["source"] for s in summaries if s["status"] == "failed"]
    get_logger().info("run_finished", sources=len(summaries), failed=",".join(failed))
    if failed or problems:
        reasons = [f"source(s) quarantined: {', '.join(failed)}"] if failed else []
        return Failed(message="; ".join(reasons + problems), data=result)
    return Completed(message=f"{len(summaries)} source(s) processed", data=result)


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
) -> State:
    """Every declared source (or the named ones) through staged -> bronze -> silver -> gold.

    `files` maps a source to the file to load instead of its spec's (a given release).
    """
    with run_log(data_root):
        return run_sources(sources, data_root, source_dir, spec_dirs, force, files=files)


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
    with run_log(data_root):
        return run_sources([source], data_root, source_dir, spec_dirs, force)


@flow(name="catalog", flow_run_name="jobforge-catalog", log_prints=True)
def catalog_flow(data_root: str | None = None, spec_dirs: list[str] | None = None) -> dict:
    """Rebuild catalog JSONs, glossary, model schema and the DuckDB store from what is on disk."""
    attach_run_logging()
    cfg = PipelineConfig.from_settings(data_root=Path(data_root) if data_root else None)
    specs = load_specs(_spec_dirs(spec_dirs))
    with exclusive_run(cfg):
        return rebuild_catalog_task(cfg, specs)

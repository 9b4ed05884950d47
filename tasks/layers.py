"""One Prefect task per layer transition (DESIGN: each arrow = one task = one log)."""

from __future__ import annotations

import os

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.runtime import flow_run, task_run
from prefect.settings import get_current_settings
from prefect.states import Failed, State

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.common.errors import DataError
from jobforge_core.common.logs import get_logger
from jobforge_core.common.models import LayerTransitionLog, RunOrigin
from jobforge_core.run.pipeline import SourcePlan, run_transition
from tasks.artifacts import publish_transition
from tasks.retry import RETRIES, RETRY_DELAYS, RETRY_JITTER, retry_transient_only
from tasks.run_logging import attach_run_logging, failed_on_purpose

QUARANTINE_EVENT = "jobforge.source.quarantined"
TEMPORARY_API_URL = "JOBFORGE_TEMPORARY_API_URL"  # set by flows/embedded.py (same name)


def _run(plan: SourcePlan, cfg: PipelineConfig, layer: Layer) -> LayerTransitionLog | State:
    """A data error (DESIGN 7: quarantined, never retried) ends the task run `Failed` with
    the reason as its message: returned as a state, not raised, so Prefect logs no
    traceback and names no exception class in front of the reason for an expected outcome.
    Anything else (a bug, a transient fault after its retries) still raises."""
    attach_run_logging()
    log = get_logger(source=plan.name, layer=layer.value, batch_id=plan.batch_id)
    log.info("transition_started", source_file=str(plan.source_path))
    try:
        result = run_transition(plan, cfg, layer, origin=run_origin())
    except DataError as exc:
        # a warning: bad data is the quarantine's expected path, not a fault (DESIGN 15)
        log.warning("source_quarantined", error=str(exc), row=exc.row, column=exc.column)
        _emit_quarantine(plan, layer, exc)
        failed_on_purpose(task_run.get_id())
        return Failed(message=str(exc), data=exc)
    log.info(
        "transition_completed",
        status=result.status.value,
        rows_in=result.row_count_in,
        rows_out=result.row_count_out,
        rows_quarantined=result.row_count_quarantined,
        transition_id=result.transition_id,
    )
    publish_transition(result)
    return result


def run_origin() -> RunOrigin:
    """The flow and task run of the current task, and the flow run's UI page when Prefect
    knows its API URL and that server outlives the run (not the temporary one of
    `jobforge run`: the run id, kept in its database, is what stays valid); passed to the
    core so the persisted log carries them."""
    flow_run_id = flow_run.get_id()
    settings = get_current_settings()
    ui = settings.ui_url
    if settings.api.url and os.environ.get(TEMPORARY_API_URL) == settings.api.url:
        ui = None  # `jobforge run`'s own server stops with it: a link would be dead
    return RunOrigin(
        flow_run_id=flow_run_id,
        task_run_id=task_run.get_id(),
        flow_run_url=f"{ui}/runs/flow-run/{flow_run_id}" if ui and flow_run_id else None,
        flow_name=flow_run.get_flow_name(),
    )


def _emit_quarantine(plan: SourcePlan, layer: Layer, exc: DataError) -> None:
    """An event per quarantined source, so users can hang an alerting automation on it."""
    emit_event(
        event=QUARANTINE_EVENT,
        resource={
            "prefect.resource.id": f"jobforge.source.{plan.name}",
            "prefect.resource.name": plan.name,
        },
        payload={**exc.report(), "batch_id": plan.batch_id, "layer": exc.layer or layer.value},
    )


# No task tags: Prefect 3 takes a tag-concurrency lease per tag per task run (several API
# calls each), which tripled the orchestration overhead. Layer and source are in the task
# name and run name; the flow run carries the source tags (flows/pipeline.py).
_TASK_OPTIONS = dict(
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_transient_only,
    cache_policy=NO_CACHE,
    log_prints=False,
)


@task(name="stage_source", task_run_name="stage-{plan.name}", **_TASK_OPTIONS)
def stage_source(plan: SourcePlan, cfg: PipelineConfig) -> LayerTransitionLog:
    return _run(plan, cfg, Layer.STAGED)


@task(
    name="promote_to_bronze",
    task_run_name="bronze-{plan.name}",
    **_TASK_OPTIONS,
)
def promote_to_bronze(plan: SourcePlan, cfg: PipelineConfig) -> LayerTransitionLog:
    return _run(plan, cfg, Layer.BRONZE)


@task(
    name="promote_to_silver",
    task_run_name="silver-{plan.name}",
    **_TASK_OPTIONS,
)
def promote_to_silver(plan: SourcePlan, cfg: PipelineConfig) -> LayerTransitionLog:
    return _run(plan, cfg, Layer.SILVER)


@task(name="promote_to_gold", task_run_name="gold-{plan.name}", **_TASK_OPTIONS)
def promote_to_gold(plan: SourcePlan, cfg: PipelineConfig) -> LayerTransitionLog:
    return _run(plan, cfg, Layer.GOLD)


LAYER_TASKS = {
    Layer.STAGED: stage_source,
    Layer.BRONZE: promote_to_bronze,
    Layer.SILVER: promote_to_silver,
    Layer.GOLD: promote_to_gold,
}

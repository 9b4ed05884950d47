"""Task runners: threads by default, Dask (prefect-dask) when asked for."""

from __future__ import annotations

from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

RUNNERS = ("thread", "dask")


def make_task_runner(kind: str = "thread", dask_address: str | None = None) -> Any:
    """A local Dask cluster of 2 worker processes unless a scheduler address is given."""
    if kind == "thread":
        return ThreadPoolTaskRunner()
    if kind != "dask":
        raise ValueError(f"unknown task runner {kind!r}; choose one of {RUNNERS}")
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise RuntimeError("the Dask runner needs: pip install -e '.[dask]'") from exc
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True}
    )


def runner_from_settings() -> Any:
    """The runner a deployment gets from its job variables (JOBFORGE_TASK_RUNNER)."""
    from jobforge_core.common.settings import load_settings

    settings = load_settings()
    return make_task_runner(settings.task_runner, settings.dask_address)

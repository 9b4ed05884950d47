"""Submit each source's layer tasks only once their inputs are ready.

Submitting a whole chain up front (`wait_for=` the previous layer) leaves, after a failure, task
runs that Prefect parks in `Pending`/`NotReady` forever, and a dependent source's gold step
runs anyway and fails with a second-hand error. Here a task run is created only when it can
run: its previous layer completed and, for gold, every gold table it reads was built in this
run (or did not need to be). A source whose dependency failed is skipped once, saying so
(DESIGN 15: every task run reaches a final state; issue 12 item 5).
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from jobforge_core.common.config import Layer, PipelineConfig
from jobforge_core.run.pipeline import SourcePlan
from jobforge_core.sources.spec import SourceSpec, gold_dependencies

ORDER = list(Layer)  # staged, bronze, silver, gold


def unwalked(value: Any) -> Any:
    """A task argument Prefect passes on without walking through it, on the in-process
    thread runner: a plan (its spec), a config or the specs hold no futures, and Prefect's
    walk through every field, twice per task run, cost a tenth of a small run's CPU. Other
    runners (Dask) pickle the arguments, and `quote` does not survive that: left as is."""
    context = FlowRunContext.get()
    runner = context.task_runner if context else None
    return quote(value) if isinstance(runner, ThreadPoolTaskRunner) else value


@dataclass
class SourceRun:
    """One source's chain in this flow run, as far as it got."""

    plan: SourcePlan
    deps: list[str]
    futures: dict[Layer, PrefectFuture] = field(default_factory=dict)
    done: set[Layer] = field(default_factory=set)  # layers whose task run completed
    error: str | None = None
    skipped: str | None = None

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def settled(self) -> bool:
        """Nothing more will run for this source."""
        return bool(self.error or self.skipped or Layer.GOLD in self.done)


def run_chains(
    plans: dict[str, SourcePlan],
    specs: dict[str, SourceSpec],
    cfg: PipelineConfig,
    tasks: dict[Layer, Any],
) -> dict[str, SourceRun]:
    """Run every changed source to gold (or to its failure), concurrently; return the runs."""
    runs = {n: SourceRun(p, []) for n, p in plans.items() if not p.unchanged}
    for run in runs.values():
        run.deps = sorted(d for d in gold_dependencies(run.plan.spec, specs) if d in runs)
    finished: queue.Queue[tuple[str, Layer]] = queue.Queue()
    in_flight = 0

    def submit(run: SourceRun, layer: Layer, after: list[PrefectFuture]) -> None:
        nonlocal in_flight
        # wait_for on completed futures: no waiting, but the UI draws the dependency edges.
        future = tasks[layer].submit(unwalked(run.plan), unwalked(cfg), wait_for=after)
        run.futures[layer] = future
        in_flight += 1
        future.add_done_callback(_notify(finished, run.name, layer))

    def release_gold() -> None:
        """Submit or skip every gold step whose silver is done; repeat until nothing moves."""
        moved = True
        while moved:
            moved = False
            for run in runs.values():
                if run.settled or Layer.GOLD in run.futures or Layer.SILVER not in run.done:
                    continue
                blocked = [runs[d] for d in run.deps if runs[d].error or runs[d].skipped]
                if blocked:
                    dep = blocked[0]
                    why = "failed" if dep.error else "was skipped"
                    run.skipped = f"depends on {dep.name}, which {why}"
                    moved = True
                elif all(Layer.GOLD in runs[d].done for d in run.deps):
                    gold = [runs[d].futures[Layer.GOLD] for d in run.deps]
                    submit(run, Layer.GOLD, [run.futures[Layer.SILVER], *gold])

    for run in runs.values():
        submit(run, Layer.STAGED, [])
    while in_flight:
        name, layer = finished.get()
        in_flight -= 1
        run = runs[name]
        future = run.futures[layer]
        try:
            future.wait()  # the final state from the runner, not read back from the API
        except Exception as exc:  # noqa: BLE001  (a crashed runner: report it, carry on)
            run.error = f"{layer.value}: {type(exc).__name__}: {exc}"
            release_gold()
            continue
        state = future.state
        if not state.is_completed():
            run.error = f"{layer.value}: {state.message or state.name}"
            release_gold()
            continue
        run.done.add(layer)
        if layer is not Layer.GOLD and ORDER[ORDER.index(layer) + 1] is not Layer.GOLD:
            submit(run, ORDER[ORDER.index(layer) + 1], [future])
        release_gold()
    for run in runs.values():  # cannot happen with an acyclic gold order; never hang on it
        if not run.settled:
            run.error = "not run: its gold dependencies never settled"
    return runs


def _notify(
    finished: queue.Queue[tuple[str, Layer]], name: str, layer: Layer
) -> Callable[[Any], None]:
    return lambda _future: finished.put((name, layer))

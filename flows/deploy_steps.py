"""Prefect pull steps of JobForge's deployments (`prefect.yaml`). They run on the worker, in
the flow run's process, before the flow is loaded; nothing here is resolved at deploy time.

`use_checkout` replaces `set_working_directory: "{{ $JOBFORGE_HOME }}"`, which Prefect
resolves when `prefect deploy` runs: unset there, every run crashed on the worker with
`FileNotFoundError: /tmp/tmp.../flows/pipeline.py` and no hint (issue 12 item 11).
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_VAR = "JOBFORGE_HOME"


def checkout(home: str | None = None) -> Path:
    """The JobForge checkout to run from: `home`, else $JOBFORGE_HOME on the worker, else the
    checkout this package was installed from (`pip install -e .`)."""
    given = home or os.environ.get(HOME_VAR)
    if given:
        directory = Path(given).expanduser().resolve()
        if not (directory / "flows" / "pipeline.py").is_file():
            raise FileNotFoundError(
                f"{HOME_VAR}={given} on this worker is not a JobForge checkout "
                f"(no flows/pipeline.py in {directory}); point it at the repository root"
            )
        return directory
    directory = Path(__file__).resolve().parents[1]
    if not (directory / "prefect.yaml").is_file():  # installed without -e: site-packages
        raise FileNotFoundError(
            f"JobForge is installed in {directory}, not run from a checkout: set {HOME_VAR} "
            "on the worker (or in the work pool's job variables) to the repository root or "
            "the image's working directory"
        )
    return directory


def use_checkout(home: str | None = None) -> dict[str, str]:
    """Name the flow run, then work from the checkout: entrypoints (`flows/pipeline.py`) and
    the default data root (`data/`, unless JOBFORGE_DATA_ROOT) resolve against it."""
    name_flow_run()
    directory = checkout(home)
    os.chdir(directory)
    return {"directory": str(directory)}


def name_flow_run() -> None:
    """Give the worker's run its JobForge name now (the flow gives the same name when it
    starts), so a run that fails before the flow starts does not keep a random name."""
    run_id = os.environ.get("PREFECT__FLOW_RUN_ID")
    if not run_id:
        return
    from prefect.client.orchestration import get_client

    from flows.naming import is_jobforge_name, run_name

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        if is_jobforge_name(run.name):  # named at creation: the name it ends with
            return
        flow = client.read_flow(run.flow_id)
        when = run.expected_start_time or run.created
        client.set_flow_run_name(run.id, run_name(flow.name, run.parameters, when))

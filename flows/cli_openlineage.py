"""`jobforge openlineage export`: replay the kept transition logs as OpenLineage events.

No Prefect here; the OpenLineage client is imported only when events are built.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flows.results import CommandError, NothingBuilt, Result, Section, UsageError

COMMANDS = ("openlineage",)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    ol = sub.add_parser(
        "openlineage",
        parents=[common],
        help="OpenLineage events of the kept transition logs (export to a server or a file)",
        description="OpenLineage for a data root built earlier (docs/openlineage.md).",
    )
    actions = ol.add_subparsers(
        dest="ol_command",
        required=True,
        metavar="ACTION",
        help="jobforge openlineage ACTION --help for its options",
    )
    export = actions.add_parser(
        "export",
        parents=[common],
        help="replay every kept transition log as its START and COMPLETE/FAIL events",
        description="Replay every kept transition log (data/catalog/lineage/) as its "
        "OpenLineage START and COMPLETE/FAIL events: to the transport configured the "
        "client's way (OPENLINEAGE_URL, OPENLINEAGE__TRANSPORT__*, openlineage.yml), or with "
        "--output as JSON lines.",
    )
    export.add_argument(
        "--output",
        metavar="FILE",
        help="write the events as JSON lines to FILE ('-' = stdout) instead of sending them",
    )
    export.add_argument(
        "--source", action="append", metavar="NAME", help="only this source (repeatable)"
    )
    export.add_argument(
        "--specs",
        action="append",
        metavar="DIR",
        help="extra or overriding spec directories (documentation, owners, column lineage)",
    )


def dispatch(args: argparse.Namespace) -> Result:
    if args.ol_command == "export":
        return export(args.data_root, args.output, args.source, args.specs)
    raise AssertionError(args.ol_command)


def export(
    data_root: str | None,
    output: str | None,
    sources: list[str] | None,
    spec_dirs: list[str] | None,
) -> Result:
    from jobforge_core.common.config import PipelineConfig
    from jobforge_core.common.settings import load_openlineage_settings, load_settings
    from jobforge_core.openlineage.export import kept_logs, replay_events
    from jobforge_core.sources.spec import load_specs

    cfg = PipelineConfig.from_settings(data_root=Path(data_root) if data_root else None)
    if not cfg.data_root.is_dir():
        from flows.cli_read import missing_root

        raise UsageError(missing_root(cfg.data_root))
    settings = load_openlineage_settings()
    if output is None:
        if settings.disabled:
            raise UsageError("OPENLINEAGE_DISABLED=true: nothing to send (or give --output FILE)")
        if not settings.transport_configured:
            raise UsageError(
                "no OpenLineage transport configured (OPENLINEAGE_URL, "
                "OPENLINEAGE__TRANSPORT__*, openlineage.yml); --output FILE writes JSON lines"
            )
    logs = kept_logs(cfg, sources)
    if not logs:
        raise NothingBuilt(
            f"no transition logs in {cfg.catalog_lineage_path()}"
            + (f" for {', '.join(sources)}" if sources else "")
            + ": nothing has run yet"
        )
    specs = load_specs([*load_settings().spec_dirs, *(Path(d) for d in spec_dirs or [])])
    events = replay_events(cfg, settings.namespace, specs, logs)
    if output is None:
        destination, count = _send(events), len(logs) * 2
    else:
        destination, count = _write(events, output), len(logs) * 2
    summary = {"transitions": len(logs), "events": count, "destination": destination}
    if output == "-":  # stdout holds the events: the summary goes to stderr
        return Result(notes=[f"{count} events of {len(logs)} transitions written to stdout"])
    return Result(sections=[Section.fields("export", summary)])


def _send(events: Any) -> str:
    """Through the configured transport; the first failure stops the export (exit 1)."""
    from jobforge_core.openlineage.emitter import NoTransport, new_client

    try:
        client = new_client()
    except NoTransport as exc:
        raise UsageError(f"{exc} (OPENLINEAGE_URL, OPENLINEAGE__TRANSPORT__TYPE, ...)") from exc
    sent = 0
    try:
        for event in events:
            try:
                client.emit(event)
            except Exception as exc:
                raise CommandError(
                    f"{sent} events sent, then the transport failed: {type(exc).__name__}: {exc}"
                ) from exc
            sent += 1
    finally:
        client.close(timeout=5)
    return f"{client.transport.kind} transport"


def _write(events: Any, output: str) -> str:
    from jobforge_core.common.atomic import atomic_target
    from jobforge_core.openlineage.events import to_json

    if output == "-":
        for event in events:
            sys.stdout.write(to_json(event) + "\n")
        sys.stdout.flush()
        return "stdout"
    target = Path(output)
    if not target.parent.is_dir():
        raise UsageError(f"--output: directory {target.parent} does not exist")
    with atomic_target(target) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for event in events:
            fh.write(to_json(event) + "\n")
    return str(target.absolute())

"""`history`, `diff`, `restore`: a table's batches over time, as `Result`s.

No Prefect here: these read (or, for `restore`, move) files under the data root and rebuild
the store with the core's own functions.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flows.render import jobforge_command
from flows.results import Result, Section, UsageError

COMMANDS = ("history", "diff", "restore", "retire", "verify")


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    history = sub.add_parser(
        "history",
        parents=[common],
        help="the batches of a table, or the published gold snapshots, newest first",
        description="With a table: every batch that wrote it: when, from which file (SHA-256), "
        "rows, rows quarantined by rule, schema changes, flow run, and whether it is still kept. "
        "Without: every published snapshot of the gold layer (id, time, tables changed, what "
        "was held back).",
    )
    history.add_argument(
        "table", nargs="?", help="a table name (fact_cops_employment, silver.noc_structure)"
    )

    diff = sub.add_parser(
        "diff",
        parents=[common],
        help="rows added, removed and changed between two batches of a table",
        description="Compare two kept batches of a table by its grain key (default: the "
        "previous batch and the current one).",
    )
    diff.add_argument("table", help="a table name, e.g. fact_cops_employment")
    diff.add_argument("--from", dest="from_batch", metavar="BATCH", help="older batch id")
    diff.add_argument("--to", dest="to_batch", metavar="BATCH", help="newer batch id")
    diff.add_argument(
        "--key",
        action="append",
        metavar="COLUMN",
        help="key column (repeatable); default: the gold table's declared grain",
    )
    diff.add_argument(
        "--sample",
        type=int,
        default=10,
        metavar="N",
        help="the largest changed values shown, and values listed per key (default 10)",
    )
    diff.add_argument(
        "--window",
        metavar="COLUMN",
        help="the key column whose values move between releases (default: an integer year)",
    )

    restore = sub.add_parser(
        "restore",
        parents=[common],
        help="put a source back to a kept batch, or the whole gold back to a snapshot",
        description="SOURCE --batch BATCH: every layer table of the source back to BATCH, "
        "logged as a transition, then published. --snapshot ID: every source whose gold "
        "differs from that published snapshot back to the batch it held there.",
    )
    restore.add_argument("source", nargs="?", help="a source name, e.g. cops_employment")
    restore.add_argument("--batch", metavar="BATCH", help="the batch to restore")
    restore.add_argument(
        "--snapshot", metavar="ID", help="a published snapshot (jobforge history lists them)"
    )
    restore.add_argument(
        "--specs", action="append", metavar="DIR", help="extra or overriding spec directories"
    )

    retire = sub.add_parser(
        "retire",
        parents=[common],
        help="remove a source from the data root (its tables move to history)",
        description="The source's tables leave published gold, the store, the catalog and the "
        "site; their files are kept in history. A run that merely does not declare a source "
        "keeps its tables: this is the only way to remove them.",
    )
    retire.add_argument("source", help="a source name")

    sub.add_parser(
        "verify",
        parents=[common],
        help="check every published and working file against its checksum; repair the store",
        description="Hashes every published gold file and every working gold file against "
        "the checksums recorded when they were written, reads every state, log and spec "
        "record, and opens the store. The store and catalog are rebuilt when damaged; a "
        "damaged table's source is marked so that the next `jobforge run` rebuilds it.",
    )
    retire.add_argument(
        "--specs", action="append", metavar="DIR", help="extra or overriding spec directories"
    )


def dispatch(args: argparse.Namespace) -> Result:
    if args.command == "history":
        if args.table is None:
            return snapshot_history(args.data_root)
        return history(args.data_root, args.table)
    if args.command == "retire":
        return retire(args.data_root, args.source, args.specs)
    if args.command == "verify":
        return verify(args.data_root)
    if args.command == "diff":
        return diff(
            args.data_root,
            args.table,
            args.from_batch,
            args.to_batch,
            args.key,
            args.sample,
            args.window,
        )
    if args.command == "restore":
        if args.snapshot:
            if args.source or args.batch:
                raise UsageError("restore takes SOURCE --batch BATCH or --snapshot ID, not both")
            return restore_snapshot(args.data_root, args.snapshot, args.specs)
        if not args.source or not args.batch:
            raise UsageError("restore needs SOURCE --batch BATCH, or --snapshot ID")
        return restore(args.data_root, args.source, args.batch, args.specs)
    raise AssertionError(args.command)


LAYER_PREFIXES = ("staged_", "bronze_", "silver_")


def _known_tables(cfg: Any) -> list[str]:
    """Every table name a user may type: the catalog's, and those with kept batches."""
    from flows.cli_read import catalog_tables
    from jobforge_core.common.config import Layer

    names = set(catalog_tables(cfg))
    for layer in Layer:
        base = cfg.data_root / "history" / layer.value
        if base.is_dir():
            for kept in base.iterdir():
                names.add(kept.name if layer is Layer.GOLD else f"{layer.value}.{kept.name}")
    return sorted(names)


def table_name(cfg: Any, name: str) -> str:
    """The table a user means: `silver.cops_employment`, or its history view's spelling
    `silver_cops_employment` (what `history.*` in SQL calls it). An unknown name is a usage
    error with the close names."""
    from flows.cli_read import did_you_mean

    known = _known_tables(cfg)
    if name in known:
        return name
    for prefix in LAYER_PREFIXES:
        dotted = prefix[:-1] + "." + name[len(prefix) :]
        if name.startswith(prefix) and dotted in known:
            return dotted
    import difflib

    # either spelling matches; the suggestion is the catalog's (dotted) name
    spelled = {n.replace(".", "_"): n for n in known} | {n: n for n in known}
    close = difflib.get_close_matches(name, list(spelled), n=6, cutoff=0.6)
    names = list(dict.fromkeys(spelled[c] for c in close))[:3]
    if names:
        raise UsageError(f"unknown table {name!r}{did_you_mean(names[0], names)}")
    gold = [n for n in known if "." not in n]
    raise UsageError(
        f"unknown table {name!r} (gold tables: {', '.join(gold) or 'none'}; other layers: "
        "staged.SOURCE, bronze.SOURCE, silver.SOURCE)"
    )


def history(data_root: str | None, table: str) -> Result:
    from flows.cli_read import config
    from jobforge_core.run.audit import table_history, table_releases

    cfg = config(data_root)
    table = table_name(cfg, table)
    rows = table_history(cfg, table)
    view = [
        "batch_id",
        "status",
        "ingested_at",
        "rows",
        "quarantined",
        "schema_changes",
        "source_file",
        "source_sha256",
        "flow_run_id",
    ]
    if len(rows) > 1:
        notes = [f"{len(rows)} batches of {table}; compare two: {jobforge_command()} diff {table}"]
    else:
        notes = [f"1 batch of {table}: nothing to compare yet (jobforge diff needs two)"]
    releases = table_releases(rows)
    if releases:
        now = next((r for r in releases if r["current"]), releases[0])
        notes.insert(0, f"current release: {now['release']} ({now['file_date'] or 'file gone'})")
    return Result(
        [
            Section("batches", rows, columns=view, max_width=40),
            Section(
                "releases",
                releases,
                title="releases (source files), newest first",
                columns=["release", "file_date", "current", "batches", "source_sha256"],
                max_width=70,
            ),
        ],
        notes=notes,
    )


def diff(
    data_root: str | None,
    table: str,
    from_batch: str | None,
    to_batch: str | None,
    key: list[str] | None,
    sample: int,
    window: str | None = None,
) -> Result:
    from flows.cli_read import config
    from jobforge_core.history.changes import story
    from jobforge_core.run.audit import diff_table

    if sample < 0:
        raise UsageError(f"--sample must be 0 or more, got {sample}")
    cfg = config(data_root)
    table = table_name(cfg, table)
    single = _single_batch(cfg, table, from_batch, to_batch)
    if single is not None:
        return single
    c = diff_table(cfg, table, from_batch, to_batch, key, sample, window)
    found = c.as_dict(table)
    titles = {
        "window": "the window that moved",
        "by_key": "per key column",
        "measures": "per measure: the values changed, summed",
        "values": "per key value: the changes, summed",
        "changed": "the largest changed values",
        "changes_by_column": "rows changed per column",
        "quarantined": "rows of the new batch in quarantine",
    }
    sections = [Section.fields("diff", found["diff"])]
    window = Section.fields("window", found["window"], title=titles["window"])
    if not found["window"]:  # no year window, or it did not move: nothing to say to people
        window.formats = ("csv", "json")
    sections.append(window)
    lists = ("added_values", "removed_values", "quarantined_values")
    for key in list(titles)[1:]:
        columns = [c for c in found[key][0] if c not in lists] if found[key] else None
        sections.append(Section(key, found[key], title=titles[key], columns=columns))
        if key == "by_key":  # for people: the values themselves, one line each
            listed = [
                {"column": row["column"], "what": what[: -len("_values")], "values": row[what]}
                for row in found["by_key"]
                for what in lists
                if row[what]
            ]
            sections.append(
                Section(
                    "by_key_values",
                    listed,
                    title="the key values added, removed, in quarantine",
                    max_width=None,
                    formats=("table",),
                )
            )
    return Result(sections, notes=story(found))


def _single_batch(
    cfg: Any, table: str, from_batch: str | None, to_batch: str | None
) -> Result | None:
    """A table with one batch (or none) kept: nothing to compare, said as an answer (exit 1,
    as every command with nothing to show yet), not as a usage error."""
    from jobforge_core.common.table_names import split_name
    from jobforge_core.history.batches import versions

    if from_batch and to_batch:
        return None
    held = [v.batch_id for v in versions(cfg, *split_name(table))]
    if len(held) > 1:
        return None
    what = f"one batch ({held[0]})" if held else "no batch"
    summary = {"table": table, "batches": len(held), "batch_id": held[0] if held else None}
    return Result(
        [Section.fields("diff", summary)],
        notes=[
            f"{table} holds {what}: nothing to compare yet; the next release that changes it "
            f"gives two ({jobforge_command()} history {table})"
        ],
        exit_code=1,
    )


def _specs(cfg: Any, spec_dirs: list[str] | None) -> dict[str, Any]:
    """The declared specs and those the data root recorded (a source built by a spec not
    declared here is still known)."""
    from jobforge_core.common.settings import load_settings
    from jobforge_core.run.registry import known_specs
    from jobforge_core.sources.spec import load_specs

    declared = load_specs([*load_settings().spec_dirs, *(Path(d) for d in spec_dirs or [])])
    return known_specs(cfg, declared)[0]


@contextmanager
def _holding(cfg: Any, holder: str) -> Iterator[None]:
    """The data root for a command that moves tables: a run meanwhile would leave gold on
    one batch and state on another."""
    from jobforge_core.run.housekeeping import RunInProgress, exclusive_run

    try:
        with exclusive_run(cfg, holder=holder):
            yield
    except RunInProgress as exc:
        raise UsageError(str(exc)) from None


def _publish(
    cfg: Any, specs: dict[str, Any], what: str, retired: set[str] | None = None
) -> list[str]:
    """Publish what the command put in the working gold, rebuild catalog and site; the
    lines say what could not be published and why."""
    from jobforge_core.run.publish import publish
    from jobforge_core.site.refresh import refresh_catalog

    report = publish(cfg, specs, note=what, retired=retired)
    refresh_catalog(cfg, specs)
    return [f"not published: {line}" for line in report.held_back]


def _next_run(cfg: Any, spec: Any, batch: str) -> str:
    """What the next plain run will do with the source, said truthfully: planned as that run
    plans it, in the folder the restored release came from, with the pins in force."""
    from jobforge_core.common.settings import load_settings
    from jobforge_core.run.pins import read_pins
    from jobforge_core.run.pipeline import plan_sources
    from jobforge_core.run.state import read_state

    state = read_state(cfg, spec.name)
    folder = Path(state.source_file).parent if state and state.source_file else None
    plan_cfg = cfg
    if folder is not None and folder.is_dir() and folder != cfg.resolved_source_dir():
        plan_cfg = cfg.model_copy(update={"source_dir": folder})
    run = "jobforge run" + (f" --source-dir {folder}" if plan_cfg is not cfg else "")
    pinned = load_settings().releases.get(spec.name) or read_pins(cfg).get(spec.name)
    files = {}
    if pinned:
        path = Path(pinned)
        files[spec.name] = path if path.is_absolute() else plan_cfg.resolved_source_dir() / path
    try:
        plan = plan_sources({spec.name: spec}, plan_cfg, [spec.name], files=files)[spec.name]
    except Exception:  # the file is unreadable or gone: the run will say so itself
        return f"the next `{run}` reports its file"
    how = "its pinned release" if pinned else "its newest release"
    if plan.batch_id == batch:
        return f"{how} is that batch: the next `{run}` keeps it ({plan.source_path})"
    return (
        f"{how} {plan.source_path} is another batch ({plan.batch_id}): the next `{run}` loads "
        f"it again; to stay on this one, pin its file: {jobforge_command()} "
        f"{run.removeprefix('jobforge ')} --file {spec.name}="
        f"{state.source_file if state and state.source_file else 'FILE'}"
    )


def restore(data_root: str | None, source: str, batch: str, spec_dirs: list[str] | None) -> Result:
    from flows.cli_read import config, did_you_mean

    cfg = config(data_root)
    specs = _specs(cfg, spec_dirs)
    if source not in specs:
        hint = did_you_mean(source, sorted(specs))
        raise UsageError(
            f"unknown source {source!r}{hint}"
            if hint
            else f"unknown source {source!r}; declared: {', '.join(sorted(specs))}"
        )
    with _holding(cfg, "jobforge restore"):
        logs = _restore_or_hint(cfg, specs[source], batch)
        if not logs:
            return Result(  # one line, no table: nothing moved
                notes=[f"{source} already holds batch {batch} in every layer: nothing to do"]
            )
        held = _publish(cfg, specs, f"restore {source} {batch}")
    rows = [
        {
            "layer": log.target_layer.value,
            "tables": [Path(t).stem for t in log.target_files],
            "rows": log.row_count_out,
            "replaced": log.replaced_batches,
            "transition_id": log.transition_id,
        }
        for log in logs
    ]
    return Result(
        [Section("restored", rows, title=f"{source} restored to {batch}", max_width=None)],
        notes=[*held, f"{source} is at batch {batch}; {_next_run(cfg, specs[source], batch)}"],
        exit_code=1 if held else 0,
    )


def _restore_or_hint(cfg: Any, spec: Any, batch: str) -> list[Any]:
    """restore_source, with a close kept batch id suggested for a mistyped one."""
    from flows.cli_read import did_you_mean
    from jobforge_core.common.config import Layer
    from jobforge_core.history.batches import versions
    from jobforge_core.run.audit import AuditError, restore_source

    try:
        return restore_source(cfg, spec, batch)
    except AuditError as exc:
        kept = [v.batch_id for v in versions(cfg, Layer.STAGED, spec.name)]
        hint = did_you_mean(batch, kept) if batch not in kept else ""
        raise UsageError(f"{exc}{hint}") from None


def restore_snapshot(
    data_root: str | None, snapshot_id: str, spec_dirs: list[str] | None
) -> Result:
    from flows.cli_read import config, did_you_mean
    from jobforge_core.run.audit import restore_source
    from jobforge_core.run.publish import current_snapshot, snapshots

    cfg = config(data_root)
    specs = _specs(cfg, spec_dirs)
    kept = {s.id: s for s in snapshots(cfg)}
    if snapshot_id not in kept:
        raise UsageError(
            f"no snapshot {snapshot_id!r}{did_you_mean(snapshot_id, sorted(kept))} in "
            f"{cfg.data_root} ({jobforge_command()} history lists them)"
        )
    target = kept[snapshot_id]
    current = current_snapshot(cfg)
    now = current.tables if current else {}
    # one batch per source: the batch its gold tables held in the snapshot
    wanted = {e.source: e.batch_id for t, e in target.tables.items() if now.get(t) != e}
    unknown = sorted(set(wanted) - set(specs))
    if unknown:
        raise UsageError(f"snapshot {snapshot_id} holds sources no spec describes: {unknown}")
    rows = []
    with _holding(cfg, "jobforge restore"):
        for source, batch in sorted(wanted.items()):
            logs = restore_source(cfg, specs[source], batch)
            rows.append({"source": source, "batch_id": batch, "layers_moved": len(logs)})
        held = _publish(cfg, specs, f"restore snapshot {snapshot_id}") if rows else []
    notes = [*held]
    notes.append(
        f"gold is back to snapshot {snapshot_id} ({len(rows)} source(s) moved)"
        if rows
        else f"gold already matches snapshot {snapshot_id}: nothing to do"
    )
    return Result(
        [Section("restored", rows, title=f"restored to snapshot {snapshot_id}")],
        notes=notes,
        exit_code=1 if held else 0,
    )


def snapshot_history(data_root: str | None) -> Result:
    from flows.cli_read import config
    from jobforge_core.run.publish import current_snapshot, snapshots

    cfg = config(data_root)
    kept = snapshots(cfg)
    current = current_snapshot(cfg)
    rows = []
    for i, snap in enumerate(kept):
        parent = kept[i - 1].tables if i else {}
        changed = sorted(t for t, e in snap.tables.items() if parent.get(t) != e)
        rows.append(
            {
                "snapshot": snap.id,
                "current": current is not None and snap.id == current.id,
                "created_at": snap.created_at.isoformat(timespec="seconds"),
                "tables": len(snap.tables),
                "changed": changed,
                "held_back": snap.held_back,
                "by": snap.note,
            }
        )
    rows.reverse()
    notes = [
        f"{len(rows)} published snapshot(s) of {cfg.data_root}; the batches of one table: "
        f"{jobforge_command()} history TABLE; put one back: "
        f"{jobforge_command()} restore --snapshot ID"
    ]
    view = ["snapshot", "current", "created_at", "tables", "changed", "held_back"]
    return Result([Section("snapshots", rows, columns=view, max_width=60)], notes=notes)


def retire(data_root: str | None, source: str, spec_dirs: list[str] | None) -> Result:
    """A source leaves the data root on purpose: its tables leave published gold and the
    catalog; their files stay in history."""
    from flows.cli_read import config, did_you_mean
    from jobforge_core.run.audit import retire_source

    cfg = config(data_root)
    specs = _specs(cfg, spec_dirs)
    if source not in specs:
        raise UsageError(f"unknown source {source!r}{did_you_mean(source, sorted(specs))}")
    spec = specs[source]
    rest = {n: s for n, s in specs.items() if n != source}
    users = sorted(
        f"{out.table} ({name})"
        for name, s in rest.items()
        for out in s.gold
        if {g.table for g in spec.gold} & set(out.read_tables())
    )
    if users:
        raise UsageError(f"{source}'s tables are read by {', '.join(users)}: retire those first")
    with _holding(cfg, "jobforge retire"):
        moved = retire_source(cfg, spec)
        held = _publish(cfg, rest, f"retire {source}", {out.table for out in spec.gold})
    return Result(
        [Section("retired", [{"source": source, "tables_moved_to_history": moved}])],
        notes=[*held, f"{source} retired: its tables are in {cfg.data_root / 'history'}"],
    )


def verify(data_root: str | None) -> Result:
    from flows.cli_read import config
    from jobforge_core.catalog.stamp import catalog_is_current
    from jobforge_core.history.transition_logs import read_logs
    from jobforge_core.run.checksums import intact
    from jobforge_core.run.publish import damaged_published, mark_for_repair
    from jobforge_core.run.state import mark_incomplete, read_state
    from jobforge_core.site.refresh import refresh_catalog

    cfg = config(data_root)
    specs = _specs(cfg, None)
    rows: list[dict[str, Any]] = []
    with _holding(cfg, "jobforge verify"):
        logs = sum(1 for _ in read_logs(cfg))  # a damaged log is set aside and named
        published = damaged_published(cfg, full=True)
        mark_for_repair(cfg, published)
        rows += [{"what": t, "status": "damaged", "detail": why} for t, why in published.items()]
        for name in sorted(specs):
            state = read_state(cfg, name)  # a damaged state is set aside: rebuilt
            for table, recorded in (state.gold_files if state else {}).items():
                path = cfg.table_path("gold", table)
                if not intact(path, recorded):
                    mark_incomplete(cfg, name)
                    rows.append(
                        {"what": f"gold/{table}.parquet", "status": "damaged", "detail": path}
                    )
        if not catalog_is_current(cfg, specs):
            refresh_catalog(cfg, specs)
            rows.append({"what": "store and catalog", "status": "repaired", "detail": "rebuilt"})
    damaged = [r for r in rows if r["status"] == "damaged"]
    notes = [f"{logs} transition log(s) read; {len(damaged)} damaged file(s)"]
    if damaged:
        notes.append(
            "the sources of damaged tables are marked: the next `jobforge run` rebuilds and "
            "republishes them"
        )
    else:
        notes.append("every published and working gold file matches its checksum")
    return Result(
        [Section("verify", rows, columns=["what", "status", "detail"], max_width=80)],
        notes=notes,
        exit_code=1 if damaged else 0,
    )

"""`jobforge docs`: write the catalog site, and optionally serve it on 127.0.0.1.

No Prefect here. The site is built from the data root's catalog on disk; a run that rebuilds
the catalog writes it too (`<data root>/docs/`), so this command is for another folder, for a
data root built before the site existed, or for `--serve`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flows.render import jobforge_command, note
from flows.results import Result, Section, UsageError

COMMANDS = ("docs",)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    docs = sub.add_parser(
        "docs",
        parents=[common],
        help="write the catalog site (tables, lineage, model, glossary, quality); --serve it",
        description="Write a static, self-contained HTML site of the catalog (default "
        "<data root>/docs/); open its index.html from disk, or --serve it on 127.0.0.1.",
    )
    docs.add_argument(
        "--out",
        metavar="DIR",
        help="where to write the site (default <data root>/docs); an existing folder must be "
        "empty or an earlier site",
    )
    docs.add_argument(
        "--serve",
        action="store_true",
        help="after writing, serve the site on http://127.0.0.1:PORT until interrupted",
    )
    docs.add_argument(
        "--port",
        type=int,
        default=8000,
        metavar="N",
        help="port for --serve (default 8000; 0 picks a free one)",
    )


def dispatch(args: argparse.Namespace) -> Result:
    return docs(args.data_root, args.out, args.serve, args.port)


def docs(data_root: str | None, out: str | None, serve: bool, port: int) -> Result:
    from flows.cli_read import config
    from jobforge_core.run.housekeeping import exclusive_run
    from jobforge_core.site import build_site
    from jobforge_core.site.build import SiteRefused

    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    cfg = config(data_root)
    # The port first: taken, it is a usage error in one line before anything is written.
    server = _bind(port) if serve else None
    try:
        # Holding the data root: a run rewriting the catalog (and the site) meanwhile would
        # mix two catalogs in one site.
        with exclusive_run(cfg, holder="jobforge docs"):
            index = build_site(cfg, Path(out) if out else None)
    except SiteRefused as exc:
        raise UsageError(str(exc)) from exc
    site = index.parent
    pages = sum(1 for _ in site.rglob("*.html"))
    rows = [{"site": str(site), "index": str(index), "pages": pages, "url": index.as_uri()}]
    if server is not None:
        note(f"site written: {index} ({pages} pages)")
        from jobforge_core.site.serve import serve

        serve(server, site, announce=note)
        return Result([], notes=["stopped serving"])
    return Result(
        [Section.fields("site", rows[0])],
        notes=[f"open {index.as_uri()} in a browser, or: {jobforge_command()} docs --serve"],
    )


def _bind(port: int) -> Any:
    """The loopback server on `port`, bound; a port in use is a usage error (exit 2)."""
    import errno

    from jobforge_core.site.serve import HOST, bind

    try:
        return bind(port)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "is in use" if exc.errno == errno.EADDRINUSE else "is not allowed"
            raise UsageError(
                f"--port {port}: {HOST}:{port} {why}; choose another with --port N "
                "(--port 0 picks a free one)"
            ) from None
        raise

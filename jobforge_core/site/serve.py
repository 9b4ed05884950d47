"""Serve a built site on 127.0.0.1 for a quick look (the standard library's HTTP server).

Loopback only: the catalog names files, owners and sample quarantined rows, which are not for
the whole network. Only the site's folder is served, read-only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "127.0.0.1"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        pass


def make_server(site: Path, port: int) -> ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(site))
    return ThreadingHTTPServer((HOST, port), handler)


def serve_site(site: Path, port: int, announce: Callable[[str], None] = print) -> None:
    """Serve until interrupted (Ctrl-C); `announce` gets the URL once the port is bound."""
    server = make_server(site, port)
    host, bound = server.server_address[:2]
    announce(f"serving {site} at http://{host}:{bound}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

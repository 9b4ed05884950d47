"""Serve a built site on 127.0.0.1 for a quick look (the standard library's HTTP server).

Loopback only: the catalog names files, owners and sample quarantined rows, which are not for
the whole network. Only the site's folder is served, read-only.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "127.0.0.1"


class _QuietHandler(SimpleHTTPRequestHandler):
    """The site's files, without a log line per request; a folder is no page (no listing)."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib name)
        pass

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(404, "Not Found")
        return None


def bind(port: int) -> ThreadingHTTPServer:
    """The loopback server, bound to `port` before anything is built (a port in use is then
    the caller's usage error, with nothing written); `serve` says which folder it serves."""
    return ThreadingHTTPServer((HOST, port), _QuietHandler)


def serve(server: ThreadingHTTPServer, site: Path, announce: Callable[[str], None] = print) -> None:
    """Serve `site` until interrupted (Ctrl-C); `announce` gets the URL."""
    server.RequestHandlerClass = functools.partial(_QuietHandler, directory=str(site))
    host, bound = server.server_address[:2]
    announce(f"serving {site} at http://{host}:{bound}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

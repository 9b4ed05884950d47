"""A real `prefect server start` on a free local port, for the fixed-overhead measurement.

Started in its own session with its own PREFECT_HOME; stopped by killing that process and its
children by pid, so nothing else on the machine is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.procs import child_env, kill_tree


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prefect_cli() -> str:
    beside = Path(sys.executable).with_name("prefect")
    return str(beside) if beside.exists() else shutil.which("prefect") or "prefect"


@contextmanager
def prefect_server(home: Path, log: Path, timeout_s: float = 180.0) -> Iterator[str]:
    """Yield the API URL of a healthy server; kill it (and its children) on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    home.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = child_env(home)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [_prefect_cli(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        _wait_healthy(url, proc, timeout_s)
        yield url
    finally:
        kill_tree(proc.pid)
        with contextlib.suppress(ProcessLookupError):  # own session: the group is the server's
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"prefect server not healthy after {timeout_s} s")

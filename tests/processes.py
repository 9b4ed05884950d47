"""No process a test starts outlives the suite (issue 29).

Every child the suite's main thread starts with `subprocess.Popen` (Prefect's test server, `prefect
server start`, workers, `jobforge run`, xdist's workers) gets a parent-death signal: when the
process that started it ends, even by kill -9 or a CI timeout, the kernel sends it SIGTERM.
An orphaned Prefect server from a killed suite was found serving an hour later.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from flows.embedded import dies_with

_installed = threading.Event()


def install() -> None:
    """Make every later Popen of this process arm the parent-death signal (Linux only)."""
    if not sys.platform.startswith("linux") or _installed.is_set():
        return
    _installed.set()
    original = subprocess.Popen.__init__

    def init(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        # The signal follows the thread that started the child: only the main thread's
        # children are armed, so a child started from a short-lived thread is not ended
        # with it.
        if threading.current_thread() is not threading.main_thread():
            original(self, *args, **kwargs)
            return
        given = kwargs.get("preexec_fn")
        arm = dies_with(os.getpid())  # the same signal as Prefect's server of `jobforge run`

        def preexec() -> None:
            if arm is not None:
                arm()
            if given is not None:
                given()

        kwargs["preexec_fn"] = preexec
        original(self, *args, **kwargs)

    subprocess.Popen.__init__ = init


def assert_dies_with(parent: subprocess.Popen, child, what: str) -> None:
    """SIGKILL `parent` (nothing of it can clean up) and expect `child`, a psutil.Process, to
    end within 30 s; a child that outlives it is killed here and the test fails naming it."""
    import psutil

    parent.kill()
    parent.wait(timeout=30)
    try:
        child.wait(timeout=30)
    except psutil.TimeoutExpired:
        child.kill()
        raise AssertionError(f"{what} outlived the killed {parent.args[0]} process") from None

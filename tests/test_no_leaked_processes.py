"""Issue 29: a suite killed by a timeout or Ctrl-C leaves no server behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
from processes import assert_dies_with

HERE = Path(__file__).resolve().parent


def test_killing_a_suite_like_process_tree_leaves_no_server(tmp_path: Path):
    """A process that installs the suite's guard (tests/processes.py), starts a server the
    way Prefect's harness does (a Popen from the main thread) and a grandchild under it,
    is killed with SIGKILL: the server goes with it."""
    code = textwrap.dedent(
        f"""
        import subprocess, sys, time
        sys.path.insert(0, {str(HERE)!r})
        import processes
        processes.install()
        server = subprocess.Popen([sys.executable, "-m", "http.server", "0",
                                   "--bind", "127.0.0.1"], cwd={str(tmp_path)!r},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(server.pid, flush=True)
        time.sleep(600)
        """
    )
    suite = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    server = psutil.Process(int(suite.stdout.readline()))
    assert server.is_running()
    time.sleep(0.5)
    assert_dies_with(suite, server, "the server")

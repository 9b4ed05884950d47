"""Run one measurement in a fresh child process and read its peak RSS from the OS.

`os.wait4` returns the child's own rusage, whose ru_maxrss is the peak RSS of the child (or of
any of its waited-for descendants, whichever is larger), as the kernel accounts it. It is used
instead of getrusage(RUSAGE_CHILDREN), which keeps the largest child ever waited for and so
would report the 10M peak for every later, smaller run. A sampler thread also records the peak
of the sum over the process tree (the child plus e.g. Prefect's embedded server) and kills the
tree past a memory ceiling, so a runaway run fails visibly instead of starving the machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

GIB = 1024**3


@dataclass
class ChildResult:
    returncode: int
    wall_s: float
    peak_rss_bytes: int  # ru_maxrss of the child, from wait4
    peak_tree_rss_bytes: int  # sampled sum over the child's process tree
    killed_for_memory: bool
    log: Path
    load_before: float  # 1-minute load average: other work on the machine skews the timings


def tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def kill_tree(pid: int) -> None:
    """SIGKILL a process and its descendants by pid (never by name)."""
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)


class _Sampler(threading.Thread):
    def __init__(self, pid: int, ceiling: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.ceiling = pid, ceiling
        self.peak, self.killed = 0, False
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            rss = tree_rss(self.pid)
            self.peak = max(self.peak, rss)
            if rss > self.ceiling and not self.killed:
                self.killed = True
                kill_tree(self.pid)


def run_child(
    module_args: list[str], env: dict[str, str], log: Path, ceiling_gib: float = 20.0
) -> ChildResult:
    """`python -m <module_args>` with stdout+stderr to `log`; waits and measures."""
    log.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", *module_args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )
        sampler = _Sampler(proc.pid, int(ceiling_gib * GIB))
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it, not Popen
        sampler.stop.set()
        sampler.join()
    return ChildResult(
        returncode=proc.returncode,
        wall_s=wall,
        peak_rss_bytes=usage.ru_maxrss * 1024,  # Linux reports KiB
        peak_tree_rss_bytes=sampler.peak,
        killed_for_memory=sampler.killed,
        log=log,
        load_before=load_before,
    )


def child_env(prefect_home: Path, api_url: str | None = None) -> dict[str, str]:
    """Isolated Prefect settings; no API URL means Prefect starts its embedded server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
        PYTHONUNBUFFERED="1",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env

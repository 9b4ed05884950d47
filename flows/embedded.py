"""Prefect's temporary server for `jobforge run`, started before Prefect is imported.

With no API URL configured, Prefect starts a temporary server (`SubprocessASGIServer`) when
the flow opens its first client: after this process has spent 2-4 s importing Prefect and
the flow, and then it waits 7 s (17 s on a new PREFECT_HOME, which migrates its database)
for that server, which spends most of that time importing the same modules. Starting the
same server process first lets both imports run at once, on two cores: the user waits for
the slower of the two, not their sum (bench/RESULTS.md, "A small run's time").

The server is Prefect's own: the same `uvicorn` command and environment that
`SubprocessASGIServer._run_uvicorn_command` uses. This module only moves its start earlier,
so it must decide without importing Prefect whether Prefect would start one: an API URL set
anywhere Prefect reads settings from means a server the user chose, and nothing is started.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# `SubprocessASGIServer`: uvicorn exits with 3 when its port was taken in the meantime.
PORT_TAKEN = 3
POLL_SECONDS = 0.05


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _dotenv(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    pairs = (line.strip().removeprefix("export ").partition("=") for line in lines)
    return {k.strip(): v.strip().strip("'\"") for k, sep, v in pairs if sep and k.strip()}


def _prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def _active_profile() -> dict:
    """The active profile's settings, chosen as Prefect's `ProfileSettingsTomlLoader` does:
    from the user's profiles file (PREFECT_PROFILES_PATH, else $PREFECT_HOME/profiles.toml),
    the profile PREFECT_PROFILE or the file names; without that file or that profile in it,
    Prefect's packaged default profile (`ephemeral`)."""
    user_file = Path(
        os.environ.get("PREFECT_PROFILES_PATH") or _prefect_home() / "profiles.toml"
    ).expanduser()
    if user_file.is_file():
        try:
            data = tomllib.loads(user_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return {}  # Prefect warns and uses no profile
        active = os.environ.get("PREFECT_PROFILE") or data.get("active")
        profiles = data.get("profiles", {})
        if active and isinstance(profiles, dict) and isinstance(profiles.get(active), dict):
            return profiles[active]
    defaults = _toml(_prefect_dir() / "settings" / "profiles.toml")
    profile = defaults.get("profiles", {}).get(defaults.get("active", "ephemeral"), {})
    return profile if isinstance(profile, dict) else {}


def _toml_settings(cwd: Path) -> list[dict]:
    """Prefect's settings files of the working directory: `prefect.toml`, then
    `pyproject.toml`'s [tool.prefect]."""
    tool = _toml(cwd / "pyproject.toml").get("tool", {})
    prefect = tool.get("prefect", {}) if isinstance(tool, dict) else {}
    return [_toml(cwd / "prefect.toml"), prefect if isinstance(prefect, dict) else {}]


def _setting(names: tuple[str, ...], path: tuple[str, ...], cwd: Path) -> object:
    """A Prefect setting where Prefect looks for it, in its order: the environment, a `.env`
    and a `prefect.toml` or `pyproject.toml` ([tool.prefect]) of the working directory, then
    the active profile; `names` are its environment names, `path` its place in the toml."""
    dotenv = _dotenv(cwd / ".env")
    for source in (os.environ, dotenv):
        for name in names:
            if source.get(name) not in (None, ""):
                return source[name]
    for table in _toml_settings(cwd):
        value = table
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value not in (None, ""):
            return value
    profile = _active_profile()
    return next((profile[n] for n in names if profile.get(n) not in (None, "")), None)


def _true(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "t", "yes", "y", "on")


def api_url_configured(cwd: Path | None = None) -> bool:
    """Whether Prefect would find an API URL, and so use that server, not a temporary one."""
    return bool(_setting(("PREFECT_API_URL",), ("api", "url"), cwd or Path.cwd()))


def temporary_server_allowed(cwd: Path | None = None) -> bool:
    """Whether Prefect may start a temporary server when it has no API URL (Prefect's
    default profile allows it; a profile without it makes Prefect refuse, and so do we)."""
    names = ("PREFECT_SERVER_EPHEMERAL_ENABLED", "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE")
    return _true(_setting(names, ("server", "ephemeral", "enabled"), cwd or Path.cwd()))


def _database_configured(cwd: Path) -> bool:
    """Any database setting of the user's, in any place `_setting` reads settings from: a
    `PREFECT_*DATABASE*` variable (environment, `.env`, active profile) or a `database`
    table under `[server]`/`[api]` of a `prefect.toml` or `pyproject.toml` [tool.prefect]."""
    names = [*os.environ, *_dotenv(cwd / ".env"), *_active_profile()]
    if any(n.startswith("PREFECT_") and "DATABASE" in n for n in names):
        return True
    for table in _toml_settings(cwd):
        for section in ("server", "api"):
            part = table.get(section)
            if isinstance(part, dict) and part.get("database"):
                return True
    return False


def _head_revision(versions: Path) -> str | None:
    """The newest of Prefect's SQLite migrations: the revision no other one revises."""
    revisions, revised = set(), set()
    for script in versions.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        if found := re.search(r'^revision = "(\w+)"', text, re.M):
            revisions.add(found.group(1))
        if down := re.search(r"^down_revision = (.*)$", text, re.M):
            revised.update(re.findall(r'"(\w+)"', down.group(1)))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def _schema_is_current() -> bool:
    """Prefect's default SQLite database exists and is at the installed Prefect's newest
    migration, so the server's start-up `alembic upgrade head` would change nothing: it
    only costs its import and script scan, 40% of a warm start on 2 cores (bench/RESULTS.md).
    False for another database, or if anything is unsure."""
    if _database_configured(Path.cwd()):
        return False  # another database, or migrations set by the user: Prefect decides
    database = _prefect_home() / "prefect.db"
    if not database.is_file():
        return False
    head = _head_revision(_prefect_dir() / "server/database/_migrations/versions/sqlite")
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)) as db:
            found = db.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return False
    return head is not None and found == [(head,)]


PR_SET_PDEATHSIG = 1


def dies_with(parent: int) -> Any:
    """For the server's process, run before it starts: the kernel sends it SIGTERM when this
    command's thread that spawned it ends, even by kill -9 (15 of 15 killed runs left a
    server listening, 186 MB, until the machine rebooted). Linux only; elsewhere None."""
    if not sys.platform.startswith("linux"):
        return None

    def arm() -> None:
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:  # the command died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prefect_dir() -> Path:
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("Prefect is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request  # here: 0.1 s, imported while the server starts

    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _warm_routes(api_url: str, process: subprocess.Popen, done: threading.Event) -> None:
    """Ask the server, as soon as it is healthy, for a path it does not have.

    FastAPI (0.150) builds each API route's request handling on the first request that is
    matched against it, and a path nothing matches walks every route: 1.5-2 s of the server's
    CPU that the run's first API call used to wait for (bench/RESULTS.md, "A small run's
    time"). Asked from this thread, it happens while the main thread is still importing
    Prefect; the 404 is the expected answer, and no handler runs."""
    import urllib.error
    import urllib.request

    try:
        deadline = time.monotonic() + startup_timeout()
        while process.poll() is None and time.monotonic() < deadline:
            if _answers(f"{api_url}/health"):
                # 404: every route was matched against it, which was the point
                with suppress(urllib.error.HTTPError):
                    urllib.request.urlopen(f"{api_url}/jobforge-warm-up", timeout=60).close()
                return
            time.sleep(POLL_SECONDS)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        pass  # a warm-up only: the run's own requests say what is wrong
    finally:
        done.set()


@dataclass
class EmbeddedServer:
    """One temporary Prefect server process, owned by this command."""

    port: int
    process: subprocess.Popen = field(repr=False)
    warmed: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        args = (self.api_url, self.process, self.warmed)
        threading.Thread(target=_warm_routes, args=args, daemon=True).start()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @classmethod
    def spawn(cls) -> EmbeddedServer:
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(_prefect_dir().parent),
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env |= {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1"}
        env["PREFECT__SERVER_FINAL"] = "1"
        if _schema_is_current():
            env["PREFECT_API_DATABASE_MIGRATE_ON_START"] = "false"
        return cls(port, subprocess.Popen(command, env=env, preexec_fn=dies_with(os.getpid())))

    def wait_ready(self, timeout: float) -> None:
        """Until `/health` answers and the routes are warm (`_warm_routes`); a port taken
        meanwhile gets a new server on another."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == PORT_TAKEN:
                fresh = EmbeddedServer.spawn()
                self.port, self.process, self.warmed = fresh.port, fresh.process, fresh.warmed
                os.environ["PREFECT_API_URL"] = self.api_url
                os.environ[TEMPORARY_API_URL] = self.api_url
                continue
            if code is not None:
                raise RuntimeError(f"Prefect's temporary server exited with code {code}")
            if _answers(f"{self.api_url}/health"):
                self.warmed.wait(max(0.0, deadline - time.monotonic()))
                return
            time.sleep(POLL_SECONDS)
        self.stop()
        raise RuntimeError(
            f"Prefect's temporary server did not answer within {timeout:.0f} s "
            "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
        )

    def stop(self) -> None:
        """As `SubprocessASGIServer.stop`: terminate, then kill after 5 s."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# The API URL of the temporary server this command owns, for the processes it runs: a flow
# run's page on it is gone when the command ends, so nothing links to it (tasks/layers.py).
TEMPORARY_API_URL = "JOBFORGE_TEMPORARY_API_URL"


FIRST_RUN_NOTE = (
    "starting Prefect's local server: the first run on this PREFECT_HOME creates its "
    "database, about 15 s"
)


def first_run_note() -> str | None:
    """The line for a temporary server that must first create Prefect's database (a new
    PREFECT_HOME: no prefect.db yet); None when the database is there or is the user's."""
    if _database_configured(Path.cwd()) or (_prefect_home() / "prefect.db").is_file():
        return None
    return f"{FIRST_RUN_NOTE} ({_prefect_home()})"


def start_early() -> EmbeddedServer | None:
    """Start Prefect's temporary server now if Prefect would start one later, and point
    this process (and the processes it starts) at it. None when a server is configured,
    when Prefect's settings do not allow a temporary one (Prefect then says so itself), or
    when Prefect is already imported (a caller inside Python, whose settings decide)."""
    if "prefect" in sys.modules or api_url_configured() or not temporary_server_allowed():
        return None
    if os.environ.get("JOBFORGE_EARLY_SERVER", "1").lower() in ("0", "false", "no", "off"):
        return None
    first = first_run_note()
    server = EmbeddedServer.spawn()
    if first:  # said at once: the database takes a while, and silence looks like a hang
        print(first, file=sys.stderr, flush=True)
    os.environ["PREFECT_API_URL"] = server.api_url
    os.environ[TEMPORARY_API_URL] = server.api_url
    return server


def startup_timeout() -> float:
    """Prefect's own setting for its temporary server (flows/cli.py defaults it to 120 s)."""
    return float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 120)


def shutdown(server: EmbeddedServer) -> None:
    """Drain Prefect's client-side log and event queues into the server, then stop it.

    The order matters: a queue drained after the stop retries against a closed port and
    prints `Error logging to API`; `flows/recorded.py` has already waited for the server to
    record every task run, so its recorder has nothing in hand when it is stopped."""
    if "prefect" in sys.modules:
        drain_queues()
    server.stop()


def drain_queues(timeout: float = 30) -> None:
    """Send what Prefect's client still holds (logs, events) to the server now."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout)
    EventsWorker.drain_all(timeout=timeout)

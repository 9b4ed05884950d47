"""`jobforge run` starts Prefect's temporary server itself, before importing Prefect
(flows/embedded.py), only where Prefect would start one, and skips the start-up migration
only where it would change nothing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flows import embedded


@pytest.fixture
def clean_env(monkeypatch, tmp_path: Path) -> Path:
    """No Prefect setting from the environment; an empty PREFECT_HOME; cwd with no config."""
    for name in [
        "PREFECT_API_URL",
        "PREFECT_PROFILE",
        "PREFECT_PROFILES_PATH",
        "PREFECT_API_DATABASE_CONNECTION_URL",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL",
        "PREFECT_API_DATABASE_MIGRATE_ON_START",
        "PREFECT_SERVER_EPHEMERAL_ENABLED",
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE",
    ]:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PREFECT_HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


def test_a_server_configured_anywhere_prefect_looks_is_used_instead(clean_env, monkeypatch):
    work = Path.cwd()
    assert not embedded.api_url_configured()

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert embedded.api_url_configured()
    monkeypatch.delenv("PREFECT_API_URL")

    (work / ".env").write_text("OTHER=1\nexport PREFECT_API_URL=http://x/api\n")
    assert embedded.api_url_configured()
    (work / ".env").unlink()

    (work / "prefect.toml").write_text('[api]\nurl = "http://x/api"\n')
    assert embedded.api_url_configured()
    (work / "prefect.toml").write_text('[logging]\nlevel = "INFO"\n')
    assert not embedded.api_url_configured()

    (work / "pyproject.toml").write_text('[tool.prefect.api]\nurl = "http://x/api"\n')
    assert embedded.api_url_configured()
    (work / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert not embedded.api_url_configured()

    profiles = clean_env / "profiles.toml"
    profiles.write_text(
        'active = "remote"\n[profiles.remote]\nPREFECT_API_URL = "http://x/api"\n'
        "[profiles.mine]\nPREFECT_LOGGING_LEVEL = 'INFO'\n"
    )
    assert embedded.api_url_configured()
    monkeypatch.setenv("PREFECT_PROFILE", "mine")
    assert not embedded.api_url_configured()
    # A profile the file does not have: Prefect uses its packaged default (`ephemeral`), not
    # its packaged `local` one (which points at http://127.0.0.1:4200/api).
    monkeypatch.setenv("PREFECT_PROFILE", "local")
    assert not embedded.api_url_configured()
    monkeypatch.setenv("PREFECT_PROFILE", "mine")
    # A broken file is not a configured server, and not a crash.
    (work / "prefect.toml").write_text("[api\nurl=")
    assert not embedded.api_url_configured()


def test_a_temporary_server_only_where_prefect_would_start_one(clean_env, monkeypatch):
    """Prefect's packaged `ephemeral` profile allows it; a profile of the user's without
    that setting makes Prefect refuse to run without an API URL, and JobForge starts none."""
    work = Path.cwd()
    assert embedded.temporary_server_allowed()  # no profiles file: Prefect's defaults
    (clean_env / "profiles.toml").write_text(
        'active = "mine"\n[profiles.mine]\nPREFECT_LOGGING_LEVEL = "INFO"\n'
    )
    assert not embedded.temporary_server_allowed()
    monkeypatch.setenv("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    assert embedded.temporary_server_allowed()
    monkeypatch.delenv("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE")
    (work / "prefect.toml").write_text("[server.ephemeral]\nenabled = true\n")
    assert embedded.temporary_server_allowed()
    (clean_env / "profiles.toml").unlink()
    (work / "prefect.toml").write_text("[server.ephemeral]\nenabled = false\n")
    assert not embedded.temporary_server_allowed()
    (work / ".env").write_text("PREFECT_SERVER_EPHEMERAL_ENABLED='1'\n")
    assert embedded.temporary_server_allowed()  # .env comes before prefect.toml


def test_start_early_spawns_nothing_when_prefect_is_already_imported(clean_env):
    import prefect  # noqa: F401  (a caller inside Python: its own settings decide)

    assert embedded.start_early() is None


def _database(home: Path, revision: str) -> Path:
    path = home / "prefect.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    return path


def test_the_start_up_migration_is_skipped_only_on_a_database_at_the_newest_revision(
    clean_env, monkeypatch
):
    versions = embedded._prefect_dir() / "server/database/_migrations/versions/sqlite"
    head = embedded._head_revision(versions)
    # The head is the revision of the newest migration script, which no script revises.
    newest = sorted(p for p in versions.glob("*.py") if p.name[0].isdigit())[-1]
    assert head and f'revision = "{head}"' in newest.read_text()

    assert not embedded._schema_is_current()  # no database yet: Prefect creates it
    path = _database(clean_env, "0000older000")
    assert not embedded._schema_is_current()  # an older schema: Prefect migrates it
    path.unlink()
    _database(clean_env, head)
    assert embedded._schema_is_current()
    # Another database, or migrations set by the user: Prefect's own settings decide.
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://x/y")
    assert not embedded._schema_is_current()
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL")
    assert embedded._schema_is_current()
    (Path.cwd() / "prefect.toml").write_text(
        '[server.database]\nconnection_url = "postgresql+asyncpg://x/y"\n'
    )
    assert not embedded._schema_is_current()
    (Path.cwd() / "prefect.toml").unlink()
    (Path.cwd() / ".env").write_text("PREFECT_SERVER_DATABASE_MIGRATE_ON_START=true\n")
    assert not embedded._schema_is_current()
    (Path.cwd() / ".env").unlink()
    (clean_env / "profiles.toml").write_text(
        'active = "ephemeral"\n'
        '[profiles.ephemeral]\nPREFECT_API_DATABASE_MIGRATE_ON_START = "true"\n'
    )
    assert not embedded._schema_is_current()


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in API: unhealthy for its first two polls, then healthy; 404 elsewhere."""

    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).paths.append(self.path)
        polls = type(self).paths.count("/api/health")
        healthy = self.path == "/api/health" and polls > 2
        self.send_response(200 if healthy else (503 if self.path == "/api/health" else 404))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_routes_are_warmed_by_one_unknown_path_once_the_server_is_healthy():
    """FastAPI builds its routes on the first request matched against them (1.5-2 s of a
    Prefect server's CPU): `_warm_routes` sends that request as soon as /health answers,
    while the command still imports, and says when it is done; the answer is a 404."""
    _Recorder.paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        done = threading.Event()
        api_url = f"http://127.0.0.1:{server.server_address[1]}/api"
        embedded._warm_routes(api_url, alive, done)
        assert done.is_set()
        assert _Recorder.paths == ["/api/health"] * 3 + ["/api/jobforge-warm-up"]
    finally:
        alive.kill()
        alive.wait()
        server.shutdown()
    # A server process that died: nothing to warm, and the waiter is released at once.
    done = threading.Event()
    embedded._warm_routes(api_url, alive, done)
    assert done.is_set()


def test_skipping_the_final_collection_keeps_exit_handlers_output_and_exit_code():
    """`jobforge` skips the interpreter's last cycle collection at exit (flows/cli.py): the
    handlers registered after it still run, output is complete, the exit code is kept."""
    code = (
        "import atexit, sys\n"
        "from flows.cli import skip_final_collection\n"
        "skip_final_collection()\n"
        "log = open(sys.argv[1], 'w')\n"
        "atexit.register(lambda: (log.write('handler ran'), log.close()))\n"
        "print('x' * 100000)\n"
        "sys.exit(3)\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.txt"
        done = subprocess.run(
            [sys.executable, "-c", code, str(log)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 3, done.stderr
        assert done.stdout == "x" * 100000 + "\n"
        assert log.read_text() == "handler ran"


def test_sigterm_is_an_interrupt_before_the_server_is_spawned(tmp_path: Path):
    """`jobforge run` turns SIGTERM into the Ctrl-C path before it spawns Prefect's server,
    so no SIGTERM can fall between the spawn and the handler that stops the server. A spy
    on the spawn records the handler in place at that moment, then stops the command."""
    code = (
        "import signal, sys\n"
        "from flows import embedded\n"
        "seen = []\n"
        "def spawn(cls):\n"
        "    seen.append(signal.getsignal(signal.SIGTERM) is signal.default_int_handler)\n"
        "    raise RuntimeError('spawn reached')\n"
        "embedded.EmbeddedServer.spawn = classmethod(spawn)\n"
        "from flows.cli import main\n"
        "code = main()\n"
        "print('handler in place at spawn:', seen)\n"
        "sys.exit(code)\n"
    )
    source = Path(__file__).resolve().parents[1] / "data" / "source"
    args = ["run", "--data-root", str(tmp_path / "data"), "--source-dir", str(source)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert "spawn reached" in done.stderr, done.stderr
    assert "handler in place at spawn: [True]" in done.stdout, done.stdout + done.stderr


_PREFECTS_OWN = (
    "from prefect.settings import get_current_settings as s; c = s(); "
    "print(bool(c.api.url), bool(c.server.ephemeral.enabled))"
)

# Each place Prefect reads a setting from, with an API URL and with the temporary server
# switched either way; the early server must decide as Prefect itself does.
_CONFIGURATIONS = {
    "nothing": {},
    "environment": {"env": {"PREFECT_API_URL": "http://127.0.0.1:9/api"}},
    ".env": {"files": {".env": "export PREFECT_API_URL=http://127.0.0.1:9/api\n"}},
    "prefect.toml": {"files": {"prefect.toml": '[api]\nurl = "http://127.0.0.1:9/api"\n'}},
    "pyproject.toml": {
        "files": {"pyproject.toml": '[tool.prefect.api]\nurl = "http://127.0.0.1:9/api"\n'}
    },
    "profile": {
        "home": 'active = "remote"\n[profiles.remote]\nPREFECT_API_URL = "http://x:9/api"\n'
    },
    "profile without ephemeral": {
        "home": 'active = "mine"\n[profiles.mine]\nPREFECT_LOGGING_LEVEL = "INFO"\n'
    },
    "unknown profile": {"env": {"PREFECT_PROFILE": "local"}},
    "ephemeral off in prefect.toml": {
        "files": {"prefect.toml": "[server.ephemeral]\nenabled = false\n"}
    },
    ".env before prefect.toml": {
        "files": {
            "prefect.toml": "[server.ephemeral]\nenabled = false\n",
            ".env": "PREFECT_SERVER_EPHEMERAL_ENABLED='1'\n",
        }
    },
    "allow ephemeral, old name": {
        "home": 'active = "mine"\n[profiles.mine]\nPREFECT_LOGGING_LEVEL = "INFO"\n',
        "env": {"PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true"},
    },
}


@pytest.mark.parametrize("name", sorted(_CONFIGURATIONS))
def test_the_early_server_decides_as_prefects_own_settings_do(clean_env, tmp_path, name):
    """Issue 24: flows/embedded.py reads Prefect's settings without importing Prefect. This
    compares its answer with Prefect's own resolution, in a fresh interpreter, for each place
    a setting can come from: a Prefect release that changes the order or a source fails here."""
    case = _CONFIGURATIONS[name]
    work = Path.cwd()
    for file, text in case.get("files", {}).items():
        (work / file).write_text(text)
    if "home" in case:
        (clean_env / "profiles.toml").write_text(case["home"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(clean_env), **case.get("env", {})}
    prefect = subprocess.run(
        [sys.executable, "-c", _PREFECTS_OWN],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert prefect.returncode == 0, prefect.stderr
    with pytest.MonkeyPatch.context() as mp:
        for k, v in case.get("env", {}).items():
            mp.setenv(k, v)
        ours = f"{embedded.api_url_configured(work)} {embedded.temporary_server_allowed(work)}"
    assert ours == prefect.stdout.strip()

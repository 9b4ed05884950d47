"""Send each transition's OpenLineage events; never let lineage fail a run.

Where events go (docs/openlineage.md):

- `OPENLINEAGE_DISABLED=true`: nowhere, and nothing is built;
- a transport configured the client's way (`OPENLINEAGE_URL`, `OPENLINEAGE__TRANSPORT__*`,
  `openlineage.yml`): through `openlineage-python`'s client;
- nothing configured: appended to `<data root>/openlineage/events.jsonl`, one event a line.

An event the transport cannot deliver (endpoint down, an HTTP error) is a warning in the log
and is appended to the same JSON lines file, so nothing is lost. After a connection failure
the transport is not tried again by this process (one warning, not one per event and not the
client's retry back-off on every event); the events go to the file, ready for `jobforge
openlineage export`. Any error while building an event is a warning too: the run goes on.

The client is imported on the first event, never at import time of this module.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobforge_core.common.config import PipelineConfig
from jobforge_core.common.logs import get_logger
from jobforge_core.common.models import LayerTransitionLog
from jobforge_core.common.settings import OpenLineageSettings, load_openlineage_settings
from jobforge_core.sources.spec import SourceSpec

if TYPE_CHECKING:
    from jobforge_core.openlineage.events import EventContext

EVENTS_DIR = "openlineage"
EVENTS_FILE = "events.jsonl"
# After any failure, events go straight to the file for this long before the transport is
# tried again (a long-lived worker recovers when the server is back): a circuit breaker. An
# endpoint answering 500 cost each of 1,329 events the client's retries with back-off (a run
# 10x slower); one that accepted and never answered, its timeout and retries per event.
RETRY_TRANSPORT_AFTER_S = 300.0
# The longest a transition waits for one event's delivery, the client's retries included;
# an event still on its way then is kept in the file (it may arrive twice: events are
# idempotent by run id and event type).
DELIVERY_BUDGET_S = 3.0


def events_file(cfg: PipelineConfig) -> Path:
    return cfg.data_root / EVENTS_DIR / EVENTS_FILE


class LineageEmitter:
    """One per data root and configuration in a process (see `emitter_for`)."""

    def __init__(self, cfg: PipelineConfig, settings: OpenLineageSettings) -> None:
        self.cfg = cfg
        self.settings = settings
        self._client: Any = None
        self._client_failed = False
        self._down_until = 0.0  # time.monotonic() before which the transport is not tried
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    # --- what the pipeline calls ---------------------------------------------------------------

    def started(
        self, log: LayerTransitionLog, spec: SourceSpec | None, source_sha256: str | None = None
    ) -> None:
        self._emit_safely("start", log, spec, source_sha256)

    def finished(
        self, log: LayerTransitionLog, spec: SourceSpec | None, source_sha256: str | None = None
    ) -> None:
        self._emit_safely("end", log, spec, source_sha256)

    # --- delivery --------------------------------------------------------------------------------

    def context(self, spec: SourceSpec | None, source_sha256: str | None) -> EventContext:
        from jobforge_core.openlineage.events import EventContext

        return EventContext(self.cfg, self.settings.namespace, spec, source_sha256)

    def _emit_safely(
        self, which: str, log: LayerTransitionLog, spec: SourceSpec | None, sha: str | None
    ) -> None:
        try:
            from jobforge_core.openlineage.events import end_event, start_event

            build = start_event if which == "start" else end_event
            self.deliver(build(log, self.context(spec, sha)))
        except Exception as exc:  # lineage never fails a run
            self._warn(
                "openlineage_event_failed",
                f"{type(exc).__name__}: {exc}",
                transition_id=log.transition_id,
                run_event=which,
            )

    def deliver(self, event: Any) -> bool:
        """Send one event; on any failure keep it in the JSON lines file. True if sent."""
        from jobforge_core.openlineage.events import to_json

        client = self._transport()
        if client is not None:
            try:
                _emit_within(client, event, DELIVERY_BUDGET_S)
                self._warned.clear()  # delivering again: a new outage is worth a new warning
                return True
            except Exception as exc:
                self._down_until = time.monotonic() + RETRY_TRANSPORT_AFTER_S
                self._warn(
                    "openlineage_not_delivered",
                    f"{type(exc).__name__}: {exc}",
                    kept_in=str(events_file(self.cfg)),
                )
        self.keep(to_json(event))
        return False

    def keep(self, line: str) -> None:
        """Append one event line; a lock makes concurrent writers (threads, processes) safe."""
        path = events_file(self.cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = (line.rstrip("\n") + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, data)
            finally:
                os.close(fd)

    def _transport(self) -> Any:
        """The client when a transport is configured and still reachable, else None."""
        if not self.settings.transport_configured or time.monotonic() < self._down_until:
            return None
        if self._client is None and not self._client_failed:
            try:
                self._client = new_client()
            except Exception as exc:  # a broken openlineage.yml: warn, keep events locally
                self._client_failed = True
                self._warn("openlineage_config_invalid", f"{type(exc).__name__}: {exc}")
        return self._client

    def _warn(self, event: str, error: str, **fields: Any) -> None:
        """A warning per kind of problem (not per event): the log says it once, clearly."""
        if event in self._warned:
            return
        self._warned.add(event)
        get_logger().warning(
            event,
            error=error,
            hint=f"events are kept in {events_file(self.cfg)}; "
            "`jobforge openlineage export` sends them again",
            **fields,
        )

    def close(self) -> None:
        if self._client is not None:
            with suppress(Exception):  # closing is best effort
                self._client.close(timeout=5)


class NoTransport(Exception):
    """The client found no transport where JobForge expected one (an `openlineage.yml` with
    no `transport`, say): the events are kept as JSON lines, not printed to the console."""


def new_client() -> Any:
    """`OpenLineageClient()` configured the client's own way, without its side effects.

    The client copies `OPENLINEAGE_URL` into `OPENLINEAGE__TRANSPORT__TRANSPORTS__...`
    variables of the process while it reads its configuration; left there, they would make
    every later configuration look different (and name a transport without a type). They are
    removed once the client has read them (it keeps its configuration). A client that fell
    back to printing events on the console raises NoTransport.
    """
    from openlineage.client import OpenLineageClient

    before = set(os.environ)
    try:
        client = OpenLineageClient()
        transport = client.transport
        declared = (client.config.transport or {}).get("type") or os.environ.get("OPENLINEAGE_URL")
    finally:
        for added in set(os.environ) - before:
            if added.startswith("OPENLINEAGE"):
                del os.environ[added]
    if transport.kind == "console" and not declared:
        raise NoTransport("no OpenLineage transport found in the configuration")
    return client


def _emit_within(client: Any, event: Any, budget: float) -> None:
    """`client.emit(event)`, waiting at most `budget` seconds (its own retries included)."""
    failure: list[BaseException] = []

    def send() -> None:
        try:
            client.emit(event)
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    sender = threading.Thread(target=send, name="openlineage-emit", daemon=True)
    sender.start()
    sender.join(budget)
    if sender.is_alive():
        raise TimeoutError(f"no answer within {budget:.0f} s")
    if failure:
        raise failure[0]


_emitters: dict[tuple[Path, OpenLineageSettings], LineageEmitter] = {}
_emitters_lock = threading.Lock()


def emitter_for(cfg: PipelineConfig) -> LineageEmitter | None:
    """The process's emitter for this data root, or None when OpenLineage is disabled.

    Settings are read from the environment on each call (cheap), so a changed configuration
    gets a new emitter; the same one is reused across the transitions of a run.
    """
    settings = load_openlineage_settings()
    if settings.disabled:
        return None
    key = (cfg.data_root, settings)
    with _emitters_lock:
        emitter = _emitters.get(key)
        if emitter is None:
            emitter = _emitters[key] = LineageEmitter(cfg, settings)
        return emitter

"""A real headless Chromium, driven over the Chrome DevTools Protocol (CDP), for site tests.

Only what the tests need: open a page and wait for its load event, run JavaScript, type into
a field as a user would (`Input.insertText` fires the page's `input` handlers), take a
screenshot, and collect the page's uncaught script errors. The websocket client is the
`websockets` package Prefect already depends on; Chromium is Debian's `chromium`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 30.0


def find_chromium() -> str | None:
    explicit = os.environ.get("JOBFORGE_CHROMIUM")
    if explicit:
        return explicit
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


class CDPError(RuntimeError):
    pass


class Browser:
    """One Chromium process with one tab; use as a context manager."""

    def __init__(self, executable: str, width: int = 1400, height: int = 900) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="jobforge-chromium-"))
        args = [
            executable,
            "--headless=new",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            f"--user-data-dir={self.profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run its sandbox as root
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        try:
            port = self._port()
            self._browser_ws = connect(f"ws://127.0.0.1:{port}{self._browser_path}", max_size=None)
            target = self._call(self._browser_ws, "Target.createTarget", url="about:blank")
            self.ws = connect(
                f"ws://127.0.0.1:{port}/devtools/page/{target['targetId']}",
                max_size=None,
                open_timeout=TIMEOUT,
            )
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.resize(width, height)
        except BaseException:
            self.close()
            raise

    def _port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CDPError(f"chromium exited with code {self.process.returncode}")
            if marker.is_file():
                lines = marker.read_text().splitlines()
                if len(lines) >= 2:
                    self._browser_path = lines[1]
                    return int(lines[0])
            time.sleep(0.05)
        raise CDPError("chromium did not open its DevTools port")

    def _call(self, ws: Any, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CDPError(f"no answer to {method}")
            message = json.loads(ws.recv(timeout=remaining))
            if message.get("id") == ident:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self._call(self.ws, method, **params)

    def wait_event(self, method: str, since: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            for event in self.events[since:]:
                if event["method"] == method:
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CDPError(f"timed out waiting for {method}")
            message = json.loads(self.ws.recv(timeout=remaining))
            if "method" in message:
                self.events.append(message)

    def resize(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def open(self, url: str) -> None:
        """Navigate and wait for the load event (scripts have run, images and SVG drawn)."""
        since = len(self.events)
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise CDPError(f"cannot open {url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired", since)

    def js(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise CDPError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def type_into(self, selector: str, text: str) -> None:
        """Focus the field and type, as a user would (fires the page's input handlers)."""
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", text=text)

    def click(self, x: float, y: float) -> None:
        """A real left click at viewport coordinates (pointer and mouse events, as a user's)."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=x,
                y=y,
                button="left" if kind != "mouseMoved" else "none",
                buttons=1 if kind == "mousePressed" else 0,
                clickCount=1 if kind != "mouseMoved" else 0,
            )

    def click_element(self, selector: str) -> None:
        """Scroll the element into view and click its middle."""
        box = self.js(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            "el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
            "return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        self.click(*box)

    def script_errors(self, since: int = 0) -> list[str]:
        return [
            json.dumps(e["params"]["exceptionDetails"])[:500]
            for e in self.events[since:]
            if e["method"] == "Runtime.exceptionThrown"
        ]

    def screenshot(self, path: Path, full_page: bool = True, max_height: int = 4000) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.js(
                "[Math.max(document.documentElement.scrollWidth, innerWidth),"
                " Math.max(document.documentElement.scrollHeight, innerHeight)]"
            )
            params["captureBeyondViewport"] = True
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size[0],
                "height": min(size[1], max_height),
                "scale": 1,
            }
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        for ws in (getattr(self, "ws", None), getattr(self, "_browser_ws", None)):
            if ws is not None:
                with contextlib.suppress(Exception):
                    ws.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

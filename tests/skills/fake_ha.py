"""A fake Home Assistant: a real HTTP server on 127.0.0.1 (stdlib ``http.server`` in a thread,
ephemeral port) serving the REST endpoints the client uses.

* ``GET /api/states``, ``GET /api/services``, ``POST /api/services/<domain>/<service>``,
  ``POST /api/template`` (only the areas template: answers the demo home's areas as text);
* checks ``Authorization: Bearer <token>`` (401 otherwise, like Home Assistant);
* applies service calls to its states (on/off, open/closed, locked/unlocked, brightness,
  position, target temperature, fan percentage, media play/pause, volume level and mute) and
  answers with the changed states (next/previous track change nothing here);
* records every request (``requests``) and every executed service call (``calls``);
* switches to simulate failures: :meth:`fail_next` (HTTP errors for the next n requests),
  ``malformed`` (``"not-json"`` or ``"wrong-shape"`` bodies), ``delay_s`` (a slow server);
  :func:`closed_port_url` gives an address where nothing listens.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from roomvoice.skills.homeassistant.demo_home import DEMO_AREAS, DEMO_SERVICES, DEMO_STATES

TOKEN = "test-token"

_ON = {"turn_on": "on", "turn_off": "off", "open_cover": "open", "close_cover": "closed", "lock": "locked",
       "unlock": "unlocked", "media_play": "playing", "media_pause": "paused"}


@dataclass
class RecordedCall:
    """A service call the fake executed: domain, service and the JSON body."""

    domain: str
    service: str
    body: dict[str, Any]


@dataclass
class _Failure:
    remaining: int
    status: int
    method: str | None


@dataclass
class FakeHomeAssistant:
    """The fake server. Use as a context manager, or call :meth:`start` / :meth:`stop`."""

    token: str = TOKEN
    states: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        s.entity_id: {"entity_id": s.entity_id, "state": s.state, "attributes": copy.deepcopy(dict(s.attributes)),
                      "last_changed": "2026-11-21T12:00:00+00:00"} for s in DEMO_STATES})
    services: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEMO_SERVICES))
    areas: dict[str, str] | None = field(default_factory=lambda: dict(DEMO_AREAS))
    malformed: str | None = None
    delay_s: float = 0.0
    requests: list[tuple[str, str]] = field(default_factory=list)
    calls: list[RecordedCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- control -------------------------------------------------------------------------
    def start(self) -> FakeHomeAssistant:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                fake._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self, "POST")

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True,
                         name="fake-ha").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHomeAssistant:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, count: int, status: int = 500, method: str | None = None) -> None:
        """Answer the next ``count`` requests (of ``method``, or any) with HTTP ``status``."""
        with self._lock:
            self._failures.append(_Failure(count, status, method))

    def count(self, method: str, path_prefix: str = "/api/") -> int:
        """How many ``method`` requests to paths starting with ``path_prefix`` arrived."""
        return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    # --- serving -------------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((method, req.path))
        if self.delay_s:
            time.sleep(self.delay_s)
        if req.headers.get("Authorization") != f"Bearer {self.token}":
            return _send(req, 401, "401: Unauthorized", "text/plain")
        with self._lock:
            failure = next((f for f in self._failures if f.remaining > 0 and f.method in (None, method)), None)
            if failure is not None:
                failure.remaining -= 1
        if failure is not None:
            return _send(req, failure.status, f"{failure.status}: Simulated failure", "text/plain")
        if method == "GET" and req.path == "/api/states":
            return self._json(req, list(self.states.values()))
        if method == "GET" and req.path == "/api/services":
            return self._json(req, [{"domain": d, "services": {s: {} for s in ss}} for d, ss in self.services.items()])
        if method == "POST" and req.path == "/api/template":
            return self._template(req, raw)
        if method == "POST" and req.path.startswith("/api/services/"):
            return self._service(req, req.path.split("/")[3:], raw)
        return _send(req, 404, "404: Not Found", "text/plain")

    def _service(self, req: BaseHTTPRequestHandler, parts: list[str], raw: bytes) -> None:
        if len(parts) != 2 or parts[1] not in self.services.get(parts[0], ()):
            return _send(req, 400, "400: Bad Request", "text/plain")
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return _send(req, 400, "400: Bad Request", "text/plain")
        domain, service = parts
        with self._lock:
            self.calls.append(RecordedCall(domain, service, body))
            changed = [self._apply(eid, service, body) for eid in body.get("entity_id", [])
                       if eid in self.states and eid.split(".")[0] == domain]
        return self._json(req, changed)

    def _template(self, req: BaseHTTPRequestHandler, raw: bytes) -> None:
        template = json.loads(raw or b"{}").get("template", "")
        if self.areas is None or "area_entities" not in template:
            return _send(req, 400, "Error rendering template", "text/plain")
        by_area: dict[str, list[str]] = {}
        for entity_id, area in self.areas.items():
            by_area.setdefault(area, []).append(entity_id)
        return _send(req, 200, json.dumps([[a, ids] for a, ids in by_area.items()]), "text/plain")

    def _apply(self, entity_id: str, service: str, body: dict[str, Any]) -> dict[str, Any]:
        state = self.states[entity_id]
        attributes = state["attributes"]
        if entity_id.startswith("climate.") and service == "set_temperature":
            attributes["temperature"] = body["temperature"]
        elif service == "set_cover_position":
            attributes["current_position"] = body["position"]
            state["state"] = "open" if body["position"] > 0 else "closed"
        elif service == "set_percentage":
            attributes["percentage"] = body["percentage"]
            state["state"] = "on" if body["percentage"] > 0 else "off"
        elif service == "volume_set":
            attributes["volume_level"] = body["volume_level"]
        elif service in ("volume_up", "volume_down"):
            level = float(attributes.get("volume_level") or 0.0) + (0.1 if service == "volume_up" else -0.1)
            attributes["volume_level"] = round(min(1.0, max(0.0, level)), 2)
        elif service == "volume_mute":
            attributes["is_volume_muted"] = bool(body["is_volume_muted"])
        elif entity_id.startswith(("scene.", "script.")):
            state["state"] = "2026-11-21T12:00:00+00:00" if entity_id.startswith("scene.") else "off"
        elif service in _ON:
            state["state"] = _ON[service]
            if "brightness_pct" in body:
                attributes["brightness"] = round(255 * body["brightness_pct"] / 100)
        return copy.deepcopy(state)

    def _json(self, req: BaseHTTPRequestHandler, payload: Any) -> None:
        if self.malformed == "not-json":
            return _send(req, 200, '{"entity_id": "light.kitchen_lights", "state": ', "application/json")
        if self.malformed == "wrong-shape":
            return _send(req, 200, json.dumps({"message": "surprise"}), "application/json")
        return _send(req, 200, json.dumps(payload), "application/json")


def _send(req: BaseHTTPRequestHandler, status: int, body: str, content_type: str) -> None:
    data = body.encode()
    req.send_response(status)
    req.send_header("Content-Type", content_type)
    req.send_header("Content-Length", str(len(data)))
    req.end_headers()
    req.wfile.write(data)


def closed_port_url() -> str:
    """``http://127.0.0.1:<port>`` where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"

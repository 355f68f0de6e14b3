"""A small synchronous client for Home Assistant's REST API, on ``httpx``.

Endpoints (https://developers.home-assistant.io/docs/api/rest/):

* ``GET /api/states`` — every entity's state and attributes;
* ``GET /api/services`` — the services each domain offers;
* ``POST /api/services/<domain>/<service>`` — call a service; the answer lists changed states;
* ``POST /api/template`` — render a template; :meth:`HomeAssistantClient.get_areas` uses it to
  read areas (``areas()``, ``area_entities()``), which the REST API has no endpoint for.

Every request carries ``Authorization: Bearer <token>`` (a long-lived access token, from the
argument or the ``HA_TOKEN`` / ``HOME_ASSISTANT_TOKEN`` environment variables). Reads are retried with exponential
backoff on connection errors, timeouts and 5xx answers; a service call changes the house and
is **never** retried: it is sent once, and its failure reported.

Errors (:class:`~roomvoice.skills.errors.HomeAssistantError`): ``ha-no-token``,
``ha-unreachable`` (no answer), ``ha-error`` (HTTP error; ``status`` holds the code),
``ha-bad-response`` (not JSON, or not the expected shape).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from roomvoice.skills.errors import HomeAssistantError
from roomvoice.skills.homeassistant.entities import EntityState
from roomvoice.skills.types import ServiceCall

_LOGGER = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({500, 502, 503, 504})
"""HTTP statuses after which a read is retried."""
TOKEN_ENV_VARS = ("HA_TOKEN", "HOME_ASSISTANT_TOKEN")
"""Environment variables read for the token, first set wins."""
AREAS_TEMPLATE = (
    "{% set ns = namespace(out=[]) %}{% for a in areas() %}"
    "{% set ns.out = ns.out + [[area_name(a), area_entities(a)]] %}{% endfor %}{{ ns.out | tojson }}"
)
"""Template rendering ``[[area name, [entity ids]], ...]`` (HA 2022.x and later)."""


def env_token() -> str:
    """The token from the first of :data:`TOKEN_ENV_VARS` that is set, or ""."""
    return next((os.environ[v] for v in TOKEN_ENV_VARS if os.environ.get(v)), "")


class HomeAssistantClient:
    """Home Assistant REST client.

    Args:
        base_url: e.g. ``"http://homeassistant.local:8123"`` (no trailing ``/api``).
        token: long-lived access token; None reads :data:`TOKEN_ENV_VARS` from the environment.
        timeout_s: per-request timeout in seconds (connect, read, write and pool).
        read_attempts: tries for a read (1 = no retry).
        backoff_s: wait before the first retry, in seconds; doubled per retry.
        max_backoff_s: longest wait between retries, in seconds.
        sleep: how to wait (tests pass a recorder).
        transport: an ``httpx`` transport to use instead of the network (tests).

    Raises:
        HomeAssistantError: ``ha-no-token`` if there is no token.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8123",
        token: str | None = None,
        timeout_s: float = 5.0,
        *,
        read_attempts: int = 3,
        backoff_s: float = 0.25,
        max_backoff_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        token = token or env_token()
        if not token:
            raise HomeAssistantError("ha-no-token", "no Home Assistant token: pass token= or set "
                                     + " or ".join(TOKEN_ENV_VARS))
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.read_attempts = max(1, int(read_attempts))
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, timeout=self.timeout_s, transport=transport,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> HomeAssistantClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public API ----------------------------------------------------------------------
    def get_states(self) -> tuple[EntityState, ...]:
        """``GET /api/states``: every entity's state (retried).

        Raises:
            HomeAssistantError: ``ha-unreachable``, ``ha-error``, ``ha-bad-response``.
        """
        payload = self._read("/api/states")
        if not isinstance(payload, list):
            raise HomeAssistantError("ha-bad-response", f"/api/states: expected a list, got {type(payload).__name__}")
        return tuple(_state(item, "/api/states") for item in payload)

    def get_services(self) -> Mapping[str, tuple[str, ...]]:
        """``GET /api/services``: domain → sorted service names (retried).

        Raises:
            HomeAssistantError: ``ha-unreachable``, ``ha-error``, ``ha-bad-response``.
        """
        payload = self._read("/api/services")
        try:
            return {str(d["domain"]): tuple(sorted(d["services"])) for d in payload}
        except (TypeError, KeyError) as exc:
            raise HomeAssistantError("ha-bad-response",
                                     f"/api/services: unexpected shape ({type(exc).__name__}: {exc})") from exc

    def get_areas(self) -> dict[str, str]:
        """Entity id → area name, rendered by ``POST /api/template`` with :data:`AREAS_TEMPLATE`
        (a read: retried). Entities in no area are left out.

        Raises:
            HomeAssistantError: ``ha-unreachable``, ``ha-error`` (e.g. 400 from a Home Assistant
                without these template functions), ``ha-bad-response``.
        """
        payload = self._read("/api/template", json_body={"template": AREAS_TEMPLATE})
        if isinstance(payload, str):  # HA answers text/plain; httpx .json() already parsed it if it could
            try:
                payload = json.loads(payload)
            except json.JSONDecodeError as exc:
                raise HomeAssistantError("ha-bad-response", f"/api/template: not JSON ({exc})") from exc
        try:
            return {str(eid): str(area) for area, ids in payload for eid in ids}
        except (TypeError, ValueError) as exc:
            raise HomeAssistantError("ha-bad-response",
                                     f"/api/template: unexpected shape ({type(exc).__name__}: {exc})") from exc

    def call_service(self, call: ServiceCall) -> tuple[EntityState, ...]:
        """``POST /api/services/<domain>/<service>`` with ``call.body()``, sent exactly once.

        Returns:
            The states Home Assistant reports as changed by the call.

        Raises:
            HomeAssistantError: ``ha-unreachable`` (no answer: for a timeout after sending,
                the call may or may not have run), ``ha-error`` (HTTP error, e.g. 400 for bad
                service data, 401 for a rejected token), ``ha-bad-response``.
        """
        _LOGGER.info("calling %s.%s on %s %s", call.domain, call.service, ",".join(call.entity_ids), call.data)
        try:
            response = self._http.post(call.path, json=call.body())
        except httpx.ConnectError as exc:
            raise HomeAssistantError("ha-unreachable",
                                     f"cannot connect to Home Assistant at {self.base_url}: {exc}") from exc
        except httpx.TransportError as exc:
            raise HomeAssistantError(
                "ha-unreachable",
                f"no answer from Home Assistant for {call.domain}.{call.service} "
                f"({type(exc).__name__}); it may or may not have run, and was not retried") from exc
        payload = self._payload(response, call.path)
        if not isinstance(payload, list):
            raise HomeAssistantError("ha-bad-response", f"{call.path}: expected a list, got {type(payload).__name__}")
        return tuple(_state(item, call.path) for item in payload)

    # --- internals -----------------------------------------------------------------------
    def _read(self, path: str, json_body: Any = None) -> Any:
        """GET (or, with ``json_body``, a side-effect-free POST such as a template render) with
        retries on transport errors and :data:`RETRY_STATUSES`."""
        delay = self.backoff_s
        for attempt in range(1, self.read_attempts + 1):
            last = attempt == self.read_attempts
            try:
                response = (self._http.get(path) if json_body is None
                            else self._http.post(path, json=json_body))
            except httpx.TransportError as exc:
                if last:
                    raise HomeAssistantError(
                        "ha-unreachable",
                        f"no answer from Home Assistant at {self.base_url}{path} after {attempt} "
                        f"attempt(s): {type(exc).__name__}: {exc}") from exc
                _LOGGER.warning("GET %s failed (%s), retry %d in %.2f s", path, type(exc).__name__, attempt, delay)
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return self._payload(response, path)
                _LOGGER.warning("GET %s answered %d, retry %d in %.2f s", path, response.status_code, attempt, delay)
            self._sleep(delay)
            delay = min(delay * 2, self.max_backoff_s)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _payload(response: httpx.Response, path: str) -> Any:
        if response.status_code >= 400:
            hint = " (token rejected)" if response.status_code in (401, 403) else ""
            raise HomeAssistantError(
                "ha-error", f"Home Assistant answered {response.status_code}{hint} for {path}: "
                f"{response.text[:200].strip()}", status=response.status_code)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HomeAssistantError("ha-bad-response", f"{path}: the answer is not JSON ({exc})") from exc


def _state(item: Any, path: str) -> EntityState:
    if not (isinstance(item, dict) and isinstance(item.get("entity_id"), str)
            and "." in item["entity_id"] and isinstance(item.get("state"), str)
            and isinstance(item.get("attributes", {}), dict)):
        raise HomeAssistantError("ha-bad-response", f"{path}: not a state object: {str(item)[:120]}")
    return EntityState(item["entity_id"], item["state"], dict(item.get("attributes", {})))

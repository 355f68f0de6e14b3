"""Typed values that cross the skills' module boundaries.

* :class:`ServiceCall` — one Home Assistant service call (``light.turn_on`` on some entities).
* :class:`ToolCall` / :class:`ToolResult` — an LLM tool call after validation, and what it did.
* :class:`TimerIntent` — a timer request recognised by the fast path (not executed here).
* :class:`IntentMatch` — what the intent fast path made of a transcript.

All are frozen dataclasses; ``to_json()`` gives their JSON-safe form for logs and run files.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roomvoice.events import Jsonable as _Jsonable
from roomvoice.events import to_jsonable as _jsonable

if TYPE_CHECKING:  # Entity lives with the entity index; only a type here
    from roomvoice.skills.homeassistant.entities import Entity


@dataclass(frozen=True)
class ServiceCall(_Jsonable):
    """One Home Assistant service call, ``POST /api/services/<domain>/<service>``.

    Attributes:
        domain: service domain, e.g. ``"light"`` (also the domain of every target entity).
        service: service name, e.g. ``"turn_on"``, ``"set_temperature"``.
        entity_ids: target entity ids, sorted, e.g. ``("light.kitchen_lights",)``.
        data: extra service data in Home Assistant's units: ``brightness_pct`` (0–100 %),
            ``temperature`` (the thermostat's unit, °C here), ``position`` (0–100 % open).
    """

    domain: str
    service: str
    entity_ids: tuple[str, ...]
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entity_ids", tuple(self.entity_ids))
        object.__setattr__(self, "data", dict(self.data))

    @property
    def path(self) -> str:
        """The REST path, ``/api/services/<domain>/<service>``."""
        return f"/api/services/{self.domain}/{self.service}"

    def body(self) -> dict[str, Any]:
        """The JSON body Home Assistant expects: ``{"entity_id": [...], **data}``."""
        return {"entity_id": list(self.entity_ids), **self.data}


@dataclass(frozen=True)
class ToolCall(_Jsonable):
    """A tool call whose arguments passed JSON parsing, the schema and the live-data check.

    Attributes:
        name: the tool's name.
        arguments: the validated arguments (JSON values; a name may have been resolved to an
            ``entity_id`` by the tool's validator).
        call_id: the LLM's id for the call (OpenAI ``tool_call_id``), "" if none.
    """

    name: str
    arguments: Mapping[str, Any]
    call_id: str = ""


@dataclass(frozen=True)
class ToolResult(_Jsonable):
    """What a tool call did, in words the assistant can speak.

    Attributes:
        tool: the tool's name (as asked for, even when unknown).
        ok: True if the tool ran and succeeded.
        message: one or two sentences for the user ("Turned on the kitchen lights.") or, when
            ``ok`` is False, why nothing was done.
        code: the :class:`~roomvoice.skills.errors.SkillError` code when ``ok`` is False.
        service_call: the Home Assistant call made, if any.
        data: extra JSON-safe facts for the LLM (e.g. an entity's state and attributes).
        call_id: the LLM's id for the call, echoed back.
    """

    tool: str
    ok: bool
    message: str
    code: str | None = None
    service_call: ServiceCall | None = None
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)
    call_id: str = ""

    def as_openai(self) -> dict[str, str]:
        """The OpenAI ``tool`` message: ``{"role": "tool", "tool_call_id", "content"}``."""
        content = {"ok": self.ok, "message": self.message}
        if self.code:
            content["code"] = self.code
        if self.data:
            content["data"] = _jsonable(self.data)
        return {"role": "tool", "tool_call_id": self.call_id, "content": json.dumps(content)}


class IntentKind(str, enum.Enum):
    """What kind of reply an :class:`IntentMatch` carries."""

    ACTION = "action"
    """A service call to make; ``speech`` is said once it succeeded."""
    ANSWER = "answer"
    """An answer from state or the clock; nothing to execute."""
    TIMER = "timer"
    """A timer request (``timer``) for the timer skill; not executed here."""
    CLARIFY = "clarify"
    """Several entities fit; ``speech`` asks which one (``candidates``). Nothing executed."""
    REFUSAL = "refusal"
    """The command names an unknown entity or one of the wrong domain. Nothing executed."""


@dataclass(frozen=True)
class TimerIntent(_Jsonable):
    """A recognised timer request.

    Attributes:
        action: ``"start"`` or ``"cancel"``.
        duration_s: the timer's length in seconds (start) or the length that identifies the
            timer to cancel; ``None`` if not said.
        name: the timer's name ("pizza"), if said.
        command: for "turn off the lights in 5 minutes", the command to run when it ends.
        room: the room it was asked in ("" if unknown).
    """

    action: str
    duration_s: float | None = None
    name: str | None = None
    command: str | None = None
    room: str = ""


@dataclass(frozen=True)
class IntentMatch(_Jsonable):
    """What the intent fast path made of a transcript.

    Attributes:
        intent: the Home Assistant intent name, e.g. ``"HassTurnOn"``.
        kind: action, answer, timer, clarify or refusal.
        speech: the reply text ("Turned on the kitchen lights.", "It's 3:07 PM.",
            "Which one did you mean: Kitchen Lights or Coffee Maker?").
        service_call: for ``ACTION``, the call to make; ``None`` otherwise.
        entities: the entities acted on or asked about (the candidates for ``CLARIFY``).
        timer: for ``TIMER``, the request.
        error_code: for ``CLARIFY`` / ``REFUSAL``, ``entity-ambiguous``, ``entity-unknown`` or
            ``entity-wrong-domain``.
        area: the area the command applied to ("Kitchen"), if any.
        elapsed_s: wall seconds spent recognising (transcript to reply text).
    """

    intent: str
    kind: IntentKind
    speech: str
    service_call: ServiceCall | None = None
    entities: tuple[Entity, ...] = ()
    timer: TimerIntent | None = None
    error_code: str | None = None
    area: str | None = None
    elapsed_s: float = 0.0

    @property
    def entity(self) -> Entity | None:
        """The first matched entity, or None."""
        return self.entities[0] if self.entities else None

    @property
    def candidates(self) -> tuple[str, ...]:
        """Entity ids of ``entities`` (for ``CLARIFY``: the choices offered)."""
        return tuple(e.entity_id for e in self.entities)

"""LLM tools that control Home Assistant, and execution of fast-path service calls.

:class:`HomeAssistantTools` builds the :class:`~roomvoice.skills.registry.Tool` set
(``turn_on``, ``turn_off``, ``open_cover``, ``close_cover``, ``set_cover_position``, ``lock``,
``unlock``, ``set_light_brightness``, ``set_temperature``, ``set_fan_speed``, ``media_pause``,
``media_resume``, ``media_next``, ``media_previous``, ``set_volume``, ``mute``, ``unmute``,
``get_state``: the fast path's intents, so the LLM can do what the rules do). Each takes either an
``entity_id`` — listed in an ``enum`` of the ids of the tool's domains when ``enum_entity_ids``
is on, so a constrained decoder can only produce valid ones — or a spoken ``name``, resolved
with :meth:`EntityIndex.resolve` in the tool's domains. The live-data validator refuses ids
that do not exist or are of another domain, and names that match nothing or several things;
the service and the spoken reply come from the same code as the intent fast path
(:class:`~roomvoice.skills.intent_handlers.IntentHandlers`).

Every service call goes through :meth:`HomeAssistantTools.execute`, which checks the targets
against the index once more and sends the call once (never retried).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from roomvoice.skills.clock import local_now
from roomvoice.skills.errors import EntityError, SkillError
from roomvoice.skills.homeassistant.entities import EntityIndex, EntityState
from roomvoice.skills.intent_handlers import IntentHandlers, Slots
from roomvoice.skills.registry import Tool, ToolRegistry
from roomvoice.skills.types import IntentKind, IntentMatch, ServiceCall, ToolCall, ToolResult

_LOGGER = logging.getLogger(__name__)

_SWITCHABLE = ("climate", "fan", "input_boolean", "light", "media_player", "switch")
_NAME = {"type": "string", "minLength": 1, "maxLength": 64,
         "description": "The device's spoken name, if its entity_id is not known."}


class ServiceCaller(Protocol):
    """Anything that can make a Home Assistant service call (the client, or a test double)."""

    def call_service(self, call: ServiceCall) -> tuple[EntityState, ...]:
        """Make ``call`` once; returns the changed states."""


# name: (description, domains, intent, extra properties, extra required)
_SPECS: dict[str, tuple[str, tuple[str, ...] | None, str, dict[str, Any], tuple[str, ...]]] = {
    "turn_on": ("Turn on a light, switch, fan, media player, climate device or input boolean; "
                "activate a scene; start a script.", _SWITCHABLE + ("scene", "script"), "HassTurnOn", {}, ()),
    "turn_off": ("Turn off a light, switch, fan, media player, climate device or input boolean; stop a script.",
                 _SWITCHABLE + ("script",), "HassTurnOff", {}, ()),
    "open_cover": ("Open a cover (window, blinds, curtains, garage door).", ("cover",), "HassTurnOn", {}, ()),
    "close_cover": ("Close a cover (window, blinds, curtains, garage door).", ("cover",), "HassTurnOff", {}, ()),
    "set_cover_position": ("Set how far a cover is open, 0 (closed) to 100 (open) percent.", ("cover",),
                           "HassSetPosition",
                           {"position": {"type": "integer", "minimum": 0, "maximum": 100,
                                         "description": "Percent open."}}, ("position",)),
    "lock": ("Lock a lock.", ("lock",), "HassTurnOn", {}, ()),
    "unlock": ("Unlock a lock.", ("lock",), "HassTurnOff", {}, ()),
    "set_light_brightness": ("Turn a light on at a brightness, 0 to 100 percent.", ("light",), "HassLightSet",
                             {"brightness_pct": {"type": "integer", "minimum": 0, "maximum": 100,
                                                 "description": "Brightness in percent."}}, ("brightness_pct",)),
    "set_temperature": ("Set a thermostat's target temperature in degrees Celsius.", ("climate",),
                        "HassClimateSetTemperature",
                        {"temperature": {"type": "number", "minimum": 5, "maximum": 35,
                                         "description": "Target temperature, °C."}}, ("temperature",)),
    "set_fan_speed": ("Set a fan's speed, 0 to 100 percent.", ("fan",), "HassFanSetSpeed",
                      {"percentage": {"type": "integer", "minimum": 0, "maximum": 100,
                                      "description": "Fan speed in percent."}}, ("percentage",)),
    "media_pause": ("Pause a media player (TV, speaker).", ("media_player",), "HassMediaPause", {}, ()),
    "media_resume": ("Resume (play) a paused media player.", ("media_player",), "HassMediaUnpause", {}, ()),
    "media_next": ("Skip to the next track on a media player.", ("media_player",), "HassMediaNext", {}, ()),
    "media_previous": ("Go back to the previous track on a media player.", ("media_player",),
                       "HassMediaPrevious", {}, ()),
    "set_volume": ("Set a media player's volume, 0 to 100 percent.", ("media_player",), "HassSetVolume",
                   {"volume_pct": {"type": "integer", "minimum": 0, "maximum": 100,
                                   "description": "Volume in percent."}}, ("volume_pct",)),
    "mute": ("Mute a media player.", ("media_player",), "HassMediaPlayerMute", {}, ()),
    "unmute": ("Unmute a media player.", ("media_player",), "HassMediaPlayerUnmute", {}, ()),
    "get_state": ("Read a device's or sensor's current state.", None, "HassGetState", {}, ()),
}
_NUMBER_ARGUMENTS = ("position", "brightness_pct", "temperature", "percentage", "volume_pct")
"""Tool arguments that carry the intent's one number (its unit is the tool schema's)."""


class HomeAssistantTools:
    """The Home Assistant tools, bound to a service caller and an entity index.

    Args:
        caller: makes service calls (a :class:`~roomvoice.skills.homeassistant.client.HomeAssistantClient`).
        index: the entities (refresh with :meth:`update_index`).
        enum_entity_ids: list the valid entity ids in each tool's schema (``enum``).
        now: the clock the reply builder uses (local time by default).
    """

    def __init__(self, caller: ServiceCaller, index: EntityIndex, enum_entity_ids: bool = True,
                 now: Callable[[], datetime] | None = None) -> None:
        self.caller = caller
        self.index = index
        self.enum_entity_ids = enum_entity_ids
        self._now = now or local_now

    def update_index(self, index: EntityIndex, registry: ToolRegistry | None = None) -> None:
        """Use a fresh index; with ``registry``, re-register the tools so their enums follow it."""
        self.index = index
        if registry is not None:
            self.register(registry, replace_existing=True)

    def register(self, registry: ToolRegistry, replace_existing: bool = False) -> None:
        """Register every tool in ``registry``."""
        for tool in self.tools():
            registry.register(tool, replace_existing=replace_existing)

    def tools(self) -> list[Tool]:
        """The tools, built from the current index."""
        return [self._tool(name) for name in _SPECS]

    # --- execution -----------------------------------------------------------------------
    def execute(self, call: ServiceCall, speech: str, tool: str = "") -> ToolResult:
        """Check ``call``'s targets against the index, make it once, and report.

        Raises:
            EntityError: unknown targets or targets outside ``call.domain`` (nothing sent).
            HomeAssistantError: from the caller (``ha-unreachable``, ``ha-error``, ...).
        """
        self.index.check_call(call)
        changed = self.caller.call_service(call)
        self.index = self.index.with_states(changed)
        return ToolResult(tool or f"{call.domain}.{call.service}", True, speech, service_call=call,
                          data={"changed": [s.entity_id for s in changed]})

    def execute_match(self, match: IntentMatch) -> ToolResult:
        """Carry out a fast-path match: make its service call, or just speak it (answers,
        timers, questions, refusals). ``SkillError``s are returned as ``ok=False`` results."""
        if match.kind is not IntentKind.ACTION or match.service_call is None:
            ok = match.kind in (IntentKind.ANSWER, IntentKind.TIMER)
            return ToolResult(match.intent, ok, match.speech, code=match.error_code)
        try:
            return self.execute(match.service_call, match.speech, match.intent)
        except SkillError as exc:
            _LOGGER.warning("fast-path call %s failed: %s", match.service_call.path, exc)
            return ToolResult(match.intent, False, exc.message, code=exc.code, service_call=match.service_call)

    # --- tools ---------------------------------------------------------------------------
    def _tool(self, name: str) -> Tool:
        description, domains, intent, extra, required = _SPECS[name]
        entity_id: dict[str, Any] = {"type": "string", "description": "The entity id, e.g. light.kitchen_lights."}
        if self.enum_entity_ids:
            ids = sorted(e.entity_id for e in self.index.entities if domains is None or e.domain in domains)
            entity_id["enum"] = ids or ["none.none"]
        else:
            entity_id["pattern"] = r"^[a-z_]+\.[a-z0-9_]+$"
        schema = {
            "type": "object",
            "properties": {"entity_id": entity_id, "name": _NAME, **extra},
            "required": list(required),
            "oneOf": [{"required": ["entity_id"]}, {"required": ["name"]}],
            "additionalProperties": False,
        }
        allowed = set(domains) if domains is not None else None

        def validator(call: ToolCall) -> ToolCall:
            args = dict(call.arguments)
            if "name" in args:
                entity = self.index.resolve(args.pop("name"), domain=allowed)
            else:
                entity = self.index.require(args["entity_id"], allowed)
            args["entity_id"] = entity.entity_id
            return ToolCall(call.name, args, call.call_id)

        def handler(call: ToolCall) -> ToolResult:
            return self._run(name, intent, call.arguments)

        return Tool(name, description, schema, handler, validator)

    def _run(self, tool: str, intent: str, args: Mapping[str, Any]) -> ToolResult:
        entity = self.index.require(str(args["entity_id"]))
        number = next((float(args[k]) for k in _NUMBER_ARGUMENTS if k in args), None)
        match = IntentHandlers(self.index, self._now).handle(Slots(intent, number=number), (entity,))
        if match is None or match.kind is IntentKind.REFUSAL or match.kind is IntentKind.CLARIFY:
            raise EntityError(match.error_code if match and match.error_code else "entity-wrong-domain",
                              match.speech if match else f"{tool} cannot act on {entity.name}.")
        if match.kind is IntentKind.ANSWER:
            return ToolResult(tool, True, match.speech, data={"entity_id": entity.entity_id, "state": entity.state,
                                                               "attributes": dict(entity.attributes)})
        assert match.service_call is not None
        return self.execute(match.service_call, match.speech, tool)

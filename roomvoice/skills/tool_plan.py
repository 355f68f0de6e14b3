"""What a home request's words settle before the LLM's tool call: the tools that fit it, the
devices left for them, and, for obvious phrasings ("too dark", "warmer", "blinds up"), the whole
call (:func:`plan_call`, pure). Used by :meth:`roomvoice.skills.runtime.SkillSet.tool_prompt`;
a settled call still goes through the same checks and registry validation as the LLM's.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from roomvoice.skills.homeassistant.entities import Entity, EntityIndex
from roomvoice.skills.llm_tools import (
    _ASK,
    _CLOSE,
    _DOWN,
    _OFF,
    _ON,
    _OPEN,
    _UP,
    READ_ONLY_TOOLS,
    ToolPrompt,
    _enum,
    domains_said,
    grounded,
    llm_arguments_schema,
    request_hints,
)
from roomvoice.skills.registry import ToolRegistry

_TOOL_FOR = {  # (domain, action) → the tool that does it
    ("light", _UP): "turn_on", ("light", _DOWN): "set_light_brightness", ("climate", _UP): "set_temperature",
    ("climate", _DOWN): "set_temperature", ("fan", _ON): "turn_on", ("cover", _OPEN): "open_cover",
    ("cover", _CLOSE): "close_cover",
}
STEP_C = 1.0
"""Degrees a thermostat's target moves for "warmer" / "too cold" (and back for "too hot")."""
STEP_PCT = 30
"""Brightness points a light goes down by for "too bright"."""


@dataclass(frozen=True)
class ToolPlan:
    """What the request's words settle before the LLM is asked (see :func:`plan_call`).

    Attributes:
        tools: the tools that fit the request, offered to the LLM.
        entities: the devices left for them (a narrowing of the shortlist, same order).
        call: ``{"tool", "arguments"}`` when the words settled the whole call (no LLM needed).
        fixed: True when the words settled the tool (the LLM only picks the device or a number:
            no ``"none"`` option).
    """

    tools: tuple[str, ...]
    entities: tuple[Entity, ...]
    call: Mapping[str, Any] | None = None
    fixed: bool = False


def _ha_tools(registry: ToolRegistry, denied: Collection[str], entities: Sequence[Entity]) -> list[str]:
    """Home Assistant tools (an ``entity_id`` enum) not ``denied`` that can act on one of ``entities``."""
    ids = {e.entity_id for e in entities}
    return [n for n in registry.names if n not in denied and (enum := _enum(registry, n)) is not None
            and enum != ["none.none"] and set(enum) & ids]


def _can(registry: ToolRegistry, tool: str, entity: Entity) -> bool:
    return tool in registry.names and entity.entity_id in (_enum(registry, tool) or ())


def _arguments(tool: str, entity: Entity, action: str) -> dict[str, Any] | None:
    """The arguments of ``tool`` on ``entity`` for ``action``, from its live state; None when
    they cannot be worked out (the LLM is asked instead)."""
    args: dict[str, Any] = {"entity_id": entity.entity_id}
    if tool == "set_temperature":
        target = entity.attributes.get("temperature")
        if not isinstance(target, (int, float)):
            return None
        step = STEP_C if action == _UP else -STEP_C
        low = max(5.0, float(entity.attributes.get("min_temp", 5.0)))
        high = min(35.0, float(entity.attributes.get("max_temp", 35.0)))
        args["temperature"] = min(high, max(low, round(float(target) + step, 1)))
    elif tool == "set_light_brightness":
        level = entity.attributes.get("brightness")
        if entity.state != "on" or not isinstance(level, (int, float)):
            return None
        args["brightness_pct"] = max(1, round(float(level) / 255 * 100) - STEP_PCT)
    return args


def plan_call(registry: ToolRegistry, denied: Collection[str], index: EntityIndex, text: str,
              candidates: Sequence[Entity], room_area: str | None = None) -> ToolPlan:
    """Narrow the tools and devices for ``text`` by what its words settle (pure).

    * Only Home Assistant tools are offered (timers, reminders, calendar and tasks have their
      own fast paths and are never a device request's answer); ``denied`` ones never.
    * The kinds of device said (:func:`domains_said`) or implied (:func:`request_hints`: "too
      dark" → lights, "stuffy" → a fan) keep only those candidates (when any are left); only
      candidates the request refers to (:func:`grounded`) are kept (any other would be refused).
    * A question ("is the ...", "did I leave ...") gets only ``get_state``; a command never. The
      state asked about narrows the kind ("... open" → a cover, "... locked" → a lock).
    * An obvious action picks the tool ("too dark" → ``turn_on`` of a light that is off,
      "warmer" → ``set_temperature`` :data:`STEP_C` above the current target, "too bright" →
      ``set_light_brightness`` :data:`STEP_PCT` lower, "stuffy" → ``turn_on`` the fan, "blinds
      up" → ``open_cover``); with one device left for it, the whole call is settled (so is a
      single tool that needs only the device, with a single device left, unless the request is
      a question about no particular state, which the LLM may answer in words). A request
      that names two kinds of device ("the jacuzzi lights warmer") settles nothing.

    The result is checked and run like the LLM's own choice (:func:`check_llm_call`, then the
    registry's validation): a settled call is never trusted more than the LLM's.
    """
    hints = request_hints(text)
    asked = {d for d, a in hints.items() if a == _ASK and d != "*"}
    domains = asked or domains_said(text) | {d for d in hints if d != "*"}
    entities = [e for e in candidates if e.domain in domains] or list(candidates) if domains else list(candidates)
    entities = [e for e in entities if grounded(e, text, room_area, index)]
    tools = _ha_tools(registry, denied, entities)
    if hints.get("*") == _ASK:
        tools = [t for t in tools if t in READ_ONLY_TOOLS]
    else:
        tools = [t for t in tools if t not in READ_ONLY_TOOLS] or tools
    action_tools: list[tuple[str, str, list[Entity]]] = []
    for domain, action in hints.items():
        if action == _ASK:
            continue
        if domain == "*":
            if action in (_ON, _OFF):
                tool = "turn_on" if action == _ON else "turn_off"
                able = [e for e in entities if _can(registry, tool, e)]
                if able:
                    action_tools.append((tool, action, able))
            continue
        tool = _TOOL_FOR.get((domain, action))
        able = [e for e in entities if e.domain == domain and tool is not None and _can(registry, tool, e)]
        if tool == "turn_on" and domain == "light":  # "too dark": a light that is off
            able = [e for e in able if e.state != "on"] or able
        if tool == "set_light_brightness":  # "too bright": a light that is on
            able = [e for e in able if e.state == "on"]
        if able:
            action_tools.append((tool, action, able))
    if len(action_tools) == 1 and action_tools[0][0] in tools and len(domains) <= 1:
        tool, action, able = action_tools[0]
        if len(able) == 1 and (args := _arguments(tool, able[0], action)) is not None:
            return ToolPlan((tool,), (able[0],), {"tool": tool, "arguments": args}, True)
        return ToolPlan((tool,), tuple(able), None, True)
    open_question = hints.get("*") == _ASK and not asked  # "are the lights bright enough for reading": words may fit
    if len(tools) == 1 and len(entities) == 1 and not _needs_more(registry, tools[0]) and not open_question:
        return ToolPlan(tuple(tools), tuple(entities), {"tool": tools[0],
                                                        "arguments": {"entity_id": entities[0].entity_id}}, True)
    return ToolPlan(tuple(tools), tuple(entities))


def _needs_more(registry: ToolRegistry, tool: str) -> bool:
    """True if ``tool`` requires an argument besides ``entity_id``."""
    return bool(set(llm_arguments_schema(registry.get(tool).parameters)["required"]) - {"entity_id"})


def settled_prompt(plan: ToolPlan) -> ToolPrompt:
    """The :class:`ToolPrompt` of a call the words settled (:attr:`ToolPlan.call`): nothing to ask."""
    assert plan.call is not None
    return ToolPrompt((), {}, plan.tools, call=json.dumps(dict(plan.call)))

"""The LLM's side of tool calling: which requests get tools, the constrained-output schema, the
prompt, and the safety checks a chosen call must pass before :meth:`ToolRegistry.dispatch`.

A tiny model (SmolLM2-135M) picks tools badly, so the design assumes it will:

1. **Gate** (:func:`wants_tools`): only requests that talk about the home (device words, a
   known device or area name) are offered tools; "tell me a joke" goes straight to chat.
2. **Constrained output** (:func:`tool_call_schema`): the LLM must write
   ``{"tool": <one registered, allowed tool>, "arguments": {...}}`` or ``{"tool": "none"}``,
   decoded under a JSON-Schema grammar; ``entity_id`` is an ``enum`` of the ids the tool can act
   on, so an unknown or wrong-domain entity cannot even be written.
3. **Checks before dispatch** (:func:`check_llm_call`): the output must parse; tools in
   ``denied`` (``unlock`` by default) are refused whatever the request; the target entity must
   be *grounded* in the request (its name, alias or area said, or a word for its kind of device
   said in its room / for the only such device); state changes asked for in a text that tries to
   override the instructions ("ignore previous instructions...") are refused.
4. :meth:`ToolRegistry.dispatch` then validates against the full schema and live data.

A refusal is spoken ("I didn't do that: ..."), and nothing is executed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from roomvoice.events import ChatMessage
from roomvoice.skills.errors import ToolError
from roomvoice.skills.homeassistant.entities import Entity, EntityIndex, normalize
from roomvoice.skills.registry import ToolRegistry

_LOGGER = logging.getLogger(__name__)

NO_TOOL = "none"
"""The ``tool`` value that means "no tool: answer in words"."""
READ_ONLY_TOOLS = frozenset({"get_state"})
"""Tools that change nothing (allowed even for a suspicious request)."""
MAX_PROMPT_DEVICES = 40
"""Most devices listed in the tool prompt (the schema's enums still list them all)."""

DOMAIN_WORDS: Mapping[str, frozenset[str]] = {
    "light": frozenset({"light", "lights", "lamp", "lamps", "dark", "darker", "bright", "brighter", "dim",
                        "brightness"}),
    "climate": frozenset({"warm", "warmer", "cold", "colder", "cool", "cooler", "hot", "heat", "heating",
                          "temperature", "thermostat", "chilly", "freezing"}),
    "fan": frozenset({"fan", "fans", "stuffy", "breeze"}),
    "media_player": frozenset({"tv", "television", "music", "play", "volume", "speaker"}),
    "cover": frozenset({"blind", "blinds", "curtain", "curtains", "shade", "shades", "window", "windows",
                        "garage", "cover", "covers"}),
    "lock": frozenset({"lock", "locks", "door", "doors", "unlock", "locked", "unlocked"}),
    "switch": frozenset({"switch", "plug", "socket", "outlet"}),
}
"""Words that refer to a kind of device, by Home Assistant domain."""
_ACTION_WORDS = frozenset({"turn", "switch", "open", "close", "shut", "set", "start", "stop", "activate", "put",
                           "make", "dim", "raise", "lower", "increase", "decrease", "too"})
_HOME_WORDS = frozenset().union(*DOMAIN_WORDS.values()) | _ACTION_WORDS - {"make", "too", "set", "start", "stop"}
_INJECTION = re.compile(
    r"\b(ignore|disregard|forget)\b.{0,40}\b(instructions?|rules?|prompt|above|previous)\b"
    r"|\bsystem prompt\b|\byou are now\b|\bdeveloper mode\b|\bjailbreak\b|\b(shell|terminal|sudo|rm -rf|bash)\b",
    re.IGNORECASE)


@dataclass(frozen=True)
class ToolPrompt:
    """What to ask the LLM for one constrained tool call.

    Attributes:
        messages: system prompt (tools and devices) + the user's request.
        schema: JSON Schema the output must satisfy (for a grammar-constrained decoder).
        tools: the tool names offered.
    """

    messages: tuple[ChatMessage, ...]
    schema: Mapping[str, Any]
    tools: tuple[str, ...]


@dataclass(frozen=True)
class LlmToolChoice:
    """The LLM's choice after parsing and the safety checks.

    Attributes:
        tool: the tool name, or :data:`NO_TOOL`.
        arguments: the arguments object (empty for :data:`NO_TOOL`).
        raw: the LLM's output, as written (for the record).
    """

    tool: str
    arguments: Mapping[str, Any]
    raw: str


def looks_like_injection(text: str) -> bool:
    """True if ``text`` tries to override instructions or asks for a shell."""
    return bool(_INJECTION.search(text or ""))


def wants_tools(text: str, index: EntityIndex) -> bool:
    """True if ``text`` talks about the home: a device word or a known device/area name."""
    words = set(normalize(text).split())
    if words & _HOME_WORDS:
        return True
    norm = f" {normalize(text)} "
    forms = [f for f, _ in index.name_forms()] + [f for f, _ in index.area_forms()]
    return any(f" {form} " in norm for form in forms if len(form) > 2)


def llm_arguments_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments schema shown to the constrained decoder for a registry tool.

    Keywords a JSON-Schema grammar cannot express at object level (``oneOf`` / ``anyOf``) are
    dropped; when ``entity_id`` is an ``enum``, the free-text ``name`` alternative is dropped
    and ``entity_id`` required, so the decoder must pick a known id. The registry still
    validates the result against the full schema.
    """
    props = {k: dict(v) for k, v in dict(parameters.get("properties", {})).items()}
    required = [r for r in parameters.get("required", []) if r in props]
    entity = props.get("entity_id")
    if entity is not None and "enum" in entity and "name" in props:
        del props["name"]
        required = ["entity_id", *[r for r in required if r != "entity_id"]]
    for spec in props.values():
        spec.pop("description", None)
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def offered_tools(registry: ToolRegistry, denied: Collection[str]) -> list[str]:
    """Registered tools the LLM may call: not ``denied``, and with at least one valid target."""
    names = []
    for name in registry.names:
        tool = registry.get(name)
        enum = dict(tool.parameters.get("properties", {})).get("entity_id", {}).get("enum")
        if name in denied or enum == ["none.none"]:
            continue
        names.append(name)
    return names


def tool_call_schema(registry: ToolRegistry, tools: Sequence[str]) -> dict[str, Any]:
    """``anyOf`` one object per tool ``{"tool": const, "arguments": {...}}``, or ``{"tool": "none"}``."""
    options = [{"type": "object",
                "properties": {"tool": {"const": name},
                               "arguments": llm_arguments_schema(registry.get(name).parameters)},
                "required": ["tool", "arguments"], "additionalProperties": False} for name in tools]
    options.append({"type": "object", "properties": {"tool": {"const": NO_TOOL}}, "required": ["tool"],
                    "additionalProperties": False})
    return {"anyOf": options}


def _signature(name: str, parameters: Mapping[str, Any]) -> str:
    args = [a for a in llm_arguments_schema(parameters)["properties"]]
    return f"{name}({', '.join(args)})"


def tool_prompt(registry: ToolRegistry, tools: Sequence[str], index: EntityIndex, text: str,
                room_area: str | None) -> ToolPrompt:
    """Messages and schema for one constrained tool call about ``text`` said in ``room_area``."""
    lines = [f"- {_signature(n, registry.get(n).parameters)}: {registry.get(n).description}" for n in tools]
    devices = list(index.entities)
    if len(devices) > MAX_PROMPT_DEVICES:  # the best matches for the text, then the room's
        ranked = {e.entity_id: s for e, s in index.rank(text)}
        devices = sorted(devices, key=lambda e: (-(ranked.get(e.entity_id, 0.0)), e.area != room_area,
                                                 e.entity_id))[:MAX_PROMPT_DEVICES]
    device_lines = [f"- {e.entity_id}: {e.name}" + (f" ({e.area})" if e.area else "") for e in devices]
    # The system message stays the same from request to request (llama.cpp reuses its cache);
    # what changes comes last.
    system = ("You control a smart home. Reply with one JSON tool call for the user's request, "
              f'or {{"tool": "{NO_TOOL}"}} if no tool fits.\nTools:\n' + "\n".join(lines)
              + "\nDevices:\n" + "\n".join(device_lines) + "\nExample: user 'turn on the desk lamp' -> "
              '{"tool": "turn_on", "arguments": {"entity_id": "light.desk_lamp"}}')
    where = f" (said in the {room_area})" if room_area else ""
    return ToolPrompt((ChatMessage("system", system), ChatMessage("user", text + where)),
                      tool_call_schema(registry, tools), tuple(tools))


def parse_choice(raw: str) -> LlmToolChoice:
    """Parse the LLM's output into a choice.

    Raises:
        ToolError: ``tool-bad-arguments`` (not JSON, not an object, no ``tool`` string,
            ``arguments`` not an object).
    """
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ToolError("tool-bad-arguments", "I didn't understand which device or action you meant.") from exc
    if not isinstance(value, dict) or not isinstance(value.get("tool"), str):
        raise ToolError("tool-bad-arguments", "I didn't understand which device or action you meant.")
    arguments = value.get("arguments", {})
    if not isinstance(arguments, dict):
        raise ToolError("tool-bad-arguments", "I didn't understand the details of that request.")
    return LlmToolChoice(value["tool"][:64], arguments, raw)


def grounded(entity: Entity, text: str, room_area: str | None, index: EntityIndex) -> bool:
    """True if the request refers to ``entity``: its name, an alias or its object id said; or
    its area (said, or the room's) together with a word for its kind of device; or such a word
    when it is the only device of its kind."""
    said = f" {normalize(text)} "
    words = set(said.split())
    singular = {w[:-1] for w in words if len(w) > 3 and w.endswith("s")}
    for form in (entity.name, *entity.aliases, entity.entity_id.partition(".")[2]):
        form_words = normalize(form).split()
        if form_words and all(w in words or w in singular for w in form_words):
            return True
    kind_said = bool(words & DOMAIN_WORDS.get(entity.domain, frozenset()))
    if not kind_said:
        return False
    area_said = entity.area is not None and (f" {normalize(entity.area)} " in said or entity.area == room_area)
    return area_said or len(index.in_area(None, {entity.domain})) == 1


def check_llm_call(choice: LlmToolChoice, text: str, room_area: str | None, index: EntityIndex,
                   denied: Collection[str]) -> None:
    """Refuse an LLM tool call the user did not clearly ask for (nothing runs).

    Raises:
        ToolError: ``tool-denied`` (a denied tool, or a state change asked for by a text that
            tries to override the instructions) or ``tool-not-grounded`` (the request does not
            name or clearly point at the target entity).
    """
    if choice.tool in denied:
        raise ToolError("tool-denied", f"For safety, I only {choice.tool.replace('_', ' ')} when you ask me "
                                       "directly, for example 'unlock the front door'.")
    if choice.tool not in READ_ONLY_TOOLS and looks_like_injection(text):
        raise ToolError("tool-denied", "I won't act on a request that asks me to ignore my rules.")
    name = choice.arguments.get("name")
    if isinstance(name, str) and not set(normalize(name).split()) <= set(normalize(text).split()):
        raise ToolError("tool-not-grounded", f"I'm not sure you meant {name[:64]!r}; please say the device's name.")
    entity_id = choice.arguments.get("entity_id")
    if isinstance(entity_id, str):
        entity = index.get(entity_id)
        if entity is not None and not grounded(entity, text, room_area, index):
            raise ToolError("tool-not-grounded", f"I'm not sure you meant the {entity.name.lower()}; "
                                                 "please say the device's name.")

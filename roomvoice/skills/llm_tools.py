"""The LLM's side of tool calling: which requests get tools, the constrained-output schema, the
prompt, and the safety checks a chosen call must pass before :meth:`ToolRegistry.dispatch`.

A tiny model (SmolLM2-135M) picks tools badly, so the design assumes it will:

1. **Gate** (:func:`wants_tools`): only requests that talk about the home (device words, a
   known device or area name) are offered tools; "tell me a joke" goes straight to chat.
2. **Shortlist** (:func:`shortlist`): at most :data:`SHORTLIST_SIZE` candidate devices — names
   found in the request (``rapidfuzz``), then devices of the kinds said ("lights", "fan") in the
   areas said or the room's — are the only ones offered; with none, the tool step is not tried
   and a command gets :data:`CANT_TELL`. The shortlist is a pure function of the request, the
   room and the index, so a repeated request gives the same schema (and llama.cpp's per-schema
   grammar cache hits).
3. **Plan** (:func:`plan_call`): only Home Assistant tools that fit are offered — of the kinds of
   device said or implied ("too dark" → lights), ``get_state`` only for a question, never a
   calendar/tasks/timer tool — and an obvious phrasing settles the tool ("warmer" →
   ``set_temperature`` one degree up); with one device left the whole call is settled and the
   LLM is not asked (it is still checked as below). The prompt starts with the fixed
   :data:`TOOL_SYSTEM_PREFIX` (llama.cpp's prefix cache), then the offered tools and devices.
4. **Constrained output** (:func:`tool_call_schema`): the LLM must write
   ``{"tool": <one registered, allowed tool>, "arguments": {...}}`` or ``{"tool": "none"}``,
   decoded under a JSON-Schema grammar; ``entity_id`` is an ``enum`` of the shortlisted ids the
   tool can act on, so an unknown or wrong-domain entity cannot even be written.
5. **Checks before dispatch** (:func:`check_llm_call`): the output must parse; tools in
   ``denied`` (``unlock`` by default) are refused whatever the request; the target entity must
   be *grounded* in the request (its name, alias or area said, or a word for its kind of device
   said in its room / for the only such device); state changes asked for in a text that tries to
   override the instructions ("ignore previous instructions...") are refused.
6. :meth:`ToolRegistry.dispatch` then validates against the full schema and live data (the
   runtime first refuses, as :data:`UNCLEAR`, a tool or device the plan did not offer).

A refusal is spoken ("I didn't do that: ..."), and nothing is executed. When the LLM's choice
makes no sense for the request — no tool for a command, output that does not parse, a tool or
device the request did not ask for — the reply is the plain :data:`UNCLEAR`, never the error of
an unrelated tool.
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
"""Most devices listed in the tool prompt when no shortlist is given."""
SHORTLIST_SIZE = 8
"""Most candidate devices offered to the LLM for one request (see :func:`shortlist`)."""
UNCLEAR = "I didn't do anything: I couldn't work out what to do with that."
"""Said when the LLM's tool choice makes no sense for the request (nothing was executed)."""
CANT_TELL = "Sorry, I can't tell which device you mean. Please say its name."
"""Said for a home command when no device could be shortlisted (the LLM is not asked)."""

DOMAIN_WORDS: Mapping[str, frozenset[str]] = {
    "light": frozenset({"light", "lights", "lamp", "lamps", "dark", "darker", "bright", "brighter", "dim",
                        "brightness"}),
    "climate": frozenset({"warm", "warmer", "cold", "colder", "cool", "cooler", "hot", "heat", "heating",
                          "temperature", "thermostat", "chilly", "freezing"}),
    "fan": frozenset({"fan", "fans", "stuffy", "breeze"}),
    "media_player": frozenset({"tv", "television", "music", "play", "volume", "speaker", "speakers", "song",
                               "track", "pause", "resume", "skip", "mute", "unmute", "louder", "quieter"}),
    "cover": frozenset({"blind", "blinds", "curtain", "curtains", "shade", "shades", "window", "windows",
                        "garage", "cover", "covers"}),
    "lock": frozenset({"lock", "locks", "door", "doors", "unlock", "locked", "unlocked"}),
    "switch": frozenset({"switch", "plug", "socket", "outlet"}),
}
"""Words that refer to a kind of device, by Home Assistant domain."""
_ACTION_WORDS = frozenset({"turn", "switch", "open", "close", "shut", "set", "start", "stop", "activate", "put",
                           "make", "dim", "raise", "lower", "increase", "decrease", "too", "pause", "resume",
                           "skip", "mute", "unmute", "play"})
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
        answer: when set, the LLM is not asked: this is the reply (e.g. :data:`CANT_TELL`);
            ``messages``, ``schema`` and ``tools`` are then empty.
        call: when set, the LLM is not asked either: the request's words settled the whole call
            (:func:`plan_call`), written as the LLM would write it; it is checked and run exactly
            like the LLM's output (:meth:`SkillSet.run_llm_call`). ``messages`` and ``schema``
            are then empty.
    """

    messages: tuple[ChatMessage, ...]
    schema: Mapping[str, Any]
    tools: tuple[str, ...]
    answer: str | None = None
    call: str | None = None


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


def looks_like_command(text: str) -> bool:
    """True if ``text`` asks for something to be done (an action word: "turn", "open", "dim",
    "pause", "too" as in "too dark"...), not only asks about something."""
    return bool(set(normalize(text).split()) & _ACTION_WORDS)


def domains_said(text: str) -> set[str]:
    """The Home Assistant domains whose device words (:data:`DOMAIN_WORDS`) ``text`` contains."""
    words = set(normalize(text).split())
    return {domain for domain, kinds in DOMAIN_WORDS.items() if words & kinds}


def shortlist(index: EntityIndex, text: str, room_area: str | None, k: int = SHORTLIST_SIZE) -> tuple[Entity, ...]:
    """The devices ``text`` (said in ``room_area``) may be about, at most ``k``, most likely first.

    In order, without repeats: entities whose name, alias or area + name appears in the text
    (:meth:`EntityIndex.mentioned`, best score first, ties by entity id); then, for each kind of
    device said (:func:`domains_said`, domains in name order), that kind's devices in the areas
    said in the text, or else in the room's area, or else the house's only one of that kind; then,
    for an area said with no kind of device, that area's devices. Ids sort ties, so the result
    depends only on the text, the room and the index (repeat requests give the same schema).

    Returns:
        The candidates; empty when nothing in the text points at a device.
    """
    norm = f" {normalize(text)} "
    picked: dict[str, Entity] = {}
    for entity, _ in index.mentioned(text):
        picked.setdefault(entity.entity_id, entity)
    said_areas = sorted({area for form, area in index.area_forms() if form and f" {form} " in norm})
    areas: list[str | None] = list(said_areas) or ([room_area] if room_area else [])
    kinds = sorted(domains_said(text))
    extra: list[Entity] = []
    for domain in kinds:
        pool = sorted((e for a in areas for e in index.in_area(a, {domain})), key=lambda e: e.entity_id)
        if not pool:
            everywhere = index.in_area(None, {domain})
            pool = list(everywhere) if len(everywhere) == 1 else []
        extra.extend(pool)
    if said_areas and not kinds:
        extra.extend(sorted((e for a in said_areas for e in index.in_area(a)), key=lambda e: e.entity_id))
    for entity in extra:
        picked.setdefault(entity.entity_id, entity)
    return tuple(picked.values())[: max(0, int(k))]


# --- what the request's words settle before the LLM -----------------------------------------
_UP, _DOWN, _ON, _OFF, _OPEN, _CLOSE, _ASK = "up", "down", "on", "off", "open", "close", "ask"
_HINTS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple((re.compile(p), d, a) for p, d, a in (
    # (pattern on the normalised text, domain, action); the first match per domain wins
    (r"\b(not|isn'?t) (bright|light) enough\b|\b(too|so|very) dark\b|\bcan(not|'?t| not) see\b"
     r"|\b(more|some|brighter) light\b|\bbrighter\b", "light", _UP),
    (r"\b(too|so|very|way too) bright\b|\bdarker\b|\bdimmer\b|\bdim\b|\bless light\b", "light", _DOWN),
    (r"\b(too|so|very|way too) (hot|warm)\b|\b(cooler|colder)\b|\bboiling\b|\bcool (it|things) down\b",
     "climate", _DOWN),
    (r"\bwarmer\b|\b(too|so|very) (cold|chilly)\b|\bchilly\b|\bfreezing\b|\bheat (it|things)? ?up\b"
     r"|\bwarm (it|things)? ?up\b|\bcold\b", "climate", _UP),
    (r"\bstuffy\b|\b(some|fresh) air\b|\bbreeze\b", "fan", _ON),
    (r"\b(blinds?|curtains?|shades?|covers?|awning)\b.*\b(up|open)\b|\bopen\b.*\b(blinds?|curtains?|shades?|"
     r"windows?|garage)\b", "cover", _OPEN),
    (r"\b(blinds?|curtains?|shades?|covers?|awning)\b.*\b(down|shut|closed?)\b"
     r"|\b(close|shut)\b.*\b(blinds?|curtains?|shades?|windows?|garage)\b", "cover", _CLOSE),
))
"""Phrasings whose kind of device and action are obvious ("too dark" → a light, on or brighter)."""
_QUESTION = re.compile(r"^(is|are|was|were|did|does|has|have|what|what'?s|which|how|who|tell me if|"
                       r"tell me whether|check if|check whether|can you check)\b")
_ONOFF = re.compile(r"\b(on|off)(?: please| now| for me)?$")
"""A request that ends in on/off ("could I have the chandelier on"); not "carry on with the music"."""
_ASKED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(open|closed|shut)\b"), "cover"), (re.compile(r"\b(locked|unlocked)\b"), "lock"))
"""In a question, the state asked about says the kind of device ("did I leave the garage door open")."""
def request_hints(text: str) -> dict[str, str]:
    """Kind of device → action the request asks for by its phrasing (:data:`_HINTS`), plus
    ``"*" → "ask"`` for a question ("is the ...", "did I leave ...", with the kind of device of
    the state asked about: "open" → ``cover``, "locked" → ``lock``) and ``"*" → "on"/"off"``
    for a request that ends in on/off ("could I have the chandelier on")."""
    norm = normalize(text)
    hints: dict[str, str] = {}
    for pattern, domain, action in _HINTS:
        if domain not in hints and pattern.search(norm):
            hints[domain] = action
    if _QUESTION.match(norm) and not hints:
        hints["*"] = _ASK
        for pattern, domain in _ASKED:
            if pattern.search(norm):
                hints[domain] = _ASK
    elif not hints and (m := _ONOFF.search(norm)) is not None:
        hints["*"] = m.group(1)
    return hints


def llm_arguments_schema(parameters: Mapping[str, Any],
                         entity_ids: Collection[str] | None = None) -> dict[str, Any]:
    """The arguments schema shown to the constrained decoder for a registry tool.

    Keywords a JSON-Schema grammar cannot express at object level (``oneOf`` / ``anyOf``) are
    dropped; when ``entity_id`` is an ``enum``, the free-text ``name`` alternative is dropped
    and ``entity_id`` required, so the decoder must pick a known id. With ``entity_ids`` (a
    :func:`shortlist`), the ``enum`` keeps only those (in its own order). The registry still
    validates the result against the full schema.
    """
    props = {k: dict(v) for k, v in dict(parameters.get("properties", {})).items()}
    required = [r for r in parameters.get("required", []) if r in props]
    entity = props.get("entity_id")
    if entity is not None and "enum" in entity and entity_ids is not None:
        entity["enum"] = [i for i in entity["enum"] if i in entity_ids]
    if entity is not None and "enum" in entity and "name" in props:
        del props["name"]
        required = ["entity_id", *[r for r in required if r != "entity_id"]]
    for spec in props.values():
        spec.pop("description", None)
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _enum(registry: ToolRegistry, name: str) -> list[str] | None:
    return dict(registry.get(name).parameters.get("properties", {})).get("entity_id", {}).get("enum")


def is_device_tool(registry: ToolRegistry, name: str) -> bool:
    """True if ``name`` is a registered Home Assistant tool (its ``entity_id`` is an ``enum``)."""
    return registry.get(name) is not None and _enum(registry, name) is not None


def tool_call_schema(registry: ToolRegistry, tools: Sequence[str],
                     entity_ids: Collection[str] | None = None, allow_none: bool = True) -> dict[str, Any]:
    """``anyOf`` one object per tool ``{"tool": const, "arguments": {...}}``, or ``{"tool": "none"}``
    (unless ``allow_none`` is false); with ``entity_ids``, every ``entity_id`` enum is cut down to
    them. One option only is that object itself (a smaller grammar)."""
    options: list[dict[str, Any]] = [
        {"type": "object",
         "properties": {"tool": {"const": name},
                        "arguments": llm_arguments_schema(registry.get(name).parameters, entity_ids)},
         "required": ["tool", "arguments"], "additionalProperties": False} for name in tools]
    if allow_none or not options:
        options.append({"type": "object", "properties": {"tool": {"const": NO_TOOL}}, "required": ["tool"],
                        "additionalProperties": False})
    return options[0] if len(options) == 1 else {"anyOf": options}


def _signature(name: str, parameters: Mapping[str, Any]) -> str:
    args = [a for a in llm_arguments_schema(parameters)["properties"]]
    return f"{name}({', '.join(args)})"


TOOL_SYSTEM_PREFIX = (
    "You control a smart home. Reply with one JSON tool call for the user's request, "
    f'or {{"tool": "{NO_TOOL}"}} if no tool fits. Use only the tools and devices listed below.\n'
    "Example: user 'turn on the desk lamp' -> "
    '{"tool": "turn_on", "arguments": {"entity_id": "light.desk_lamp"}}\n')
"""The fixed start of every tool prompt's system message: identical across requests, so
llama.cpp reuses its KV cache for it (the tools, the devices and the request follow)."""


def _device_line(entity: Entity) -> str:
    where = f" in the {entity.area}" if entity.area else ""
    return f"- {entity.entity_id}: {entity.name}{where}, {entity.state}"


def tool_prompt(registry: ToolRegistry, tools: Sequence[str], index: EntityIndex, text: str,
                room_area: str | None, candidates: Sequence[Entity] | None = None,
                allow_none: bool = True) -> ToolPrompt:
    """Messages and schema for one constrained tool call about ``text`` said in ``room_area``;
    with ``candidates`` (a :func:`shortlist`, or its :func:`plan_call` narrowing), only they are
    listed and allowed in the enums. The system message starts with :data:`TOOL_SYSTEM_PREFIX`;
    ``allow_none`` false leaves ``{"tool": "none"}`` out of the schema."""
    lines = [f"- {_signature(n, registry.get(n).parameters)}: {registry.get(n).description}" for n in tools]
    devices = list(index.entities) if candidates is None else list(candidates)
    if len(devices) > MAX_PROMPT_DEVICES:  # the best matches for the text, then the room's
        ranked = {e.entity_id: s for e, s in index.rank(text)}
        devices = sorted(devices, key=lambda e: (-(ranked.get(e.entity_id, 0.0)), e.area != room_area,
                                                 e.entity_id))[:MAX_PROMPT_DEVICES]
    system = (TOOL_SYSTEM_PREFIX + "Tools:\n" + "\n".join(lines) + "\nDevices:\n"
              + "\n".join(_device_line(e) for e in devices))
    where = f" (said in the {room_area})" if room_area else ""
    ids = None if candidates is None else {e.entity_id for e in candidates}
    return ToolPrompt((ChatMessage("system", system), ChatMessage("user", text + where)),
                      tool_call_schema(registry, tools, ids, allow_none), tuple(tools))


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
    its area (said, or the room's) together with a word for its kind of device (or a phrasing
    that implies it, :func:`request_hints`: "too dark" for a light); or such a word when it is the
    only device of its kind."""
    said = f" {normalize(text)} "
    words = set(said.split())
    singular = {w[:-1] for w in words if len(w) > 3 and w.endswith("s")}
    for form in (entity.name, *entity.aliases, entity.entity_id.partition(".")[2]):
        form_words = normalize(form).split()
        if form_words and all(w in words or w in singular for w in form_words):
            return True
    kind_said = bool(words & DOMAIN_WORDS.get(entity.domain, frozenset())) or entity.domain in request_hints(text)
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

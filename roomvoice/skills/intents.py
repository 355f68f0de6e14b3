"""The intent fast path: Home Assistant's English sentence templates, matched with ``hassil``.

Templates come from the ``home-assistant-intents`` package (``home_assistant_intents.
get_intents("en")``: the same JSON Home Assistant's own Assist loads), restricted to
:data:`SUPPORTED_INTENTS` and compiled once per process (:func:`load_templates`). The slot
lists Home Assistant fills at run time come from the :class:`EntityIndex`: ``{name}`` holds
every entity name and alias (each value carrying its domain as context, so "lock the {name}"
only matches locks), ``{area}`` every area and area alias, ``{floor}`` is empty. The room a
command came from is the intent context's area, so "turn on the light" said in the kitchen
means the kitchen's lights.

:meth:`IntentRecognizer.recognize` runs two passes:

1. exact: ``hassil.recognize_best`` with the slot lists → typed slots → an
   :class:`~roomvoice.skills.types.IntentMatch` (see :mod:`roomvoice.skills.intent_handlers`);
2. only if that fails, for the state-changing intents, ``allow_unmatched_entities``: the words
   where a name should be ("turn on the kitchen light") are resolved fuzzily
   (:meth:`EntityIndex.resolve`) — one entity spelled alike gives the action, several a
   clarifying question; a name that only *sounds* like one ("turn on the kitchen lamb" in a home
   without a kitchen lamp but with kitchen lights) asks "Did you mean the Kitchen Lights?";
   none a refusal; a known entity of the wrong domain ("set the kitchen window brightness")
   is refused. Nothing is executed for a question or a refusal: an unknown name never becomes a
   service call.

Anything else returns None: the LLM is asked.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hassil import Intents, RecognizeResult, TextChunk, TextSlotList, TextSlotValue, recognize_all, recognize_best
from hassil.recognize import MISSING_ENTITY
from home_assistant_intents import get_intents

from roomvoice.skills.clock import local_now
from roomvoice.skills.errors import EntityError, SkillError
from roomvoice.skills.homeassistant.entities import Entity, EntityIndex, ambiguous, join_or, normalize, spoken
from roomvoice.skills.intent_handlers import IntentHandlers, Slots, error_match
from roomvoice.skills.types import IntentMatch

_LOGGER = logging.getLogger(__name__)

MEDIA_PLAYER_INTENTS: tuple[str, ...] = (
    "HassMediaPause", "HassMediaUnpause", "HassMediaNext", "HassMediaPrevious", "HassSetVolume",
    "HassSetVolumeRelative", "HassMediaPlayerMute", "HassMediaPlayerUnmute",
)
"""Home Assistant's media player intents (all answered by the fast path)."""

ACTION_INTENTS: tuple[str, ...] = ("HassTurnOn", "HassTurnOff", "HassLightSet", "HassSetPosition",
                                   "HassClimateSetTemperature", "HassFanSetSpeed", *MEDIA_PLAYER_INTENTS)
"""State-changing intents, tried again with unmatched names for fuzzy matching and refusals."""

SUPPORTED_INTENTS: tuple[str, ...] = (
    *ACTION_INTENTS, "HassClimateGetTemperature", "HassGetState", "HassStartTimer", "HassCancelTimer",
    "HassGetCurrentTime", "HassGetCurrentDate",
)
"""Home Assistant intents the fast path answers; other sentences go to the LLM."""

_VERBS = {"HassTurnOn": "turn on", "HassTurnOff": "turn off", "HassLightSet": "set the brightness of",
          "HassSetPosition": "set the position of", "HassClimateSetTemperature": "set the temperature of",
          "HassFanSetSpeed": "set the speed of", "HassMediaPause": "pause", "HassMediaUnpause": "resume",
          "HassMediaNext": "skip a track on", "HassMediaPrevious": "go back a track on",
          "HassSetVolume": "set the volume of", "HassSetVolumeRelative": "change the volume of",
          "HassMediaPlayerMute": "mute", "HassMediaPlayerUnmute": "unmute"}
MAX_TEXT_CHARS = 300
"""Longer texts are not commands; they go straight to the LLM."""


@dataclass(frozen=True)
class IntentTemplates:
    """Compiled sentence templates for one language.

    Attributes:
        language: e.g. ``"en"``.
        intents: :data:`SUPPORTED_INTENTS`, compiled.
        actions: :data:`ACTION_INTENTS` only (the unmatched-name pass).
        load_s: seconds spent loading, compiling and warming them up.
    """

    language: str
    intents: Intents
    actions: Intents
    load_s: float


@functools.lru_cache(maxsize=4)
def load_templates(language: str = "en") -> IntentTemplates:
    """Load and compile the ``home-assistant-intents`` templates for ``language`` (cached).

    Raises:
        SkillError: ``intents-no-language`` if the package has no templates for it.
    """
    t0 = time.perf_counter()
    data = get_intents(language)
    if data is None:
        raise SkillError("intents-no-language", f"home-assistant-intents has no templates for {language!r}")

    def subset(names: tuple[str, ...]) -> Intents:
        return Intents.from_dict({**data, "intents": {k: v for k, v in data["intents"].items() if k in names}})

    templates = IntentTemplates(language, subset(SUPPORTED_INTENTS), subset(ACTION_INTENTS), 0.0)
    for compiled in (templates.intents, templates.actions):  # parse every template now (hassil is lazy)
        for intent in compiled.intents.values():
            for intent_data in intent.data:
                for sentence in intent_data.sentences:
                    sentence.get_required_clauses(compiled.expansion_rules)
    lists = _slot_lists(EntityIndex([Entity("light.warm_up", "light", "Warm Up", "Warm Up Room")]))
    for sentence in ("turn on the warm up", "what time is it", "set a timer for 1 minute"):
        recognize_best(sentence, templates.intents, slot_lists=lists)
    recognize_all("turn on the nothing", templates.actions, slot_lists=lists, allow_unmatched_entities=True)
    templates = replace(templates, load_s=time.perf_counter() - t0)
    _LOGGER.info("loaded %d %s intents in %.3f s", len(SUPPORTED_INTENTS), language, templates.load_s)
    return templates


def _slot_lists(index: EntityIndex) -> dict[str, TextSlotList]:
    names = [TextSlotValue(TextChunk(form), form, {"domain": domain}) for form, domain in index.name_forms()]
    areas = [TextSlotValue(TextChunk(form), area) for form, area in index.area_forms()]
    return {"name": TextSlotList(name="name", values=names), "area": TextSlotList(name="area", values=areas),
            "floor": TextSlotList(name="floor", values=[])}


class IntentRecognizer:
    """Transcript → :class:`IntentMatch` with Home Assistant's templates, or None.

    Args:
        index: the entities (names, aliases, areas fill the slot lists).
        language: template language (``"en"``).
        now: clock for time/date answers (tests inject a fixed one); default: ``timezone``'s.
        timezone: IANA zone for the default clock; None = the system's.
        max_name_words: an unmatched name longer than this is not treated as a device name.
    """

    def __init__(self, index: EntityIndex, language: str = "en", now: Callable[[], datetime] | None = None,
                 timezone: str | None = None, max_name_words: int = 5) -> None:
        self.templates = load_templates(language)
        self._now = now or (lambda: local_now(timezone))
        self.max_name_words = int(max_name_words)
        self.update_index(index)

    def update_index(self, index: EntityIndex) -> None:
        """Use a new entity index (after a refresh from Home Assistant); rebuilds the slot lists."""
        self.index = index
        self._lists = _slot_lists(index)
        self._unmatched_lists = {**self._lists, "name": TextSlotList(name="name", values=[])}
        for slot_list in self._lists.values():
            slot_list.get_candidates("")  # builds the list's lookup trie now, not in the first command

    def recognize(self, text: str, room: str | None = None) -> IntentMatch | None:
        """Recognise a command or question.

        Args:
            text: the transcript or typed message.
            room: where it was said (a room id like ``"living_room"`` or an area name); its area
                is the default for "here" commands and breaks ties between same-named entities.

        Returns:
            The match (``elapsed_s`` set), or None when the text is not a supported command.
        """
        t0 = time.perf_counter()
        text = (text or "").strip()
        if not text or len(text) > MAX_TEXT_CHARS:
            return None
        match = self._recognize(text, room)
        digits = numbers_as_digits(text)
        if match is None and digits != text:  # "forty per cent" (as some STT engines write it) -> "40 percent"
            match = self._recognize(digits, room)
        if match is None:
            _LOGGER.debug("no fast-path intent for %r", text)
            return None
        match = replace(match, elapsed_s=time.perf_counter() - t0)
        _LOGGER.debug("%r in %s -> %s %s (%.1f ms)", text, room, match.intent, match.kind.value, match.elapsed_s * 1e3)
        return match

    def _recognize(self, text: str, room: str | None) -> IntentMatch | None:
        area = self.index.area_named(room)
        context: dict[str, Any] = {"area": {"value": area, "text": area.lower()}} if area else {}
        handlers = IntentHandlers(self.index, self._now, room or "")
        result = recognize_best(text, self.templates.intents, slot_lists=self._lists,
                                intent_context=context, best_slot_name="name")
        if result is not None:
            return self._from_result(result, area, handlers)
        return self._from_unmatched(text, context, area, handlers)

    # --- pass 1: exact names -------------------------------------------------------------
    def _from_result(self, result: RecognizeResult, room_area: str | None,
                     handlers: IntentHandlers) -> IntentMatch | None:
        slots = _slots(result)
        name = result.entities.get("name")
        if name is None or name.is_wildcard or not isinstance(name.value, str):
            return handlers.handle(slots)
        domain = result.context.get("domain")
        found = self.index.by_name(name.value, {domain} if isinstance(domain, str) else None)
        if slots.area_said:
            found = tuple(e for e in found if e.area == slots.area)
        try:
            return handlers.handle(slots, self._one(found, name.value, slots.area, room_area))
        except EntityError as exc:
            return error_match(slots.intent, exc, self.index, slots.area)

    @staticmethod
    def _one(found: tuple[Entity, ...], said: str, area: str | None, room_area: str | None) -> tuple[Entity]:
        if not found:
            where = f" in the {spoken(area)}" if area else ""
            raise EntityError("entity-unknown", f"There is no {said}{where}.")
        if len(found) > 1:
            local = [e for e in found if e.area == room_area]
            if len(local) != 1:
                raise ambiguous(found)
            found = tuple(local)
        return (found[0],)

    # --- pass 2: unmatched names ---------------------------------------------------------
    def _from_unmatched(self, text: str, context: Mapping[str, Any], room_area: str | None,
                        handlers: IntentHandlers) -> IntentMatch | None:
        # The name list is left empty here: every name is "unmatched" text, which keeps this
        # pass independent of the number of entities; the index then resolves it fuzzily.
        candidates: list[tuple[tuple[int, int, int], RecognizeResult, str]] = []
        for r in recognize_all(text, self.templates.actions, slot_lists=self._unmatched_lists,
                               intent_context=dict(context), allow_unmatched_entities=True):
            unmatched = r.unmatched_entities
            if "name" not in unmatched or not set(unmatched) <= {"name", "domain"}:
                continue
            said = _strip_articles(getattr(unmatched["name"], "text", "").strip())
            if (not said or said == MISSING_ENTITY or len(said.split()) > self.max_name_words
                    or not _anchored(text, said) or _NOT_A_NAME.intersection(normalize(said).split())):
                continue
            candidates.append(((len(unmatched), -r.text_chunks_matched, -len(r.entities)), r, said))
        candidates.sort(key=lambda c: c[0])
        first_error: IntentMatch | None = None
        tried: set[tuple[str, str]] = set()
        for _, best, said in candidates:  # best parse first; the first that resolves wins
            if (best.intent.name, said) in tried:
                continue
            tried.add((best.intent.name, said))
            allowed: set[str] = set()
            for _, r, s in candidates:
                if r.intent.name == best.intent.name and s == said:
                    allowed |= set((r.intent_data.requires_context or {}).get("domain") or ())
            slots = _slots(best)
            try:
                entity = self.index.resolve(said, domain=allowed or None,
                                            area=slots.area if slots.area_said else None, prefer_area=room_area)
            except EntityError as exc:
                if exc.code in ("entity-unknown", "entity-unsure") and allowed <= {"scene", "script"}:
                    continue  # "[activate] {name}": any words fit a scene's name; not evidence of a command
                if exc.code == "entity-wrong-domain" and exc.candidates:
                    exc = self._wrong_domain(best.intent.name, exc.candidates[0], allowed)
                error = error_match(slots.intent, exc, self.index, slots.area)
                if first_error is None or (first_error.error_code == "entity-unknown"
                                           and exc.code == "entity-unsure"):
                    first_error = error  # a "did you mean" question beats "I don't know" of another parse
                continue
            return handlers.handle(slots, (entity,))
        return first_error

    def _wrong_domain(self, intent: str, entity_id: str, allowed: set[str]) -> EntityError:
        entity = self.index.require(entity_id)
        kind = entity.domain.replace("_", " ")
        if 0 < len(allowed) <= 2:
            message = f"{entity.name} is a {kind}, not a {join_or(sorted(a.replace('_', ' ') for a in allowed))}."
        else:
            message = f"I can't {_VERBS.get(intent, 'do that to')} the {spoken(entity.name)}; it is a {kind}."
        return EntityError("entity-wrong-domain", message, (entity.entity_id,))


_NOT_A_NAME = frozenset({"on", "off", "everything", "anything", "something", "all", "every", "it", "this",
                         "that", "these", "those", "i", "i'm", "you", "me", "please", "and", "or", "some", "any"})
"""Words that show an unmatched "name" is not a device's name ("switch everything off", "is anything
left on"): such sentences go to the LLM instead of being refused."""
_FILLER = frozenset({"the", "a", "an", "my", "our", "please", "can", "you", "could", "would", "me", "for"})


def numbers_as_digits(text: str) -> str:
    """``text`` with English number words as digits and "per cent" as "percent" ("set the lamp to
    forty per cent" -> "set the lamp to 40 percent"), as Home Assistant's templates expect; with
    ``text2num``'s ``alpha2digit`` (MIT). Isolated "one" is left alone ("one of the lamps")."""
    from text_to_num import alpha2digit

    out = alpha2digit(text, "en")
    return re.sub(r"\bper\s+cent\b", "percent", out, flags=re.IGNORECASE)


def _strip_articles(said: str) -> str:
    words = said.split()
    while len(words) > 1 and words[0].lower() in ("the", "a", "an", "my", "our"):
        words = words[1:]
    return " ".join(words)


def _anchored(text: str, said: str) -> bool:
    """True if ``text`` has words besides the unmatched name and fillers (a verb, a number):
    "turn on the jacuzzi" is a command about "jacuzzi"; "tell me a joke" is not a command about
    a device called "tell me a joke"."""
    rest = normalize(text).split()
    for word in normalize(said).split():
        if word in rest:
            rest.remove(word)
    return any(w not in _FILLER for w in rest)


def _slots(result: RecognizeResult) -> Slots:
    """Typed slots of a hassil result."""
    ents = result.entities

    def value(*names: str) -> Any:
        for n in names:
            if n in ents and ents[n].value not in (None, MISSING_ENTITY):
                return ents[n].value
        return None

    def number(*names: str) -> float | None:
        v = value(*names)
        return float(v) if isinstance(v, (int, float)) else None

    area = ents.get("area")
    domain = value("domain")
    return Slots(
        intent=result.intent.name,
        combination=str((result.intent_metadata or {}).get("slot_combination", "")),
        response=result.response or "default",
        area=area.value if area is not None and isinstance(area.value, str) else None,
        area_said=area is not None and area.text_span is not None,
        domain=domain if isinstance(domain, str) else None,
        device_class=value("device_class"),
        state=value("state"),
        number=number("brightness", "position", "temperature", "percentage", "volume_level"),
        volume_step=value("volume_step") if result.intent.name == "HassSetVolumeRelative" else None,
        hours=number("hours", "start_hours"),
        minutes=number("minutes", "start_minutes"),
        seconds=number("seconds", "start_seconds"),
        timer_name=str(value("name")).strip() if result.intent.name.endswith("Timer") and value("name") else None,
        command=value("conversation_command"),
    )

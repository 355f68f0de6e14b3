"""Recognised intents to replies: service calls, answers from state, timers, the clock.

:class:`IntentHandlers` turns the typed :class:`Slots` of one recognised Home Assistant intent
(and the entities they name) into an :class:`~roomvoice.skills.types.IntentMatch`. It is pure:
nothing here talks to Home Assistant; service calls are returned, not made.

Service mapping (Home Assistant's own intent handlers do the same):

* HassTurnOn / HassTurnOff: light, switch, fan, media_player, input_boolean, climate →
  ``turn_on`` / ``turn_off``; cover → ``open_cover`` / ``close_cover`` (valve likewise);
  lock → ``lock`` / ``unlock``; scene → ``turn_on``; script → ``turn_on`` / ``turn_off``.
* HassLightSet: light → ``turn_on`` with ``brightness_pct`` (0–100 %).
* HassSetPosition: cover → ``set_cover_position`` with ``position`` (0–100 % open).
* HassClimateSetTemperature: climate → ``set_temperature`` with ``temperature`` (degrees).
* HassFanSetSpeed: fan → ``set_percentage`` with ``percentage`` (0–100 %).
* Media players (as Home Assistant's ``media_player`` intents): HassMediaPause → ``media_pause``,
  HassMediaUnpause → ``media_play``, HassMediaNext → ``media_next_track``, HassMediaPrevious →
  ``media_previous_track``, HassMediaPlayerMute / Unmute → ``volume_mute`` with
  ``is_volume_muted``, HassSetVolume → ``volume_set`` with ``volume_level`` (0–1, said in %),
  HassSetVolumeRelative → ``volume_set`` at the known ``volume_level`` ± the step (10 % for
  "up"/"down", Home Assistant's default ``volume_step``), or ``volume_up`` / ``volume_down`` when
  the level is unknown. Without a name, pause / next / previous / volume act on the players that
  are ``playing`` (resume: ``paused``) in the area, as Home Assistant does; a named player is
  acted on whatever its state.
* HassGetState / HassClimateGetTemperature: answered from the index's last known state.
* HassStartTimer / HassCancelTimer: a :class:`~roomvoice.skills.types.TimerIntent`.
* HassGetCurrentTime / HassGetCurrentDate: the clock, worded as :mod:`roomvoice.skills.clock`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from roomvoice.skills.clock import answer_time_or_date
from roomvoice.skills.errors import EntityError
from roomvoice.skills.homeassistant.entities import Entity, EntityIndex, ambiguous, join_or, spoken
from roomvoice.skills.types import IntentKind, IntentMatch, ServiceCall, TimerIntent

_LOGGER = logging.getLogger(__name__)

ON_SERVICES = {"light": "turn_on", "switch": "turn_on", "fan": "turn_on", "media_player": "turn_on",
               "input_boolean": "turn_on", "climate": "turn_on", "cover": "open_cover",
               "valve": "open_valve", "lock": "lock", "scene": "turn_on", "script": "turn_on"}
"""HassTurnOn: domain → service."""
OFF_SERVICES = {"light": "turn_off", "switch": "turn_off", "fan": "turn_off", "media_player": "turn_off",
                "input_boolean": "turn_off", "climate": "turn_off", "cover": "close_cover",
                "valve": "close_valve", "lock": "unlock", "script": "turn_off"}
"""HassTurnOff: domain → service."""
_ON_VERBS = {"cover": "Opened", "valve": "Opened", "lock": "Locked", "scene": "Activated", "script": "Started"}
_OFF_VERBS = {"cover": "Closed", "valve": "Closed", "lock": "Unlocked", "script": "Stopped"}
_PLURALS = {"light": "lights", "fan": "fans", "switch": "switches", "cover": "covers", "lock": "locks",
            "climate": "thermostats", "media_player": "media players"}
MEDIA_INTENTS: dict[str, tuple[str, str]] = {
    "HassMediaPause": ("media_pause", "Paused {what}."),
    "HassMediaUnpause": ("media_play", "Resumed {what}."),
    "HassMediaNext": ("media_next_track", "Skipped to the next track on {what}."),
    "HassMediaPrevious": ("media_previous_track", "Went back to the previous track on {what}."),
    "HassMediaPlayerMute": ("volume_mute", "Muted {what}."),
    "HassMediaPlayerUnmute": ("volume_mute", "Unmuted {what}."),
}
"""Media intents without a value: intent → (``media_player`` service, speech template)."""
VOLUME_STEP_PCT = 10.0
"""Step of "volume up" / "volume down", in percent (Home Assistant's default ``volume_step``, 0.1)."""
_NEEDS_STATE = {"HassMediaPause": "playing", "HassMediaNext": "playing", "HassMediaPrevious": "playing",
                "HassMediaUnpause": "paused", "HassSetVolume": "playing", "HassSetVolumeRelative": "playing"}
_ENTITY_INTENTS = ("HassTurnOn", "HassTurnOff", "HassLightSet", "HassSetPosition",
                   "HassClimateSetTemperature", "HassClimateGetTemperature", "HassGetState", "HassFanSetSpeed",
                   "HassSetVolume", "HassSetVolumeRelative", *MEDIA_INTENTS)


@dataclass(frozen=True)
class Slots:
    """The slots of one recognised intent, typed.

    Attributes:
        intent: Home Assistant intent name ("HassTurnOn").
        combination: the template's ``slot_combination`` ("name_only", "area_domain", ...).
        response: the template's response key ("default", "one_yesno", "any", ...).
        area: the area said, or given by the room ("Kitchen"); None if neither.
        area_said: True if the area was in the words, not just the room.
        domain: a domain fixed by the template ("light" in "turn on the lights here").
        device_class: a device class said ("window", "garage").
        state: a state asked about ("on", "locked", "open").
        number: brightness/position/fan speed/volume (%) or temperature (degrees), when said.
        volume_step: for HassSetVolumeRelative, ``"up"``, ``"down"`` or a step in percent.
        hours / minutes / seconds: timer lengths.
        timer_name: a timer's name.
        command: for timers, the command to run at the end.
    """

    intent: str
    combination: str = ""
    response: str = "default"
    area: str | None = None
    area_said: bool = False
    domain: str | None = None
    device_class: str | None = None
    state: str | None = None
    number: float | None = None
    volume_step: str | float | None = None
    hours: float | None = None
    minutes: float | None = None
    seconds: float | None = None
    timer_name: str | None = None
    command: str | None = None


def error_match(intent: str, error: EntityError, index: EntityIndex | None = None,
                area: str | None = None) -> IntentMatch:
    """A CLARIFY (``entity-ambiguous``, ``entity-unsure``) or REFUSAL match for an entity error;
    nothing to execute."""
    kind = IntentKind.CLARIFY if error.code in ("entity-ambiguous", "entity-unsure") else IntentKind.REFUSAL
    entities = tuple(e for e in (index.get(c) for c in error.candidates) if e) if index else ()
    return IntentMatch(intent, kind, error.message, entities=entities, error_code=error.code, area=area)


class IntentHandlers:
    """Builds replies for recognised intents.

    Args:
        index: the entities.
        now: the current local time (for time/date questions).
        room: the room the command came from ("" if unknown), put into timer intents.
    """

    def __init__(self, index: EntityIndex, now: Callable[[], datetime], room: str = "") -> None:
        self.index = index
        self._now = now
        self.room = room

    def handle(self, slots: Slots, named: Sequence[Entity] = ()) -> IntentMatch | None:
        """The reply for ``slots``; ``named`` are the entities the name slot resolved to
        (empty when no name was said). None if this intent is not handled (ask the LLM)."""
        try:
            if slots.intent == "HassGetCurrentTime":
                return self._answer(slots, answer_time_or_date("what time is it", self._now()))
            if slots.intent == "HassGetCurrentDate":
                return self._answer(slots, answer_time_or_date("what is the date", self._now()))
            if slots.intent in ("HassStartTimer", "HassCancelTimer"):
                return self._timer(slots)
            if slots.intent not in _ENTITY_INTENTS:
                return None
            targets = tuple(named) or self._targets(slots)
            if slots.intent in ("HassTurnOn", "HassTurnOff"):
                return self._turn(slots, targets, named=bool(named))
            if slots.intent in ("HassGetState", "HassClimateGetTemperature"):
                return self._get_state(slots, targets, named=bool(named))
            if slots.intent in MEDIA_INTENTS or slots.intent.startswith("HassSetVolume"):
                return self._media(slots, self._playing(slots, targets, named=bool(named)))
            return self._set(slots, targets)
        except EntityError as exc:
            return error_match(slots.intent, exc, self.index, slots.area)

    # --- targets -------------------------------------------------------------------------
    def _targets(self, slots: Slots) -> tuple[Entity, ...]:
        domains = {"HassLightSet": {"light"}, "HassClimateSetTemperature": {"climate"},
                   "HassClimateGetTemperature": {"climate"}, "HassFanSetSpeed": {"fan"}}.get(slots.intent)
        if slots.intent in MEDIA_INTENTS or slots.intent.startswith("HassSetVolume"):
            domains = {"media_player"}
        if slots.domain:
            domains = {slots.domain}
        if slots.intent == "HassSetPosition" and not domains:
            domains = {"cover", "valve"}
        found = self.index.in_area(slots.area, domains, slots.device_class)
        if not found and domains == {"climate"} and not slots.area_said:
            found = self.index.in_area(None, domains)  # one thermostat for the house
            if len(found) > 1:
                raise ambiguous(found)
        if not found and slots.intent != "HassGetState":
            what = (f"{slots.device_class}s" if slots.device_class
                    else join_or([_PLURALS.get(d, d) for d in sorted(domains or ())]) or "devices")
            where = f" in the {spoken(slots.area)}" if slots.area else ""
            raise EntityError("entity-unknown", f"There are no {what}{where}.")
        return found

    # --- intents -------------------------------------------------------------------------
    def _turn(self, slots: Slots, targets: tuple[Entity, ...], named: bool) -> IntentMatch:
        on = slots.intent == "HassTurnOn"
        services, verbs = (ON_SERVICES, _ON_VERBS) if on else (OFF_SERVICES, _OFF_VERBS)
        domain = targets[0].domain
        if any(t.domain != domain for t in targets):
            raise ambiguous(targets)
        service = services.get(domain)
        if service is None:
            raise EntityError("entity-wrong-domain",
                              f"I can't turn {'on' if on else 'off'} {targets[0].name}; it is a "
                              f"{domain.replace('_', ' ')}.")
        verb = verbs.get(domain, "Turned on" if on else "Turned off")
        if named or len(targets) == 1 and not slots.domain and not slots.device_class:
            what = " and ".join(_the(t) for t in targets)
        else:
            noun = f"{slots.device_class}s" if slots.device_class else _PLURALS.get(domain, domain)
            what = f"the {noun} in the {spoken(slots.area)}" if slots.area else f"the {noun}"
        call = ServiceCall(domain, service, tuple(sorted(t.entity_id for t in targets)))
        return IntentMatch(slots.intent, IntentKind.ACTION, f"{verb} {what}.", call, targets, area=slots.area)

    def _set(self, slots: Slots, targets: tuple[Entity, ...]) -> IntentMatch | None:
        if slots.number is None:
            return None  # e.g. a light colour: not handled here, ask the LLM
        domain = targets[0].domain
        allowed = {"HassLightSet": {"light"}, "HassSetPosition": {"cover", "valve"}, "HassFanSetSpeed": {"fan"},
                   "HassClimateSetTemperature": {"climate"}}[slots.intent]
        for t in targets:
            self.index.require(t.entity_id, allowed)
        if any(t.domain != domain for t in targets):
            raise ambiguous(targets)
        if slots.intent == "HassLightSet":
            value = int(round(slots.number))
            call = ServiceCall("light", "turn_on", _ids(targets), {"brightness_pct": value})
            speech = f"Set {_what(slots, targets)} to {value}% brightness."
        elif slots.intent == "HassSetPosition":
            value = int(round(slots.number))
            service = "set_cover_position" if domain == "cover" else "set_valve_position"
            call = ServiceCall(domain, service, _ids(targets), {"position": value})
            speech = f"Set {_what(slots, targets)} to {value}%."
        elif slots.intent == "HassFanSetSpeed":
            value = int(round(slots.number))
            call = ServiceCall("fan", "set_percentage", _ids(targets), {"percentage": value})
            speech = f"Set {_what(slots, targets)} to {value}% speed."
        else:
            value = float(slots.number)
            call = ServiceCall("climate", "set_temperature", _ids(targets), {"temperature": value})
            speech = f"Set {_what(slots, targets)} to {_number(value)} degrees."
        return IntentMatch(slots.intent, IntentKind.ACTION, speech, call, targets, area=slots.area)

    def _playing(self, slots: Slots, targets: tuple[Entity, ...], named: bool) -> tuple[Entity, ...]:
        """Media players to act on: named ones as they are; otherwise, of several, those in the
        state the intent needs (pause: playing; resume: paused)."""
        for t in targets:
            self.index.require(t.entity_id, {"media_player"})
        needed = _NEEDS_STATE.get(slots.intent)
        if named or needed is None or (len(targets) == 1 and slots.intent.startswith("HassSetVolume")):
            return targets
        active = tuple(t for t in targets if t.state == needed)
        if not active:
            where = f" in the {spoken(slots.area)}" if slots.area else ""
            raise EntityError("entity-unknown", f"Nothing is {needed}{where}.")
        return active

    def _media(self, slots: Slots, targets: tuple[Entity, ...]) -> IntentMatch | None:
        what = _what(slots, targets)
        ids = _ids(targets)
        if slots.intent in MEDIA_INTENTS:
            service, template = MEDIA_INTENTS[slots.intent]
            data = {"is_volume_muted": slots.intent == "HassMediaPlayerMute"} if service == "volume_mute" else {}
            call = ServiceCall("media_player", service, ids, data)
            return IntentMatch(slots.intent, IntentKind.ACTION, template.format(what=what), call, targets,
                               area=slots.area)
        if slots.intent == "HassSetVolume":
            if slots.number is None:
                return None
            pct = max(0, min(100, int(round(slots.number))))
            call = ServiceCall("media_player", "volume_set", ids, {"volume_level": pct / 100})
            return IntentMatch(slots.intent, IntentKind.ACTION, f"Set the volume of {what} to {pct}%.", call,
                               targets, area=slots.area)
        step = slots.volume_step
        if step is None:
            return None
        delta = VOLUME_STEP_PCT if step == "up" else -VOLUME_STEP_PCT if step == "down" else float(step)
        direction = "up" if delta >= 0 else "down"
        levels = [t.attributes.get("volume_level") for t in targets]
        if all(isinstance(v, (int, float)) for v in levels) and len(set(levels)) == 1:
            pct = max(0, min(100, int(round(float(levels[0]) * 100 + delta))))
            call = ServiceCall("media_player", "volume_set", ids, {"volume_level": pct / 100})
            speech = f"Turned the volume {direction} on {what}, to {pct}%."
        elif isinstance(step, str):
            call = ServiceCall("media_player", f"volume_{direction}", ids)
            speech = f"Turned the volume {direction} on {what}."
        else:
            raise EntityError("entity-unknown", f"I don't know the volume of {what} now; say a level instead.")
        return IntentMatch(slots.intent, IntentKind.ACTION, speech, call, targets, area=slots.area)

    def _get_state(self, slots: Slots, targets: tuple[Entity, ...], named: bool) -> IntentMatch:
        if slots.intent == "HassClimateGetTemperature":
            entity = targets[0]
            return self._answer(slots, f"{_the(entity).capitalize()} reads {_state_text(entity)}.", targets)
        if named and slots.state is None:
            entity = targets[0]
            return self._answer(slots, f"{_the(entity).capitalize()} is {_state_text(entity)}.", targets)
        if named:
            entity = targets[0]
            if entity.state == slots.state:
                return self._answer(slots, f"Yes, {_the(entity)} is {entity.state}.", targets)
            return self._answer(slots, f"No, {_the(entity)} is {_state_text(entity)}.", targets)
        matched = sorted((t for t in targets if t.state == slots.state), key=lambda e: e.name)
        unmatched = sorted((t for t in targets if t.state != slots.state), key=lambda e: e.name)
        names = lambda ents: join_or([spoken(e.name) for e in ents]).replace(" or ", " and ")  # noqa: E731
        if slots.response == "how_many":
            text = f"{len(matched)}."
        elif slots.response == "all":
            text = "Yes." if not unmatched else f"No, {names(unmatched)} {'are' if len(unmatched) > 1 else 'is'} not {slots.state}."
        elif slots.response == "which":
            text = f"{names(matched).capitalize()}." if matched else "None."
        else:
            text = f"Yes, {names(matched)}." if matched else "No."
        return self._answer(slots, text, targets)

    def _timer(self, slots: Slots) -> IntentMatch:
        parts = [(slots.hours, 3600.0, "hour"), (slots.minutes, 60.0, "minute"), (slots.seconds, 1.0, "second")]
        said = [(v, unit, word) for v, unit, word in parts if v is not None]
        duration = sum(v * unit for v, unit, _ in said) if said else None
        length = " and ".join(f"{_number(v)} {word}{'' if v == 1 else 's'}" for v, _, word in said)
        if slots.intent == "HassStartTimer":
            action = "start"
            speech = f"Timer set for {length}." if length else "Timer set."
            if slots.command:
                speech = f"In {length}, I'll {slots.command}." if length else speech
        else:
            action, speech = "cancel", "Timer cancelled."
        timer = TimerIntent(action, duration, slots.timer_name, slots.command, self.room)
        return IntentMatch(slots.intent, IntentKind.TIMER, speech, timer=timer, area=slots.area)

    @staticmethod
    def _answer(slots: Slots, text: str | None, entities: tuple[Entity, ...] = ()) -> IntentMatch:
        return IntentMatch(slots.intent, IntentKind.ANSWER, text or "", entities=entities, area=slots.area)


def _ids(targets: Sequence[Entity]) -> tuple[str, ...]:
    return tuple(sorted(t.entity_id for t in targets))


def _the(entity: Entity) -> str:
    name = spoken(entity.name)
    return name if entity.domain in ("scene", "script") else f"the {name}"


def _what(slots: Slots, targets: Sequence[Entity]) -> str:
    if len(targets) == 1:
        return _the(targets[0])
    noun = _PLURALS.get(targets[0].domain, "devices")
    return f"the {noun} in the {spoken(slots.area)}" if slots.area else f"the {noun}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _state_text(entity: Entity) -> str:
    if entity.domain == "climate" and entity.attributes.get("current_temperature") is not None:
        return f"{_number(float(entity.attributes['current_temperature']))} degrees"
    unit = entity.attributes.get("unit_of_measurement")
    if unit:
        return f"{entity.state} {'degrees' if unit in ('°C', '°F') else unit}"
    return entity.state.replace("_", " ")

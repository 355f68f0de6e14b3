"""Timers: named, several at once, per room — start, cancel, list, "how much time is left".

:class:`TimerSkill` works on the ``timers`` table and can run in any process (the Assistant
deployment, a test): it stores a timer for a room; the room's
:class:`~roomvoice.skills.room_schedule.RoomSchedule` picks it up, runs it on the room's audio
clock and rings it there. "Time left" is read from the wall-clock end the room keeps in line
with its audio clock.

:func:`tools` gives the LLM tools ``start_timer``, ``cancel_timer``, ``list_timers`` and
``timer_time_left``; :meth:`TimerSkill.handle_intent` executes a fast-path
:class:`~roomvoice.skills.types.TimerIntent`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from roomvoice.skills.context import ContextSource, resolve
from roomvoice.skills.errors import ScheduleError
from roomvoice.skills.registry import Tool
from roomvoice.skills.timewords import MAX_TIMER_S, check_timer_duration, format_duration, parse_duration, utc_now
from roomvoice.skills.types import TimerIntent, ToolCall, ToolResult
from roomvoice.store.schedule import StoredTimer, TimerStore

logger = logging.getLogger(__name__)

MAX_TIMERS_PER_ROOM = 20
"""Most timers running at once in one room."""


def timer_title(timer: StoredTimer) -> str:
    """How a timer is called when spoken: ``"pizza timer"`` or ``"5 minutes timer"``."""
    return f"{timer.label} timer" if timer.label else f"{format_duration(timer.duration_s)} timer"


def clean_name(name: str | None) -> str:
    """A timer name as stored: trimmed, lower case, without a trailing "timer" ("Pizza Timer" → "pizza")."""
    words = " ".join((name or "").split()).lower()
    if words.endswith(" timer") or words == "timer":
        words = words[: -len("timer")].strip()
    return words.removeprefix("the ").strip()


class TimerSkill:
    """Timer operations over the store.

    Args:
        store: the timers table.
        max_duration_s: longest timer accepted, seconds.
        now: wall clock (aware datetimes); injected in tests.
    """

    def __init__(self, store: TimerStore, *, max_duration_s: float = MAX_TIMER_S,
                 now: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.max_duration_s = max_duration_s
        self.now = now

    def start(self, room: str, duration_s: float, name: str | None = None, *, user_id: int | None = None,
              audio_time_s: float | None = None) -> StoredTimer:
        """Start a timer in ``room``.

        Args:
            audio_time_s: the room's audio time now, when called from inside the room.

        Raises:
            ScheduleError: ``duration-invalid`` (≤ 0 or over the limit), ``timer-exists`` (a
                running timer of that room has that name), ``room-unknown`` (no room).
        """
        if not room:
            raise ScheduleError("room-unknown", "Which room should the timer ring in?")
        duration_s = check_timer_duration(duration_s, self.max_duration_s)
        label = clean_name(name)
        running = self.store.active(room)
        if len(running) >= MAX_TIMERS_PER_ROOM:
            raise ScheduleError("duration-invalid", f"There are already {len(running)} timers in the {room}.")
        now = self.now()
        if label:
            for t in running:
                if t.label == label:
                    left = format_duration(t.remaining_wall_s(now))
                    raise ScheduleError("timer-exists", f"There is already a {label} timer with {left} left.")
        timer = self.store.add(room, label, duration_s, now, user_id=user_id, started_audio_s=audio_time_s)
        logger.info("timer %s (%s) started in %s for %.1f s", timer.id, label or "-", room, duration_s)
        return timer

    def find(self, room: str, name: str | None = None, duration_s: float | None = None) -> StoredTimer:
        """The one running timer of ``room`` that ``name`` (or its length) identifies.

        With neither: the only running timer.

        Raises:
            ScheduleError: ``timer-not-found`` or ``timer-ambiguous`` (the message lists them).
        """
        running = self.store.active(room)
        label = clean_name(name)
        if label:
            matches = [t for t in running if t.label == label] or [t for t in running if label in t.label]
        elif duration_s is not None:
            matches = [t for t in running if abs(t.duration_s - duration_s) < 0.5]
        else:
            matches = running
        what = f"{label} timer" if label else (f"{format_duration(duration_s)} timer" if duration_s else "timer")
        if not matches:
            raise ScheduleError("timer-not-found", f"There is no {what} running" + (f" in the {room}." if room else "."))
        if len(matches) > 1:
            names = ", ".join(timer_title(t) for t in matches)
            raise ScheduleError("timer-ambiguous", f"Which one: {names}?")
        return matches[0]

    def cancel(self, room: str, name: str | None = None, duration_s: float | None = None) -> StoredTimer:
        """Cancel the timer :meth:`find` identifies; the room stops it at its next sync.

        Raises:
            ScheduleError: ``timer-not-found`` or ``timer-ambiguous``.
        """
        timer = self.find(room, name, duration_s)
        if not self.store.cancel(timer.id, self.now()):
            raise ScheduleError("timer-not-found", f"The {timer_title(timer)} has already finished.")
        logger.info("timer %s cancelled in %s", timer.id, room)
        return timer

    def active(self, room: str | None) -> list[StoredTimer]:
        """Running timers of ``room`` (all rooms for None/""), soonest first."""
        return self.store.active(room or None)

    def remaining_s(self, timer: StoredTimer) -> float:
        """Seconds left on ``timer`` (0 if due)."""
        return timer.remaining_wall_s(self.now())

    def describe(self, timers: Sequence[StoredTimer], room: str) -> str:
        """``"2 timers: pizza timer, 4 minutes left; 10 minutes timer, 9 minutes left."``"""
        if not timers:
            return "No timers are running" + (f" in the {room}." if room else ".")
        parts = [f"{timer_title(t)}{'' if t.room == room else f' in the {t.room}'}, "
                 f"{format_duration(self.remaining_s(t))} left" for t in timers]
        head = "1 timer" if len(timers) == 1 else f"{len(timers)} timers"
        return f"{head}: {'; '.join(parts)}."

    def handle_intent(self, intent: TimerIntent, *, user_id: int | None = None) -> str:
        """Run a fast-path timer intent and return what to say.

        Raises:
            ScheduleError: as :meth:`start` / :meth:`cancel`.
        """
        if intent.action == "start":
            if intent.duration_s is None:
                raise ScheduleError("duration-invalid", "How long should the timer run?")
            t = self.start(intent.room, intent.duration_s, intent.name, user_id=user_id)
            return f"{timer_title(t).capitalize()} started for {format_duration(t.duration_s)}."
        if intent.action == "cancel":
            t = self.cancel(intent.room, intent.name, intent.duration_s)
            return f"Cancelled the {timer_title(t)}."
        raise ScheduleError("timer-not-found", f"Unknown timer action {intent.action!r}.")


def _room(call: ToolCall, context: ContextSource) -> str:
    return str(call.arguments.get("room") or resolve(context).room)


def _duration(args: dict) -> float:
    if "seconds" in args:
        return float(args["seconds"])
    return parse_duration(str(args["duration"]))


def tools(skill: TimerSkill, context: ContextSource, rooms: Sequence[str] = ()) -> list[Tool]:
    """The timer tools for the LLM.

    Args:
        skill: the timer skill.
        context: the request's context (its ``room`` is the default room, ``user_id`` the owner).
        rooms: known room names; the optional ``room`` argument must be one of them.
    """
    room_prop: dict = {"type": "string", "description": "room the timer rings in (default: this room)"}
    if rooms:
        room_prop["enum"] = sorted(rooms)
    name_prop = {"type": "string", "maxLength": 60, "description": "the timer's name, e.g. pizza"}

    def start(call: ToolCall) -> ToolResult:
        args = dict(call.arguments)
        t = skill.start(_room(call, context), _duration(args), args.get("name"), user_id=resolve(context).user_id)
        return ToolResult(call.name, True, f"{timer_title(t).capitalize()} started for "
                                           f"{format_duration(t.duration_s)}.",
                          data={"timer_id": str(t.id), "room": t.room, "duration_s": t.duration_s})

    def cancel(call: ToolCall) -> ToolResult:
        args = call.arguments
        t = skill.cancel(_room(call, context), args.get("name"),
                         parse_duration(args["duration"]) if args.get("duration") else None)
        return ToolResult(call.name, True, f"Cancelled the {timer_title(t)}.", data={"timer_id": str(t.id)})

    def list_(call: ToolCall) -> ToolResult:
        room = _room(call, context)
        timers = skill.active(room)
        return ToolResult(call.name, True, skill.describe(timers, room), data={"timers": [
            {"name": timer_title(t), "room": t.room, "remaining_s": round(skill.remaining_s(t), 1)} for t in timers]})

    def left(call: ToolCall) -> ToolResult:
        t = skill.find(_room(call, context), call.arguments.get("name"))
        remaining = skill.remaining_s(t)
        return ToolResult(call.name, True, f"The {timer_title(t)} has {format_duration(remaining)} left.",
                          data={"remaining_s": round(remaining, 1)})

    duration_desc = "length in words, e.g. '10 minutes', '1 hour and 30 minutes'"
    return [
        Tool("start_timer", "Start a countdown timer in a room; it rings there when it ends.",
             {"type": "object", "additionalProperties": False,
              "properties": {"duration": {"type": "string", "minLength": 1, "maxLength": 60,
                                          "description": duration_desc},
                             "seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": skill.max_duration_s},
                             "name": name_prop, "room": room_prop},
              "oneOf": [{"required": ["duration"]}, {"required": ["seconds"]}]}, start),
        Tool("cancel_timer", "Cancel a running timer (by name, or its length; or the only one).",
             {"type": "object", "additionalProperties": False,
              "properties": {"name": name_prop, "duration": {"type": "string", "maxLength": 60},
                             "room": room_prop}}, cancel),
        Tool("list_timers", "List the running timers with the time left on each.",
             {"type": "object", "additionalProperties": False, "properties": {"room": room_prop}}, list_),
        Tool("timer_time_left", "Say how much time is left on a timer.",
             {"type": "object", "additionalProperties": False,
              "properties": {"name": name_prop, "room": room_prop}}, left),
    ]

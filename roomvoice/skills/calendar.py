"""Calendar events per user, with recurrence: add, "what's on tomorrow", delete.

Recurring events (RRULE) are stored once and expanded on reading with
:func:`~roomvoice.skills.timewords.occurrences` in the event's timezone, so a weekly meeting
at 09:00 stays at 09:00 local time across daylight-saving changes. :func:`expand` is the pure
expansion the skill and tests use.

:func:`tools` gives the LLM ``add_event``, ``list_events`` and ``delete_event``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from roomvoice.skills.context import ContextSource, SkillContext, resolve
from roomvoice.skills.errors import ScheduleError
from roomvoice.skills.registry import Tool
from roomvoice.skills.reminders import _REPEAT_DESC, best_match
from roomvoice.skills.timewords import describe_time, first_occurrence, occurrences, parse_rrule, parse_when, utc_now, zone
from roomvoice.skills.types import ToolCall, ToolResult
from roomvoice.store.schedule import CalendarEvent, CalendarStore

logger = logging.getLogger(__name__)

MAX_EVENT_HOURS = 24 * 14
"""Longest single event, in hours."""
MAX_WINDOW_DAYS = 366
"""Widest listing window, in days."""


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of an event.

    Attributes:
        event: the event (series).
        starts_at: this occurrence's start (aware, in the event's zone).
        ends_at: its end, or None.
    """

    event: CalendarEvent
    starts_at: datetime
    ends_at: datetime | None


def expand(events: Iterable[CalendarEvent], start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences of ``events`` overlapping ``[start, end)``, sorted by start.

    One-off events are kept if they overlap the window; series are expanded with
    ``dateutil.rrule`` in their own timezone (and each occurrence keeps the first one's length).
    """
    out: list[Occurrence] = []
    for e in events:
        length = (e.ends_at - e.starts_at) if e.ends_at else None
        lookback = length or timedelta(0)
        for s in occurrences(e.rrule, e.starts_at, start - lookback, end, e.timezone):
            finish = s + length if length is not None else None
            if (finish if finish is not None and finish > s else s + timedelta(microseconds=1)) > start:
                out.append(Occurrence(e, s, finish))
    return sorted(out, key=lambda o: (o.starts_at, o.event.title))


class CalendarSkill:
    """Calendar operations over the store.

    Args:
        store: the calendar table.
        now: wall clock used when the context has no fixed ``now``.
    """

    def __init__(self, store: CalendarStore, *, now: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.now = now

    def reference(self, ctx: SkillContext) -> datetime:
        """The request's "now" in its timezone (``ctx.now`` or the skill's clock)."""
        return ctx.local_reference(self.now)

    def add(self, ctx: SkillContext, title: str, when: str, *, duration_minutes: float | None = None,
            repeat: str | None = None, location: str = "") -> CalendarEvent:
        """Store an event for ``ctx.user_id`` starting at the natural time ``when``.

        Raises:
            ScheduleError: ``time-unparsable``, ``time-in-past``, ``duration-invalid``
                (≤ 0 or over :data:`MAX_EVENT_HOURS`), ``rrule-invalid``, ``event-empty``.
        """
        title = " ".join((title or "").split())
        if not title:
            raise ScheduleError("event-empty", "What is the event called?")
        rule = parse_rrule(repeat)
        starts = first_occurrence(rule, parse_when(when, self.reference(ctx), ctx.timezone), ctx.timezone)
        ends = None
        if duration_minutes is not None:
            if not 0 < duration_minutes <= MAX_EVENT_HOURS * 60:
                raise ScheduleError("duration-invalid", f"An event must last between 1 minute and "
                                                        f"{MAX_EVENT_HOURS // 24} days.")
            ends = starts + timedelta(minutes=duration_minutes)
        return self.store.add(ctx.user_id, title, starts, ends_at=ends, rrule=rule,
                              timezone=zone(ctx.timezone).key, location=" ".join(location.split()))

    def between(self, ctx: SkillContext, start: datetime, end: datetime) -> list[Occurrence]:
        """The user's occurrences overlapping ``[start, end)``.

        Raises:
            ScheduleError: ``duration-invalid`` for an empty or over-wide window.
        """
        if not start < end or end - start > timedelta(days=MAX_WINDOW_DAYS):
            raise ScheduleError("duration-invalid", f"Ask for a period of at most {MAX_WINDOW_DAYS} days.")
        return expand(self.store.candidates(ctx.user_id, end), start, end)

    def day(self, ctx: SkillContext, when: str = "today") -> tuple[datetime, list[Occurrence]]:
        """Occurrences on the local day ``when`` names ("today", "tomorrow", "next monday")."""
        ref = self.reference(ctx)
        if when.strip().lower() == "today":
            day = ref
        else:
            day = parse_when(when, ref.replace(hour=0, minute=0, second=0, microsecond=0), ctx.timezone)
        start = day.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, self.between(ctx, start, start + timedelta(days=1))

    def delete(self, ctx: SkillContext, title: str) -> CalendarEvent:
        """Delete the user's event (series) whose title best matches ``title``.

        Raises:
            ScheduleError: ``event-not-found`` / ``event-ambiguous``.
        """
        events = self.store.candidates(ctx.user_id, self.reference(ctx) + timedelta(days=10 * 366))
        e = best_match(events, title, lambda x: x.title, "event", "event-not-found")
        self.store.delete(ctx.user_id, e.id)
        return e


def describe_day(day: datetime, items: list[Occurrence], ref: datetime) -> str:
    """``"Tomorrow: standup at 9:00 AM; dentist at 2:30 PM."``"""
    label = describe_time(day, ref).rsplit(" at ", 1)[0]
    if not items:
        return f"Nothing on your calendar {label}."
    parts = [f"{o.event.title} at {describe_time(o.starts_at, ref).rsplit(' at ', 1)[1]}" for o in items[:12]]
    return f"{label[0].upper()}{label[1:]}: {'; '.join(parts)}."


def tools(skill: CalendarSkill, context: ContextSource) -> list[Tool]:
    """The calendar tools for the LLM, acting for ``context``'s user."""

    def add(call: ToolCall) -> ToolResult:
        ctx = resolve(context)
        a = call.arguments
        e = skill.add(ctx, a["title"], a["when"], duration_minutes=a.get("duration_minutes"),
                      repeat=a.get("repeat"), location=a.get("location", ""))
        return ToolResult(call.name, True, f"Added {e.title} {describe_time(e.starts_at, skill.reference(ctx))}"
                                           f"{', repeating' if e.rrule else ''}.",
                          data={"event_id": str(e.id), "starts_at": e.starts_at.isoformat(), "rrule": e.rrule})

    def list_(call: ToolCall) -> ToolResult:
        ctx = resolve(context)
        day, items = skill.day(ctx, call.arguments.get("day", "today"))
        return ToolResult(call.name, True, describe_day(day, items, skill.reference(ctx)),
                          data={"events": [{"title": o.event.title, "starts_at": o.starts_at.isoformat()}
                                           for o in items]})

    def delete(call: ToolCall) -> ToolResult:
        e = skill.delete(resolve(context), call.arguments["title"])
        return ToolResult(call.name, True, f"Deleted {e.title}{' (every occurrence)' if e.rrule else ''}.",
                          data={"event_id": str(e.id)})

    title = {"type": "string", "minLength": 1, "maxLength": 200}
    return [
        Tool("add_event", "Add an event to the user's calendar, optionally repeating.",
             {"type": "object", "additionalProperties": False, "required": ["title", "when"],
              "properties": {"title": title,
                             "when": {"type": "string", "minLength": 1, "maxLength": 80,
                                      "description": "start, e.g. 'next friday at 18:00'"},
                             "duration_minutes": {"type": "number", "exclusiveMinimum": 0,
                                                  "maximum": MAX_EVENT_HOURS * 60},
                             "repeat": {"type": "string", "maxLength": 300, "description": _REPEAT_DESC},
                             "location": {"type": "string", "maxLength": 200}}}, add),
        Tool("list_events", "Say what is on the user's calendar on a day.",
             {"type": "object", "additionalProperties": False,
              "properties": {"day": {"type": "string", "maxLength": 40,
                                     "description": "'today', 'tomorrow', 'next monday'..."}}}, list_),
        Tool("delete_event", "Delete an event (every occurrence of a repeating one) by its title.",
             {"type": "object", "additionalProperties": False, "required": ["title"],
              "properties": {"title": title}}, delete),
    ]

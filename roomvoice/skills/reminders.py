"""Reminders per user: "remind me to call mum tomorrow at 9", repeating ones, list, cancel.

:class:`ReminderSkill` parses the time with :func:`~roomvoice.skills.timewords.parse_when`
against the request's reference time and timezone, validates the recurrence, and stores the
reminder; rooms announce it when due (:class:`~roomvoice.skills.room_schedule.RoomSchedule`),
also after a restart ("While I was off, you had a reminder: …").

:func:`tools` gives the LLM ``add_reminder``, ``list_reminders`` and ``cancel_reminder``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from rapidfuzz import fuzz

from roomvoice.skills.context import ContextSource, SkillContext, resolve
from roomvoice.skills.errors import ScheduleError
from roomvoice.skills.registry import Tool
from roomvoice.skills.timewords import describe_time, first_occurrence, parse_rrule, parse_when, utc_now, zone
from roomvoice.skills.types import ToolCall, ToolResult
from roomvoice.store.schedule import Reminder, ReminderStore

logger = logging.getLogger(__name__)

_REPEAT_DESC = ("how it repeats: daily, weekly, weekdays, weekends, monthly, yearly, hourly, "
                "or an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=MO,TH; omit for once")


def best_match(items: list, text: str, key: Callable[[object], str], what: str, code: str) -> object:
    """The item whose ``key`` best matches ``text`` (rapidfuzz ``token_set_ratio`` ≥ 70).

    Raises:
        ScheduleError: ``code`` when nothing matches; ``<kind>-ambiguous`` when the best two
            score within 5 points of each other and differ.
    """
    scored = sorted(((fuzz.token_set_ratio(text.lower(), key(i).lower()), n, i) for n, i in enumerate(items)),
                    key=lambda s: (-s[0], s[1]))
    if not scored or scored[0][0] < 70:
        raise ScheduleError(code, f"I found no {what} matching {text.strip()[:60]!r}.")
    if len(scored) > 1 and scored[1][0] >= scored[0][0] - 5 and key(scored[1][2]) != key(scored[0][2]):
        kind = code.split("-")[0]
        raise ScheduleError(f"{kind}-ambiguous", f"Which one: {key(scored[0][2])} or {key(scored[1][2])}?")
    return scored[0][2]


class ReminderSkill:
    """Reminder operations over the store.

    Args:
        store: the reminders table.
        now: wall clock used when the context has no fixed ``now``.
    """

    def __init__(self, store: ReminderStore, *, now: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.now = now

    def reference(self, ctx: SkillContext) -> datetime:
        """The request's "now" in its timezone (``ctx.now`` or the skill's clock)."""
        return ctx.local_reference(self.now)

    def add(self, ctx: SkillContext, text: str, when: str, repeat: str | None = None,
            room: str | None = None) -> Reminder:
        """Store a reminder for ``ctx.user_id``.

        Args:
            text: what to remind of.
            when: natural time ("tomorrow at 9", "in 10 minutes") in ``ctx.timezone``.
            repeat: see :func:`~roomvoice.skills.timewords.parse_rrule`.
            room: room to speak it in (default: the request's room; none for chat).

        Raises:
            ScheduleError: ``time-unparsable``, ``time-in-past``, ``duration-invalid``,
                ``rrule-invalid``, ``reminder-empty``.
        """
        text = " ".join((text or "").split())
        if not text:
            raise ScheduleError("reminder-empty", "What should I remind you of?")
        rule = parse_rrule(repeat)
        due = first_occurrence(rule, parse_when(when, self.reference(ctx), ctx.timezone), ctx.timezone)
        r = self.store.add(ctx.user_id, text, due, room=room or ctx.room or None, rrule=rule, timezone=zone(ctx.timezone).key)
        logger.info("reminder %s for user %s at %s%s", r.id, ctx.user_id, due.isoformat(), f" ({rule})" if rule else "")
        return r

    def pending(self, ctx: SkillContext) -> list[Reminder]:
        """The user's pending reminders, soonest first."""
        return self.store.pending(ctx.user_id)

    def cancel(self, ctx: SkillContext, text: str) -> Reminder:
        """Cancel the user's pending reminder that best matches ``text``.

        Raises:
            ScheduleError: ``reminder-not-found`` / ``reminder-ambiguous``.
        """
        r = best_match(self.pending(ctx), text, lambda x: x.text, "reminder", "reminder-not-found")
        if not self.store.cancel(ctx.user_id, r.id, self.reference(ctx)):
            raise ScheduleError("reminder-not-found", "That reminder has already gone off.")
        return r

    def describe(self, ctx: SkillContext, reminders: list[Reminder]) -> str:
        """One sentence listing reminders with their next time."""
        if not reminders:
            return "You have no reminders."
        ref = self.reference(ctx)
        parts = [f"{r.text} {describe_time(r.due_at, ref)}{' (repeats)' if r.rrule else ''}" for r in reminders[:10]]
        head = "1 reminder" if len(reminders) == 1 else f"{len(reminders)} reminders"
        return f"You have {head}: {'; '.join(parts)}."


def tools(skill: ReminderSkill, context: ContextSource) -> list[Tool]:
    """The reminder tools for the LLM, acting for ``context``'s user."""

    def add(call: ToolCall) -> ToolResult:
        ctx = resolve(context)
        a = call.arguments
        r = skill.add(ctx, a["text"], a["when"], a.get("repeat"))
        when = describe_time(r.due_at, skill.reference(ctx))
        return ToolResult(call.name, True, f"I'll remind you to {r.text} {when}"
                                           f"{', repeating' if r.rrule else ''}.",
                          data={"reminder_id": str(r.id), "due_at": r.due_at.isoformat(), "rrule": r.rrule})

    def list_(call: ToolCall) -> ToolResult:
        ctx = resolve(context)
        items = skill.pending(ctx)
        return ToolResult(call.name, True, skill.describe(ctx, items),
                          data={"reminders": [{"text": r.text, "due_at": r.due_at.isoformat(), "rrule": r.rrule}
                                              for r in items]})

    def cancel(call: ToolCall) -> ToolResult:
        r = skill.cancel(resolve(context), call.arguments["text"])
        return ToolResult(call.name, True, f"Cancelled the reminder to {r.text}.", data={"reminder_id": str(r.id)})

    text_prop = {"type": "string", "minLength": 1, "maxLength": 300}
    return [
        Tool("add_reminder", "Remind the user of something at a time, optionally repeating.",
             {"type": "object", "additionalProperties": False, "required": ["text", "when"],
              "properties": {"text": {**text_prop, "description": "what to remind of, e.g. 'call mum'"},
                             "when": {"type": "string", "minLength": 1, "maxLength": 80,
                                      "description": "e.g. 'tomorrow at 9', 'in 10 minutes', 'next friday at 18:00'"},
                             "repeat": {"type": "string", "maxLength": 300, "description": _REPEAT_DESC}}}, add),
        Tool("list_reminders", "List the user's pending reminders.",
             {"type": "object", "additionalProperties": False, "properties": {}}, list_),
        Tool("cancel_reminder", "Cancel one of the user's reminders, named by its text.",
             {"type": "object", "additionalProperties": False, "required": ["text"],
              "properties": {"text": text_prop}}, cancel),
    ]

"""All time-based and personal tools at once (timers, reminders, calendar, to-do lists) over one
database, for :func:`roomvoice.skills.setup.build_registry` (``extra_tools``)."""

from __future__ import annotations

from collections.abc import Sequence

from roomvoice.skills import calendar, reminders, tasks, timers
from roomvoice.skills.context import ContextSource
from roomvoice.skills.registry import Tool
from roomvoice.store.db import Database
from roomvoice.store.schedule import CalendarStore, ReminderStore, TimerStore
from roomvoice.store.tasks import TaskStore


def schedule_tools(db: Database, context: ContextSource, rooms: Sequence[str] = ()) -> list[Tool]:
    """The timer, reminder, calendar and task tools acting for ``context``'s user and room.

    Args:
        db: the migrated database.
        context: a fixed :class:`~roomvoice.skills.context.SkillContext` or a callable giving the
            current request's one.
        rooms: known room names (timer tools accept only these).
    """
    return [
        *timers.tools(timers.TimerSkill(TimerStore(db)), context, rooms),
        *reminders.tools(reminders.ReminderSkill(ReminderStore(db)), context),
        *calendar.tools(calendar.CalendarSkill(CalendarStore(db)), context),
        *tasks.tools(tasks.TaskSkill(TaskStore(db)), context),
    ]

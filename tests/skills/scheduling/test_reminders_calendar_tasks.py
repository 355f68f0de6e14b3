"""Reminders and calendar events per user with recurrence, to-do lists with per-user isolation,
all in the real embedded PostgreSQL, through the skills and through their tools."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from roomvoice.skills.calendar import CalendarSkill
from roomvoice.skills.calendar import tools as calendar_tools
from roomvoice.skills.context import SkillContext
from roomvoice.skills.errors import ScheduleError
from roomvoice.skills.registry import ToolRegistry
from roomvoice.skills.reminders import ReminderSkill
from roomvoice.skills.reminders import tools as reminder_tools
from roomvoice.skills.room_schedule import RoomSchedule
from roomvoice.skills.tasks import TaskSkill
from roomvoice.skills.tasks import tools as task_tools
from roomvoice.store.schedule import CalendarStore, ReminderStore, TimerStore
from roomvoice.store.tasks import TaskStore
from tests.skills.scheduling.conftest import T0

PARIS = ZoneInfo("Europe/Paris")


def ctx_for(user, wall, room="kitchen") -> SkillContext:
    return SkillContext(user_id=user.id if user else None, room=room, timezone="Europe/Paris", now=wall())


def test_reminder_is_announced_in_its_room_when_due(db, wall, alice):
    store = ReminderStore(db)
    skill = ReminderSkill(store, now=wall)
    r = skill.add(ctx_for(alice, wall), "take the bread out", "in 10 minutes")
    assert r.due_at == T0 + timedelta(minutes=10) and r.room == "kitchen" and r.timezone == "Europe/Paris"
    kitchen = RoomSchedule("kitchen", TimerStore(db), store, wall_clock=wall)
    office = RoomSchedule("office", TimerStore(db), store, wall_clock=wall, roomless_reminders=True)
    assert kitchen.start(0.0) == [] and office.start(0.0) == []
    wall.advance(9 * 60)
    assert kitchen.advance(5.0, sync=True) == []
    wall.advance(60)
    assert office.advance(6.0, sync=True) == []  # not the office's reminder
    [said] = kitchen.advance(6.0, sync=True)
    assert said.text == "Reminder: take the bread out." and not said.missed and said.kind == "reminder"
    assert kitchen.advance(7.0, sync=True) == [] and store.pending(alice.id) == []


def test_repeating_reminder_moves_to_its_next_occurrence(db, wall, alice):
    store = ReminderStore(db)
    skill = ReminderSkill(store, now=wall)
    skill.add(ctx_for(alice, wall), "water the plants", "tomorrow at 9", repeat="weekdays")
    [r] = store.pending(alice.id)
    assert r.due_at == datetime(2026, 11, 23, 9, 0, tzinfo=PARIS)  # "tomorrow" is a Sunday
    room = RoomSchedule("kitchen", TimerStore(db), store, wall_clock=wall)
    room.start(0.0)
    heard = []
    for hours in range(0, 24 * 9, 1):  # nine days, one sync an hour
        wall.now = T0.replace(minute=0) + timedelta(hours=hours)
        heard += [(wall.now.astimezone(PARIS), a.text) for a in room.advance(float(hours), sync=True)]
    assert [h[0].strftime("%a %d %H") for h in heard] == [
        "Mon 23 09", "Tue 24 09", "Wed 25 09", "Thu 26 09", "Fri 27 09", "Mon 30 09"]
    assert {h[1] for h in heard} == {"Reminder: water the plants."}
    assert store.pending(alice.id)[0].due_at == datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)


def test_reminders_are_per_user_and_refuse_bad_times(db, wall, alice, bob):
    skill = ReminderSkill(ReminderStore(db), now=wall)
    skill.add(ctx_for(alice, wall), "call mum", "tomorrow at 9")
    skill.add(ctx_for(bob, wall), "call dad", "tomorrow at 10")
    assert [r.text for r in skill.pending(ctx_for(alice, wall))] == ["call mum"]
    with pytest.raises(ScheduleError) as exc:
        skill.cancel(ctx_for(bob, wall), "call mum")
    assert exc.value.code == "reminder-not-found"
    for when, repeat, code in (("yesterday at 9", None, "time-in-past"), ("in 40 years", None, "duration-invalid"),
                               ("whenever", None, "time-unparsable"), ("tomorrow", "FREQ=SECONDLY", "rrule-invalid")):
        with pytest.raises(ScheduleError) as exc:
            skill.add(ctx_for(alice, wall), "x", when, repeat)
        assert exc.value.code == code
    assert len(skill.pending(ctx_for(alice, wall))) == 1  # nothing refused was stored
    assert skill.cancel(ctx_for(alice, wall), "mum").text == "call mum"


def test_reminder_tools(db, wall, alice):
    ctx = ctx_for(alice, wall)
    registry = ToolRegistry(reminder_tools(ReminderSkill(ReminderStore(db), now=wall), ctx))
    added = registry.dispatch("add_reminder", {"text": "call mum", "when": "tomorrow at 9", "repeat": "daily"})
    assert added.ok and added.message == "I'll remind you to call mum tomorrow at 9:00 AM, repeating."
    assert registry.dispatch("list_reminders", {}).message == \
        "You have 1 reminder: call mum tomorrow at 9:00 AM (repeats)."
    assert registry.dispatch("add_reminder", {"text": "x", "when": "last week"}).code == "time-in-past"
    assert registry.dispatch("add_reminder", {"text": "x"}).code == "tool-bad-arguments"
    assert registry.dispatch("add_reminder", {"text": "x", "when": 9}).code == "tool-bad-arguments"
    assert registry.dispatch("cancel_reminder", {"text": "call mum"}).ok


def test_calendar_recurrence_expansion_per_user(db, wall, alice, bob):
    skill = CalendarSkill(CalendarStore(db), now=wall)
    a, b = ctx_for(alice, wall), ctx_for(bob, wall)
    skill.add(a, "standup", "monday at 9:30", duration_minutes=15, repeat="FREQ=WEEKLY;BYDAY=MO,WE,FR")
    skill.add(a, "dentist", "next friday at 14:00", duration_minutes=45, location="High Street")
    skill.add(b, "football", "tomorrow at 10", repeat="weekly")
    start = datetime(2026, 11, 23, tzinfo=PARIS)
    week = skill.between(a, start, start + timedelta(days=7))
    assert [(o.event.title, o.starts_at.strftime("%a %d %H:%M")) for o in week] == [
        ("standup", "Mon 23 09:30"), ("standup", "Wed 25 09:30"), ("standup", "Fri 27 09:30"),
        ("dentist", "Fri 27 14:00")]
    assert week[0].ends_at - week[0].starts_at == timedelta(minutes=15)
    assert [o.event.title for o in skill.between(b, start, start + timedelta(days=14))] == ["football"] * 2
    day, items = skill.day(a, "next friday")
    assert day.day == 27 and [o.event.title for o in items] == ["standup", "dentist"]
    with pytest.raises(ScheduleError):
        skill.delete(b, "dentist")  # not bob's
    assert skill.delete(a, "standup").rrule and [o.event.title for o in skill.between(a, start, start + timedelta(7))] \
        == ["dentist"]


def test_calendar_tools(db, wall, alice):
    registry = ToolRegistry(calendar_tools(CalendarSkill(CalendarStore(db), now=wall), ctx_for(alice, wall)))
    assert registry.dispatch("add_event", {"title": "dinner with Sam", "when": "tomorrow at 19:30"}).ok
    listed = registry.dispatch("list_events", {"day": "tomorrow"})
    assert listed.message == "Tomorrow: dinner with Sam at 7:30 PM."
    assert registry.dispatch("list_events", {}).message == "Nothing on your calendar today."
    assert registry.dispatch("add_event", {"title": "x", "when": "tomorrow", "duration_minutes": -5}).code == \
        "tool-bad-arguments"
    assert registry.dispatch("add_event", {"title": "x", "when": "yesterday"}).code == "time-in-past"


def test_tasks_add_list_complete_per_user(db, wall, alice, bob):
    skill = TaskSkill(TaskStore(db), now=wall)
    a, b = ctx_for(alice, wall), ctx_for(bob, wall)
    for item in ("milk", "eggs", "olive oil"):
        skill.add(a, item, "Shopping")
    skill.add(a, "call the plumber")
    skill.add(b, "milk", "shopping")
    assert [t.text for t in skill.open(a, "shopping ")] == ["milk", "eggs", "olive oil"]
    assert [t.text for t in skill.open(a)] == ["call the plumber"]
    assert skill.complete(a, "the milk", "shopping").text == "milk"
    assert [t.text for t in skill.open(a, "shopping")] == ["eggs", "olive oil"]
    assert [t.text for t in skill.open(b, "shopping")] == ["milk"]  # bob's milk is untouched
    with pytest.raises(ScheduleError) as exc:
        skill.complete(b, "olive oil", "shopping")  # alice's task: invisible to bob
    assert exc.value.code == "task-not-found"
    assert skill.store.lists(alice.id) == {"default": 1, "shopping": 2}


def test_task_tools(db, wall, alice):
    registry = ToolRegistry(task_tools(TaskSkill(TaskStore(db), now=wall), ctx_for(alice, wall)))
    assert registry.dispatch("add_task", {"text": "buy stamps"}).message == "Added buy stamps to your to-do list."
    assert registry.dispatch("add_task", {"text": "bread", "list": "shopping"}).ok
    assert registry.dispatch("list_tasks", {"list": "shopping"}).message == "Your shopping list has 1 item: bread."
    assert registry.dispatch("complete_task", {"text": "stamps"}).message == "Marked buy stamps as done."
    assert registry.dispatch("list_tasks", {}).message == "Your to-do list is empty."
    assert registry.dispatch("complete_task", {"text": "stamps"}).code == "task-not-found"
    assert registry.dispatch("add_task", {"text": ["a"]}).code == "tool-bad-arguments"
    assert registry.dispatch("add_task", {"text": "x", "user_id": 1}).code == "tool-bad-arguments"

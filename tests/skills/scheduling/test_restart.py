"""A restart of every process: new database handles, stores and schedules over the same
PostgreSQL database reload pending timers and announce what fell due while everything was down."""

from __future__ import annotations

from datetime import timedelta

import pytest

from roomvoice.skills.context import SkillContext
from roomvoice.skills.reminders import ReminderSkill
from roomvoice.skills.room_schedule import RoomSchedule
from roomvoice.skills.timers import TimerSkill
from roomvoice.store.db import Database
from roomvoice.store.schedule import ReminderStore, TimerStore
from tests.skills.scheduling.conftest import T0
from tests.skills.scheduling.test_timers import run_audio


def schedule_over(url: str, wall) -> tuple[Database, RoomSchedule]:
    """What a (re)started room actor builds: its own pool, stores and schedule."""
    db = Database(url, connect_timeout_s=2.0, acquire_timeout_s=2.0)
    return db, RoomSchedule("kitchen", TimerStore(db), ReminderStore(db), wall_clock=wall)


def test_restart_reloads_pending_timers_and_announces_missed_items(db, db_url, wall, alice):
    ctx = SkillContext(user_id=alice.id, room="kitchen", timezone="Europe/Paris")
    reminders = ReminderSkill(ReminderStore(db), now=wall)
    reminders.add(ctx, "take the pills", "in 5 minutes")
    reminders.add(ctx, "feed the cat", "in 2 minutes", repeat="daily")
    reminders.add(ctx, "call the bank", "tomorrow at 9")

    first_db, first = schedule_over(db_url, wall)
    assert first.start(0.0) == []
    pizza = first.start_timer(3600.0, "pizza", 0.0)
    first.start_timer(60.0, "tea", 0.0)
    TimerSkill(TimerStore(db), now=wall).start("kitchen", 20.0, "eggs")  # set during the turn ending at 0.0
    assert first.advance(0.0, sync=True) == []
    heard = run_audio(first, 0.0, 30.0, wall)  # a live room: audio and wall clock move together
    assert [a.text for _, a in heard] == ["Your eggs timer is done."]
    first_db.close()  # every process goes down ...

    wall.advance(600)  # ... for ten minutes; the room resumes its audio where it was saved
    second_db, second = schedule_over(db_url, wall)
    said = second.start(30.0)
    assert [a.text for a in said] == [
        "While I was off, your tea timer finished.",
        "While I was off, you had a reminder: feed the cat.",
        "While I was off, you had a reminder: take the pills.",
    ]
    assert all(a.missed for a in said)
    # pizza: 3570 s left on the audio clock but only 2970 s on the wall clock -> the sooner
    assert second.remaining_s(pizza.id) == pytest.approx(3600 - 630)
    stored = second.timers.get(pizza.id)
    assert stored.due_audio_s == pytest.approx(30.0 + 2970) and stored.ends_at == T0 + timedelta(seconds=3600)
    pending = {r.text: r for r in second.reminders.pending(alice.id)}
    assert set(pending) == {"feed the cat", "call the bank"}  # the daily one moved to tomorrow
    assert pending["feed the cat"].due_at == T0 + timedelta(days=1, minutes=2)
    second_db.close()

    third_db, third = schedule_over(db_url, wall)  # a second restart announces nothing twice
    assert third.start(31.0) == []
    wall.advance(2970)
    [rang] = third.advance(31.0 + 2970, sync=True)
    assert rang.text == "Your pizza timer is done." and not rang.missed
    third_db.close()


def test_file_fed_room_resumes_on_its_audio_clock(db, db_url, wall):
    """A room fed from a file runs faster than the wall clock: after a quick restart its timer
    keeps the audio time it had left, not the (longer) wall time."""
    first_db, first = schedule_over(db_url, wall)
    first.start(0.0)
    timer = first.start_timer(100.0, "bread", 0.0)
    run_audio(first, 0.0, 50.0)
    wall.advance(5)  # 50 s of audio in 5 s of wall time
    assert first.advance(50.0, sync=True) == []  # the sync corrects the stored wall-clock end
    assert first.timers.get(timer.id).ends_at == T0 + timedelta(seconds=55)
    first_db.close()
    wall.advance(1)
    second_db, second = schedule_over(db_url, wall)
    assert second.start(50.0) == []
    assert second.remaining_s(timer.id) == pytest.approx(49.0)  # min(50 audio, 49 wall)
    second_db.close()

"""Timers: the pure audio-time wheel, and timers stored in PostgreSQL that ring in the room
they were set in, on that room's audio clock (several at once, cancel, time left, tools)."""

from __future__ import annotations

import json

import pytest

from roomvoice.skills.context import SkillContext
from roomvoice.skills.errors import ScheduleError
from roomvoice.skills.registry import ToolRegistry
from roomvoice.skills.room_schedule import RoomSchedule
from roomvoice.skills.timer_wheel import TimerWheel
from roomvoice.skills.timers import TimerSkill, tools
from roomvoice.skills.types import TimerIntent
from roomvoice.store.schedule import TimerStore

CHUNK_S = 0.08


def run_audio(schedule: RoomSchedule, start_s: float, end_s: float, wall=None) -> list:
    """Advance a room's schedule chunk by chunk (80 ms) from start_s to end_s; all announcements.

    With ``wall`` (a hand-moved clock) the wall clock moves with the audio (a live microphone);
    without, audio runs while the wall clock stands still (a file played very fast).
    """
    out, t = [], start_s
    while t < end_s - 1e-9:
        t = round(t + CHUNK_S, 6)
        if wall is not None:
            wall.advance(CHUNK_S)
        out.extend((t, a) for a in schedule.advance(t))
    return out


def test_wheel_returns_due_items_in_order_and_never_goes_back():
    wheel: TimerWheel[str] = TimerWheel(10.0)
    wheel.add("b", 15.0, "B")
    wheel.add("a", 12.0, "A")
    wheel.add("c", 12.0, "C")
    assert [d.key for d in wheel.pending()] == ["a", "c", "b"]
    assert wheel.advance(11.99) == []
    assert [(d.key, d.payload) for d in wheel.advance(12.0)] == [("a", "A"), ("c", "C")]
    assert wheel.advance(5.0) == [] and wheel.now_s == 12.0  # time never goes backwards
    assert wheel.remaining_s("b") == pytest.approx(3.0)
    assert wheel.cancel("b") and not wheel.cancel("b")
    assert wheel.advance(100.0) == [] and len(wheel) == 0


def test_wheel_reschedule_keeps_only_the_latest_due_time():
    wheel: TimerWheel[str] = TimerWheel()
    wheel.add("x", 1.0)
    wheel.add("x", 3.0)
    assert wheel.advance(2.0) == []
    assert [d.due_s for d in wheel.advance(3.0)] == [3.0]
    with pytest.raises(ValueError):
        wheel.add("y", float("nan"))


def test_timer_rings_in_its_room_at_the_right_audio_time(db, wall):
    store = TimerStore(db)
    skill = TimerSkill(store, now=wall)
    kitchen, office = RoomSchedule("kitchen", store, wall_clock=wall), RoomSchedule("office", store, wall_clock=wall)
    assert kitchen.start(100.0) == [] and office.start(7.0) == []
    skill.start("kitchen", 2.0, "pasta")  # a tool call during a turn at audio 100.0 ...
    assert kitchen.advance(100.0, sync=True) == []  # ... and the room syncs when the turn ends
    # the file-fed kitchen runs 10x faster than the wall clock: only 0.3 s of wall time passes
    heard = run_audio(kitchen, 100.0, 103.0)
    wall.advance(0.3)
    assert [(round(t, 2), a.text) for t, a in heard] == [(102.0, "Your pasta timer is done.")]
    assert heard[0][1].room == "kitchen" and heard[0][1].kind == "timer"
    assert run_audio(office, 7.0, 12.0) == []  # the office never hears the kitchen's timer
    assert store.active() == [] and store.get(heard[0][1].item_id).fired_at is not None


def test_several_timers_and_cancel(db, wall):
    store = TimerStore(db)
    skill = TimerSkill(store, now=wall)
    room = RoomSchedule("kitchen", store, wall_clock=wall, sync_every_s=0.5)
    room.start(0.0)
    for seconds, name in ((3.0, "eggs"), (1.0, "tea"), (2.0, None), (5.0, "bread")):
        room.start_timer(seconds, name or "", 0.0) if name != "tea" else skill.start("kitchen", seconds, name)
    assert [t.label for t in skill.active("kitchen")] == ["tea", "", "eggs", "bread"]
    with pytest.raises(ScheduleError) as exc:
        skill.start("kitchen", 60, "Eggs timer")
    assert exc.value.code == "timer-exists"
    skill.cancel("kitchen", "bread")
    assert room.advance(0.0, sync=True) == []  # the turn ends: the room syncs
    heard = run_audio(room, 0.0, 8.0)
    texts = [a.text for _, a in heard]
    assert texts == ["Your tea timer is done.", "Your 2 seconds timer is done.", "Your eggs timer is done."]
    # each rings on the first 80 ms chunk boundary at or after its due time
    assert [round(t, 2) for t, _ in heard] == [1.04, 2.0, 3.04]
    assert skill.active("kitchen") == []
    with pytest.raises(ScheduleError) as exc:
        skill.cancel("kitchen", "bread")
    assert exc.value.code == "timer-not-found"


def test_cancel_and_time_left_identify_the_timer(db, wall):
    store = TimerStore(db)
    skill = TimerSkill(store, now=wall)
    skill.start("kitchen", 300, "pizza")
    skill.start("kitchen", 600)
    with pytest.raises(ScheduleError) as exc:
        skill.find("kitchen")
    assert exc.value.code == "timer-ambiguous" and "pizza timer" in exc.value.message
    wall.advance(60)
    assert skill.remaining_s(skill.find("kitchen", "pizza")) == pytest.approx(240)
    assert skill.cancel("kitchen", duration_s=600).duration_s == 600
    assert skill.handle_intent(TimerIntent("cancel", room="kitchen")) == "Cancelled the pizza timer."
    assert skill.handle_intent(TimerIntent("start", 90, "Tea", room="office")) == "Tea timer started for 1 minute and 30 seconds."


@pytest.mark.parametrize("seconds", [0, -5, 2 * 86400, 400 * 86400])
def test_absurd_timer_lengths_are_refused(db, wall, seconds):
    skill = TimerSkill(TimerStore(db), now=wall)
    with pytest.raises(ScheduleError) as exc:
        skill.start("kitchen", seconds, "x")
    assert exc.value.code == "duration-invalid"
    assert skill.active(None) == []


def test_cancel_between_syncs_stops_the_ring(db, wall):
    store = TimerStore(db)
    room = RoomSchedule("kitchen", store, wall_clock=wall, sync_every_s=100.0)
    room.start(0.0)
    timer = room.start_timer(1.0, "tea", 0.0)
    TimerSkill(store, now=wall).cancel("kitchen", "tea")  # from another process
    assert run_audio(room, 0.0, 2.0) == []  # the wheel's item fell due but the database said cancelled
    assert store.get(timer.id).cancelled_at is not None


def test_timer_tools_validate_and_run(db, wall):
    store = TimerStore(db)
    ctx = SkillContext(user_id=None, room="kitchen")
    registry = ToolRegistry(tools(TimerSkill(store, now=wall), ctx, rooms=["kitchen", "office"]))
    ok = registry.dispatch("start_timer", json.dumps({"duration": "10 minutes", "name": "pizza"}))
    assert ok.ok and ok.message == "Pizza timer started for 10 minutes." and ok.data["room"] == "kitchen"
    assert registry.dispatch("start_timer", {"seconds": 30, "room": "office"}).ok
    wall.advance(90)
    left = registry.dispatch("timer_time_left", {"name": "pizza"})
    assert left.ok and left.message == "The pizza timer has 8 minutes and 30 seconds left."
    listed = registry.dispatch("list_timers", {})
    assert listed.message.startswith("1 timer: pizza timer, 8 minutes and 30 seconds left")
    refused = [
        registry.dispatch("start_timer", {"duration": 10}),  # wrong type
        registry.dispatch("start_timer", {"duration": "5 minutes", "seconds": 300}),  # both
        registry.dispatch("start_timer", {"seconds": 60, "room": "garage"}),  # unknown room
        registry.dispatch("start_timer", {"seconds": 60, "shell": "rm -rf /"}),  # extra field
        registry.dispatch("start_timer", "not json"),
        registry.dispatch("start_timers", {"seconds": 60}),  # unknown tool
    ]
    assert [r.code for r in refused] == ["tool-bad-arguments"] * 5 + ["tool-unknown"]
    for r in (registry.dispatch("start_timer", {"duration": "two years"}),
              registry.dispatch("start_timer", {"duration": "0 seconds"})):
        assert not r.ok and r.code == "duration-invalid"
    assert len(store.active()) == 2  # nothing refused was stored
    assert registry.dispatch("cancel_timer", {"name": "pizza"}).message == "Cancelled the pizza timer."


def test_syncs_are_bounded_by_wall_time_in_a_fast_file_room(db):
    from roomvoice.skills.room_schedule import RoomSchedule
    from roomvoice.store.schedule import TimerStore

    wall = [0.0]
    store = TimerStore(db)
    calls = []
    real_active = store.active
    store.active = lambda room: calls.append(room) or real_active(room)
    schedule = RoomSchedule("kitchen", store, None, sync_every_s=1.0, min_sync_wall_s=1.0, monotonic=lambda: wall[0])
    schedule.start(0.0)
    for i in range(1, 101):  # 100 audio seconds in 0.99 wall seconds: no extra sync
        wall[0] = i * 0.0099
        schedule.advance(float(i))
    assert len(calls) == 1
    wall[0] = 1.5
    schedule.advance(101.0)
    assert len(calls) == 2
    schedule.advance(101.1, sync=True)  # an explicit sync (after a turn) always runs
    assert len(calls) == 3

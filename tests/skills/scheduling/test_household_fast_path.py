"""The household skills through the assistant: phrasings answered without the LLM, each becoming a
tool call validated by the registry, acting for the user who asked (chat) or the household (voice).

Real PostgreSQL; the assistant core is the real one with the real intent recogniser; no LLM is
needed (a request that reaches the LLM fails the test through ``NoLLM``).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from roomvoice.config import SkillsConfig
from roomvoice.events import Announcement, AssistantRequest
from roomvoice.assistant import AssistantCore
from roomvoice.skills.personal import PersonalSkills, PlannedCall
from roomvoice.skills.setup import build_skills
from roomvoice.store.schedule import ReminderStore, TimerStore
from roomvoice.store.tasks import TaskStore

ROOMS = ("kitchen", "office", "living_room")


class Announced:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str]] = []

    def __call__(self, rooms, text):
        self.calls.append((list(rooms), text))
        return [Announcement(r, text) for r in (rooms or ROOMS)]


@pytest.fixture
def announced() -> Announced:
    return Announced()


@pytest.fixture
def core(db, announced) -> AssistantCore:
    personal = PersonalSkills(db, ROOMS, announcer=announced)
    skills = build_skills(SkillsConfig(), timezone="UTC", personal=personal,
                          now=lambda: datetime(2026, 11, 21, 14, 7, tzinfo=timezone.utc))
    return AssistantCore("You are a test.", 2, "UTC", skills=skills)


def ask(core: AssistantCore, text: str, *, room: str = "", user=None):
    request = AssistantRequest(text, room=room, user_id=user.id if user else None,
                               role=(user.role.value if user else "member"))
    reply = core.fast_reply(request)
    assert reply is not None, f"{text!r} was not answered by the fast path"
    return reply


@pytest.mark.parametrize("text,call", [
    ("Remind me to call mum tomorrow at 9", PlannedCall("add_reminder", {"text": "call mum", "when": "tomorrow at 9"})),
    ("remind me in 10 minutes to check the oven", PlannedCall("add_reminder", {"text": "check the oven",
                                                                              "when": "in 10 minutes"})),
    ("Remind me to water the plants every day at 8",
     PlannedCall("add_reminder", {"text": "water the plants", "when": "at 8", "repeat": "every day"})),
    ("What are my reminders?", PlannedCall("list_reminders", {})),
    ("Add milk to my shopping list", PlannedCall("add_task", {"text": "milk", "list": "shopping"})),
    ("add call the plumber to my to-do list", PlannedCall("add_task", {"text": "call the plumber"})),
    ("What's on my shopping list?", PlannedCall("list_tasks", {"list": "shopping"})),
    ("Mark milk as done on my shopping list", PlannedCall("complete_task", {"text": "milk", "list": "shopping"})),
    ("What's on my calendar tomorrow?", PlannedCall("list_events", {"day": "tomorrow"})),
    ("what do i have today", PlannedCall("list_events", {"day": "today"})),
    ("Put dentist on my calendar on friday at 3 pm", PlannedCall("add_event", {"title": "dentist",
                                                                               "when": "on friday at 3 pm"})),
    ("Is anyone in the office?", PlannedCall("room_presence", {"room": "office"})),
    ("Take a snapshot in the living room", PlannedCall("camera_snapshot", {"room": "living_room"})),
    ("Announce dinner is ready in the kitchen", PlannedCall("announce", {"text": "Dinner is ready.",
                                                                         "rooms": ["kitchen"]})),
])
def test_phrasings_become_tool_calls(db, announced, text, call):
    assert PersonalSkills(db, ROOMS, announcer=announced).plan(text) == call


@pytest.mark.parametrize("text", ["Turn on the kitchen lights", "Tell me a joke", "remind me",
                                  "open the garage door", "What time is it?", "add"])
def test_other_requests_are_not_taken(db, announced, text):
    assert PersonalSkills(db, ROOMS, announcer=announced).plan(text) is None


def test_tasks_are_per_user_through_chat(core, db, alice, bob):
    r = ask(core, "Add milk to my shopping list", user=alice)
    assert r.source == "fast_path" and "milk" in r.speech.lower() and r.tool_calls[0].ok
    ask(core, "Add eggs to my shopping list", user=alice)
    ask(core, "Add nails to my shopping list", user=bob)
    assert ask(core, "What's on my shopping list?", user=alice).speech == \
        "Your shopping list has 2 items: milk, eggs."
    assert ask(core, "What's on my shopping list?", user=bob).speech == "Your shopping list has 1 item: nails."
    done = ask(core, "Mark milk as done on my shopping list", user=alice)
    assert done.tool_calls[0].ok
    assert [t.text for t in TaskStore(db).list(alice.id, "shopping")] == ["eggs"]
    refused = ask(core, "Mark nails as done on my shopping list", user=alice)  # bob's item
    assert not refused.tool_calls[0].ok
    assert [t.text for t in TaskStore(db).list(bob.id, "shopping")] == ["nails"]


def test_reminder_stored_for_the_asker_and_bad_times_refused(core, db, alice):
    r = ask(core, "Remind me to call mum tomorrow at 9", user=alice)
    assert r.tool_calls[0].ok, r.speech
    [stored] = ReminderStore(db).pending(alice.id)
    assert stored.text == "call mum" and stored.due_at.hour == 9
    assert "call mum" in ask(core, "What are my reminders?", user=alice).speech
    past = ask(core, "Remind me to vote on 1 January 2020 at 9", user=alice)
    assert not past.tool_calls[0].ok and len(ReminderStore(db).pending(alice.id)) == 1


def test_voice_timer_lands_in_the_room_that_asked(core, db):
    r = ask(core, "Set a timer for 5 minutes", room="kitchen")
    assert r.source == "fast_path" and "5 minutes" in r.speech, r.speech
    [timer] = TimerStore(db).active("kitchen")
    assert timer.room == "kitchen" and timer.duration_s == 300
    assert TimerStore(db).active("office") == []
    cancelled = ask(core, "Cancel the timer", room="kitchen")
    assert cancelled.tool_calls[0].ok and TimerStore(db).active("kitchen") == []


def test_announcements_reach_the_named_rooms_and_guests_are_refused(core, announced, users):
    from roomvoice.store.users import Role

    r = ask(core, "Announce dinner is ready in the kitchen and the office", room="living_room")
    assert r.tool_calls[0].ok and announced.calls == [(["kitchen", "office"], "Dinner is ready.")]
    ask(core, "Announce the film starts in five minutes everywhere")
    assert announced.calls[-1][0] == []  # all rooms
    guest = users.create_user("gail", "a long enough password", Role.GUEST)
    refused = ask(core, "Announce I am in charge now everywhere", user=guest)
    assert not refused.tool_calls[0].ok and len(announced.calls) == 2

"""Every new skill's tools register together in the assistant's registry under distinct names."""

from __future__ import annotations

from roomvoice.config import load_config
from roomvoice.skills import announcements, system_actions
from roomvoice.skills.context import SkillContext
from roomvoice.skills.schedule_tools import schedule_tools
from roomvoice.skills.setup import build_registry


def test_build_registry_with_the_schedule_tools(db):
    ctx = SkillContext(room="kitchen")
    extra = [*schedule_tools(db, ctx, ["kitchen"]),
             *announcements.tools(lambda rooms, text: [], ctx, ["kitchen"]),
             *system_actions.tools(system_actions.SystemActions({}), ctx)]
    registry = build_registry(load_config(["rooms=[kitchen]"]).skills, extra_tools=extra)
    assert set(registry.names) == {
        "start_timer", "cancel_timer", "list_timers", "timer_time_left", "add_reminder", "list_reminders",
        "cancel_reminder", "add_event", "list_events", "delete_event", "add_task", "list_tasks", "complete_task",
        "announce"}
    for tool in registry.tools_for_llm():
        assert tool["function"]["parameters"]["additionalProperties"] is False
    assert registry.dispatch("start_timer", {"seconds": 60}).ok

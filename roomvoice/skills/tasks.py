"""To-do lists per user: add, list, complete ("add milk to my shopping list", "what's on my
to-do list", "tick off milk").

:func:`tools` gives the LLM ``add_task``, ``list_tasks`` and ``complete_task``; the task to
complete is found by fuzzy match of its words on the user's own list only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from roomvoice.skills.context import ContextSource, SkillContext, resolve
from roomvoice.skills.errors import ScheduleError
from roomvoice.skills.registry import Tool
from roomvoice.skills.reminders import best_match
from roomvoice.skills.timewords import utc_now
from roomvoice.skills.types import ToolCall, ToolResult
from roomvoice.store.tasks import Task, TaskStore, list_key

logger = logging.getLogger(__name__)


class TaskSkill:
    """Task operations over the store.

    Args:
        store: the tasks table.
        now: wall clock for completion times.
    """

    def __init__(self, store: TaskStore, *, now: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.now = now

    def add(self, ctx: SkillContext, text: str, list_name: str | None = None) -> Task:
        """Add a task to the user's list.

        Raises:
            ScheduleError: ``task-empty``; ValidationError: too long.
        """
        text = " ".join((text or "").split())
        if not text:
            raise ScheduleError("task-empty", "What should I add?")
        return self.store.add(ctx.user_id, text, list_name)

    def open(self, ctx: SkillContext, list_name: str | None = None) -> list[Task]:
        """The user's open tasks on the list, oldest first."""
        return self.store.list(ctx.user_id, list_name)

    def complete(self, ctx: SkillContext, text: str, list_name: str | None = None) -> Task:
        """Mark done the user's open task that best matches ``text``.

        Raises:
            ScheduleError: ``task-not-found`` / ``task-ambiguous``.
        """
        task = best_match(self.open(ctx, list_name), text, lambda t: t.text, "task", "task-not-found")
        if not self.store.complete(ctx.user_id, task.id, self.now()):
            raise ScheduleError("task-not-found", f"{task.text} is already done.")
        return task


def describe(tasks: list[Task], list_name: str | None) -> str:
    """``"Your shopping list has 2 items: milk, eggs."``"""
    name = list_key(list_name)
    label = "to-do list" if name == "default" else f"{name} list"
    if not tasks:
        return f"Your {label} is empty."
    head = "1 item" if len(tasks) == 1 else f"{len(tasks)} items"
    return f"Your {label} has {head}: {', '.join(t.text for t in tasks[:20])}."


def tools(skill: TaskSkill, context: ContextSource) -> list[Tool]:
    """The to-do tools for the LLM, acting for ``context``'s user."""
    list_prop = {"type": "string", "maxLength": 64, "description": "list name, e.g. 'shopping' (default: to-do)"}
    text_prop = {"type": "string", "minLength": 1, "maxLength": 300}

    def add(call: ToolCall) -> ToolResult:
        t = skill.add(resolve(context), call.arguments["text"], call.arguments.get("list"))
        label = "to-do list" if t.list_name == "default" else f"{t.list_name} list"
        return ToolResult(call.name, True, f"Added {t.text} to your {label}.", data={"task_id": str(t.id)})

    def list_(call: ToolCall) -> ToolResult:
        tasks = skill.open(resolve(context), call.arguments.get("list"))
        return ToolResult(call.name, True, describe(tasks, call.arguments.get("list")),
                          data={"tasks": [t.text for t in tasks]})

    def complete(call: ToolCall) -> ToolResult:
        t = skill.complete(resolve(context), call.arguments["text"], call.arguments.get("list"))
        return ToolResult(call.name, True, f"Marked {t.text} as done.", data={"task_id": str(t.id)})

    return [
        Tool("add_task", "Add an item to one of the user's to-do lists.",
             {"type": "object", "additionalProperties": False, "required": ["text"],
              "properties": {"text": text_prop, "list": list_prop}}, add),
        Tool("list_tasks", "List the open items of one of the user's to-do lists.",
             {"type": "object", "additionalProperties": False, "properties": {"list": list_prop}}, list_),
        Tool("complete_task", "Mark an item of the user's to-do list as done.",
             {"type": "object", "additionalProperties": False, "required": ["text"],
              "properties": {"text": text_prop, "list": list_prop}}, complete),
    ]

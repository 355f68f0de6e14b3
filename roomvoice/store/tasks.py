"""To-do lists in PostgreSQL (the ``tasks`` table of migration 3): per user and list name.

Every query filters on ``user_id IS NOT DISTINCT FROM %s`` (``None`` = the household), so one
user never sees or completes another's tasks. List names are stored lower-cased and trimmed
("Shopping " and "shopping" are one list).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from roomvoice.store.db import Database
from roomvoice.store.validation import check_text

logger = logging.getLogger(__name__)

MAX_TASK_CHARS = 500
"""Longest task text, in characters."""
MAX_LIST_NAME_CHARS = 64
"""Longest list name, in characters."""


@dataclass(frozen=True)
class Task:
    """One to-do item.

    Attributes:
        id: UUID.
        user_id: whose it is (None: the household).
        list_name: the list ("default", "shopping"), lower case.
        text: what to do.
        done: whether it is completed.
        done_at: when it was completed.
        created_at: when it was added.
    """

    id: uuid.UUID
    user_id: int | None
    list_name: str
    text: str
    done: bool
    done_at: datetime | None
    created_at: datetime


_COLS = "id, user_id, list_name, text, done, done_at, created_at"


def list_key(name: str | None) -> str:
    """The stored form of a list name: trimmed, lower case, ``"default"`` when empty.

    Raises:
        ValidationError: too long or with NUL.
    """
    key = " ".join((name or "").split()).lower() or "default"
    return check_text("list name", key, max_chars=MAX_LIST_NAME_CHARS)


class TaskStore:
    """Tasks per user and list.

    Args:
        db: the database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, user_id: int | None, text: str, list_name: str | None = None) -> Task:
        """Add an open task.

        Raises:
            ValidationError: empty, too long or NUL text or list name.
        """
        check_text("task", text, max_chars=MAX_TASK_CHARS, allow_empty=False)
        with self.db.connection() as conn:
            row = conn.execute(
                f"INSERT INTO tasks (id, user_id, list_name, text) VALUES (%s, %s, %s, %s) RETURNING {_COLS}",
                (uuid.uuid4(), user_id, list_key(list_name), text.strip()),
            ).fetchone()
        assert row is not None
        return Task(*row)

    def list(self, user_id: int | None, list_name: str | None = None, *, include_done: bool = False) -> list[Task]:
        """The user's tasks on a list, oldest first (open only unless ``include_done``)."""
        with self.db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLS} FROM tasks WHERE user_id IS NOT DISTINCT FROM %s AND list_name = %s"
                " AND (%s OR NOT done) ORDER BY created_at, id", (user_id, list_key(list_name), include_done),
            ).fetchall()
        return [Task(*r) for r in rows]

    def lists(self, user_id: int | None) -> dict[str, int]:
        """The user's list names with their number of open tasks."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT list_name, count(*) FILTER (WHERE NOT done) FROM tasks"
                " WHERE user_id IS NOT DISTINCT FROM %s GROUP BY list_name ORDER BY list_name", (user_id,),
            ).fetchall()
        return {name: int(n) for name, n in rows}

    def complete(self, user_id: int | None, task_id: uuid.UUID, at: datetime) -> bool:
        """Mark one of the user's open tasks done; False if there is no such open task."""
        with self.db.connection() as conn:
            cur = conn.execute(
                "UPDATE tasks SET done = true, done_at = %s WHERE id = %s"
                " AND user_id IS NOT DISTINCT FROM %s AND NOT done", (at, task_id, user_id),
            )
            return cur.rowcount == 1

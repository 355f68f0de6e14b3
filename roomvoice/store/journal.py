"""The write journal: queued writes mirrored to a JSON-lines file so that a restart loses none.

While PostgreSQL is unreachable, :class:`~roomvoice.store.resilient.ResilientStore` appends
every queued write here (one JSON object per line, flushed and ``fsync``-ed) and rewrites the
file with what is left after each flush. Replaying a line that did reach the database is
harmless: every write is idempotent on its UUID key. A torn last line (a crash mid-write) is
skipped with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from roomvoice.store.conversations import Conversation, Message
from roomvoice.store.turns import (
    StoredTurn,
    timings_from_json,
    timings_to_json,
    tool_calls_from_json,
    tool_calls_to_json,
)

logger = logging.getLogger(__name__)

PendingWrite = Conversation | Message | StoredTurn
"""A write that may wait in the queue: a new conversation, a message or a voice turn."""


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def write_to_json(item: PendingWrite) -> dict[str, Any]:
    """The journal form of a pending write (``kind`` + fields; UUIDs and times as strings)."""
    if isinstance(item, Conversation):
        return {"kind": "conversation", "id": str(item.id), "user_id": item.user_id, "room": item.room,
                "title": item.title, "created_at": item.created_at.isoformat()}
    if isinstance(item, Message):
        return {"kind": "message", "conversation_id": str(item.conversation_id), "role": item.role,
                "content": item.content, "client_msg_id": str(item.client_msg_id),
                "created_at": item.created_at.isoformat()}
    if isinstance(item, StoredTurn):
        return {"kind": "turn", "turn_key": str(item.turn_key), "room": item.room, "turn": item.turn,
                "transcript": item.transcript, "reply": item.reply, "reply_source": item.reply_source,
                "timings": timings_to_json(item.timings), "error_code": item.error_code,
                "conversation_id": str(item.conversation_id) if item.conversation_id else None,
                "created_at": item.created_at.isoformat(), "tool_calls": tool_calls_to_json(item.tool_calls)}
    raise TypeError(f"not a pending write: {type(item).__name__}")


def write_from_json(data: dict[str, Any]) -> PendingWrite:
    """Inverse of :func:`write_to_json`.

    Raises:
        ValueError: unknown ``kind`` or malformed fields.
    """
    kind = data.get("kind")
    try:
        created_at = datetime.fromisoformat(data["created_at"])
        if kind == "conversation":
            return Conversation(id=uuid.UUID(data["id"]), user_id=data["user_id"], room=data["room"],
                                title=data["title"], created_at=created_at)
        if kind == "message":
            return Message(conversation_id=uuid.UUID(data["conversation_id"]), role=data["role"],
                           content=data["content"], client_msg_id=uuid.UUID(data["client_msg_id"]),
                           created_at=created_at)
        if kind == "turn":
            return StoredTurn(turn_key=uuid.UUID(data["turn_key"]), room=data["room"], turn=int(data["turn"]),
                              transcript=data["transcript"], reply=data["reply"], reply_source=data["reply_source"],
                              timings=timings_from_json(data["timings"]), error_code=data["error_code"],
                              conversation_id=_uuid(data["conversation_id"]), created_at=created_at,
                              tool_calls=tool_calls_from_json(data.get("tool_calls")))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed journal entry of kind {kind!r}: {exc}") from exc
    raise ValueError(f"unknown journal entry kind {kind!r}")


class WriteJournal:
    """An append-only JSON-lines file of pending writes.

    Args:
        path: the file (its folder is created); e.g. ``<data_dir>/store-journal.jsonl``.
        fsync: ``fsync`` after every append and rewrite (durable across power loss).

    Not thread-safe by itself: the resilient store calls it under its lock.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> list[PendingWrite]:
        """The writes in the file, in order (``[]`` if there is no file); bad lines are skipped."""
        if not self.path.exists():
            return []
        items: list[PendingWrite] = []
        with self.path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    items.append(write_from_json(json.loads(line)))
                except ValueError as exc:  # json.JSONDecodeError is a ValueError
                    logger.warning("skipping journal line %d of %s: %s", lineno, self.path, exc)
        if items:
            logger.info("journal %s holds %d pending writes", self.path, len(items))
        return items

    def append(self, item: PendingWrite) -> None:
        """Add one write at the end."""
        line = json.dumps(write_to_json(item), ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())

    def rewrite(self, items: Iterable[PendingWrite]) -> None:
        """Replace the content with ``items`` atomically (temp file + rename); no items removes it."""
        items = list(items)
        if not items:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for item in items:
                f.write(json.dumps(write_to_json(item), ensure_ascii=False) + "\n")
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, self.path)

"""Voice turns with their per-stage timings (the architecture's "turns with timings" contract).

One row per :class:`~roomvoice.events.TurnResult`; the timings go to a ``jsonb`` column as
the :class:`~roomvoice.events.TurnTimings` fields (seconds). Each turn has a client-made
``turn_key`` so that a replay after an outage stores it once.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from roomvoice.events import ToolCallRecord, TurnResult, TurnTimings
from roomvoice.store.db import Database
from roomvoice.store.errors import NotFoundError
from roomvoice.store.validation import check_text

logger = logging.getLogger(__name__)

MAX_TURN_TEXT_CHARS = 16_000
_TIMING_FIELDS = frozenset(f.name for f in dataclasses.fields(TurnTimings))
_COLUMNS_SQL = (
    "id, turn_key, room, turn, transcript, reply, reply_source, timings, error_code, conversation_id, created_at,"
    " tool_calls"
)


def timings_to_json(timings: TurnTimings) -> dict[str, float | None]:
    """The ``jsonb`` form of the timings (field name → seconds)."""
    return {f: getattr(timings, f) for f in sorted(_TIMING_FIELDS)}


def timings_from_json(data: dict[str, Any] | None) -> TurnTimings:
    """:class:`TurnTimings` from stored JSON; unknown keys are ignored, missing ones default."""
    return TurnTimings(**{k: v for k, v in (data or {}).items() if k in _TIMING_FIELDS})


def tool_calls_to_json(calls: tuple[ToolCallRecord, ...]) -> list[dict[str, Any]]:
    """The ``jsonb`` form of a turn's tool calls (one object per :class:`ToolCallRecord`)."""
    return [c.to_json() for c in calls]


def tool_calls_from_json(data: list[dict[str, Any]] | None) -> tuple[ToolCallRecord, ...]:
    """Inverse of :func:`tool_calls_to_json`; unknown keys are ignored."""
    names = {f.name for f in dataclasses.fields(ToolCallRecord)}
    out = []
    for item in data or []:
        fields = {k: v for k, v in item.items() if k in names}
        if isinstance(fields.get("entity_ids"), list):
            fields["entity_ids"] = tuple(fields["entity_ids"])
        out.append(ToolCallRecord(**fields))
    return tuple(out)


@dataclass(frozen=True)
class StoredTurn:
    """One voice turn as stored.

    Attributes:
        turn_key: idempotency key (UUID).
        room: room name.
        turn: 1-based turn number in the room.
        transcript: what was heard.
        reply: what was said back.
        reply_source: ``"fast_path"``, ``"llm"`` or ``"apology"``.
        timings: per-stage timings in seconds.
        error_code: the error's code if the turn failed, else ``None``.
        created_at: when the turn ended (UTC-aware; kept through queueing and replay).
        conversation_id: the room conversation it belongs to, if any.
        id: database id, or ``None`` while it waits in the resilient queue.
        tool_calls: the tool / Home Assistant calls made or refused during the turn.
    """

    turn_key: uuid.UUID
    room: str
    turn: int
    transcript: str
    reply: str
    reply_source: str
    timings: TurnTimings
    error_code: str | None
    created_at: datetime
    conversation_id: uuid.UUID | None = None
    id: int | None = None
    tool_calls: tuple[ToolCallRecord, ...] = ()

    @classmethod
    def from_result(
        cls, result: TurnResult, *, conversation_id: uuid.UUID | None = None, turn_key: uuid.UUID | None = None
    ) -> StoredTurn:
        """Build (not store) a turn from a room's :class:`TurnResult`, validated.

        Raises:
            ValidationError: a text over :data:`MAX_TURN_TEXT_CHARS` or containing NUL.
        """
        for name in ("room", "transcript", "reply", "reply_source"):
            check_text(f"turn {name}", getattr(result, name), max_chars=MAX_TURN_TEXT_CHARS)
        return cls(
            turn_key=turn_key or uuid.uuid4(), room=result.room, turn=int(result.turn),
            transcript=result.transcript, reply=result.reply, reply_source=result.reply_source,
            timings=result.timings, error_code=result.error.code if result.error else None,
            created_at=datetime.now(timezone.utc), conversation_id=conversation_id,
            tool_calls=tuple(getattr(result, "tool_calls", ()) or ()),
        )


def _turn(row: tuple[Any, ...]) -> StoredTurn:
    return StoredTurn(
        id=int(row[0]), turn_key=row[1], room=row[2], turn=int(row[3]), transcript=row[4], reply=row[5],
        reply_source=row[6], timings=timings_from_json(row[7]), error_code=row[8], conversation_id=row[9],
        created_at=row[10], tool_calls=tool_calls_from_json(row[11]),
    )


class TurnStore:
    """Store and read voice turns.

    Args:
        db: the database (migrated).
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, turn: StoredTurn) -> StoredTurn:
        """Store a turn; storing the same ``turn_key`` again returns the stored one.

        Raises:
            NotFoundError: its ``conversation_id`` does not exist.
            StoreUnavailableError: PostgreSQL is unreachable.
        """
        t = turn
        with self.db.connection() as conn:
            try:
                row = conn.execute(
                    "INSERT INTO voice_turns (turn_key, room, turn, transcript, reply, reply_source, timings,"
                    " error_code, conversation_id, created_at, tool_calls)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (turn_key) DO NOTHING RETURNING " + _COLUMNS_SQL,
                    (t.turn_key, t.room, t.turn, t.transcript, t.reply, t.reply_source,
                     Jsonb(timings_to_json(t.timings)), t.error_code, t.conversation_id, t.created_at,
                     Jsonb(tool_calls_to_json(t.tool_calls))),
                ).fetchone()
            except psycopg.errors.ForeignKeyViolation as exc:
                raise NotFoundError("store-not-found", f"no conversation {t.conversation_id}") from exc
            if row is None:  # already stored
                row = conn.execute(
                    "SELECT " + _COLUMNS_SQL + " FROM voice_turns WHERE turn_key = %s", (t.turn_key,)
                ).fetchone()
        assert row is not None
        return _turn(row)

    def recent(self, room: str, *, limit: int = 20) -> list[StoredTurn]:
        """A room's latest turns, oldest first."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT * FROM (SELECT " + _COLUMNS_SQL + " FROM voice_turns WHERE room = %s"
                " ORDER BY id DESC LIMIT %s) AS recent ORDER BY id",
                (room, limit),
            ).fetchall()
        return [_turn(r) for r in rows]

    def last_turn_number(self, room: str) -> int:
        """Highest turn number stored for a room (0 if none): lets a restarted room go on counting."""
        with self.db.connection() as conn:
            row = conn.execute("SELECT coalesce(max(turn), 0) FROM voice_turns WHERE room = %s", (room,)).fetchone()
        return int(row[0]) if row else 0

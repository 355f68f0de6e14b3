"""Timers, reminders and calendar events in PostgreSQL (tables of migrations 3 and 4).

Repositories only: they store and fetch rows as frozen dataclasses; the rules (what counts as
due, recurrence, wording) live in the skills. Every query of a user's items filters on
``user_id IS NOT DISTINCT FROM %s`` (``None`` = the household, e.g. an unidentified voice), so
one user never sees, completes or deletes another's. Times are ``timestamptz`` (aware
datetimes in, aware datetimes out); durations are seconds.

Firing is a compare-and-set (``UPDATE ... WHERE fired_at IS NULL`` / ``WHERE due_at = <seen>``),
so when several processes (room actors, a restarted one) race for the same item, exactly one
announces it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from roomvoice.store.db import Database
from roomvoice.store.validation import check_text

logger = logging.getLogger(__name__)

MAX_ITEM_TEXT_CHARS = 500
"""Longest timer label, reminder text or event title, in characters."""


@dataclass(frozen=True)
class StoredTimer:
    """A timer row.

    Attributes:
        id: UUID.
        room: the room it rings in.
        label: its name ("pizza"), "" if unnamed.
        duration_s: its length in seconds.
        started_at / ends_at: wall-clock start and best-known end (aware; the room keeps
            ``ends_at`` in line with its audio clock).
        started_audio_s / due_audio_s: the room's audio times (s) it started and is due at;
            None until the room has picked it up.
        user_id: who set it, if known.
        fired_at / cancelled_at: when it rang or was cancelled; both None while running.
    """

    id: uuid.UUID
    room: str
    label: str
    duration_s: float
    started_at: datetime
    ends_at: datetime
    started_audio_s: float | None = None
    due_audio_s: float | None = None
    user_id: int | None = None
    fired_at: datetime | None = None
    cancelled_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Neither fired nor cancelled."""
        return self.fired_at is None and self.cancelled_at is None

    def remaining_wall_s(self, now: datetime) -> float:
        """Wall seconds from ``now`` until ``ends_at`` (0 if past)."""
        return max(0.0, (self.ends_at - now).total_seconds())


_TIMER_COLS = ("id, room, label, duration_s, started_at, ends_at, started_audio_s, due_audio_s, user_id, "
               "fired_at, cancelled_at")


def _timer(row: tuple[Any, ...]) -> StoredTimer:
    return StoredTimer(*row[:3], float(row[3]), *row[4:])


class TimerStore:
    """Timers per room.

    Args:
        db: the database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, room: str, label: str, duration_s: float, started_at: datetime, *, user_id: int | None = None,
            started_audio_s: float | None = None, timer_id: uuid.UUID | None = None) -> StoredTimer:
        """Store a running timer (``ends_at`` = ``started_at`` + ``duration_s``).

        Args:
            started_audio_s: the room's audio time now, when the caller is the room; None when
                the room has yet to pick it up (a tool call from another process).

        Raises:
            ValidationError: label too long or with NUL; StoreError: ``duration_s`` ≤ 0.
        """
        check_text("timer label", label, max_chars=MAX_ITEM_TEXT_CHARS)
        ends_at = started_at + timedelta(seconds=duration_s)
        due = None if started_audio_s is None else started_audio_s + duration_s
        with self.db.connection() as conn:
            row = conn.execute(
                f"INSERT INTO timers (id, room, label, duration_s, started_at, ends_at, started_audio_s, due_audio_s,"
                f" user_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_TIMER_COLS}",
                (timer_id or uuid.uuid4(), room, label, duration_s, started_at, ends_at, started_audio_s, due, user_id),
            ).fetchone()
        assert row is not None
        return _timer(row)

    def get(self, timer_id: uuid.UUID) -> StoredTimer | None:
        """The timer, or None."""
        with self.db.connection() as conn:
            row = conn.execute(f"SELECT {_TIMER_COLS} FROM timers WHERE id = %s", (timer_id,)).fetchone()
        return _timer(row) if row else None

    def active(self, room: str | None = None) -> list[StoredTimer]:
        """Running timers (of ``room``, or all), soonest end first."""
        with self.db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_TIMER_COLS} FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
                " AND (%s::text IS NULL OR room = %s) ORDER BY ends_at, created_at", (room, room),
            ).fetchall()
        return [_timer(r) for r in rows]

    def anchor(self, timer_id: uuid.UUID, started_audio_s: float, due_audio_s: float, ends_at: datetime) -> None:
        """Record the room's audio times for a running timer and its corrected wall end."""
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE timers SET started_audio_s = %s, due_audio_s = %s, ends_at = %s"
                " WHERE id = %s AND fired_at IS NULL AND cancelled_at IS NULL",
                (started_audio_s, due_audio_s, ends_at, timer_id),
            )

    def mark_fired(self, timer_id: uuid.UUID, at: datetime) -> bool:
        """Mark a running timer as rung; False if it was already rung or cancelled."""
        with self.db.connection() as conn:
            cur = conn.execute("UPDATE timers SET fired_at = %s WHERE id = %s AND fired_at IS NULL"
                               " AND cancelled_at IS NULL", (at, timer_id))
            return cur.rowcount == 1

    def cancel(self, timer_id: uuid.UUID, at: datetime) -> bool:
        """Cancel a running timer; False if it was not running."""
        with self.db.connection() as conn:
            cur = conn.execute("UPDATE timers SET cancelled_at = %s WHERE id = %s AND fired_at IS NULL"
                               " AND cancelled_at IS NULL", (at, timer_id))
            return cur.rowcount == 1


@dataclass(frozen=True)
class Reminder:
    """A reminder row.

    Attributes:
        id: UUID.
        user_id: whose it is (None: the household).
        room: the room to speak it in; None: the household's main room.
        text: what to remind of.
        due_at: the next time it is due (aware).
        rrule: RRULE text if it repeats (expanded in ``timezone`` from the first ``due_at``).
        timezone: IANA zone its times were meant in.
        done_at: when it was completed or cancelled (None while pending).
        last_fired_at: when it was last announced.
        created_at: when it was set.
    """

    id: uuid.UUID
    user_id: int | None
    room: str | None
    text: str
    due_at: datetime
    rrule: str | None
    timezone: str
    done_at: datetime | None
    last_fired_at: datetime | None
    created_at: datetime


_REMINDER_COLS = "id, user_id, room, text, due_at, rrule, timezone, done_at, last_fired_at, created_at"


class ReminderStore:
    """Reminders per user.

    Args:
        db: the database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, user_id: int | None, text: str, due_at: datetime, *, room: str | None = None,
            rrule: str | None = None, timezone: str = "UTC") -> Reminder:
        """Store a pending reminder.

        Raises:
            ValidationError: empty or too long text.
        """
        check_text("reminder text", text, max_chars=MAX_ITEM_TEXT_CHARS, allow_empty=False)
        with self.db.connection() as conn:
            row = conn.execute(
                f"INSERT INTO reminders (id, user_id, room, text, due_at, rrule, timezone)"
                f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_REMINDER_COLS}",
                (uuid.uuid4(), user_id, room, text, due_at, rrule, timezone),
            ).fetchone()
        assert row is not None
        return Reminder(*row)

    def pending(self, user_id: int | None) -> list[Reminder]:
        """The user's pending reminders, soonest first."""
        with self.db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_REMINDER_COLS} FROM reminders WHERE user_id IS NOT DISTINCT FROM %s"
                " AND done_at IS NULL ORDER BY due_at", (user_id,),
            ).fetchall()
        return [Reminder(*r) for r in rows]

    def due(self, now: datetime, rooms: tuple[str, ...], include_roomless: bool) -> list[Reminder]:
        """Pending reminders due at or before ``now`` for ``rooms`` (and room-less ones if asked)."""
        with self.db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_REMINDER_COLS} FROM reminders WHERE done_at IS NULL AND due_at <= %s"
                " AND (room = ANY(%s) OR (%s AND room IS NULL)) ORDER BY due_at",
                (now, list(rooms), include_roomless),
            ).fetchall()
        return [Reminder(*r) for r in rows]

    def claim(self, reminder: Reminder, fired_at: datetime, next_due: datetime | None) -> bool:
        """Take a due reminder for announcing: move it to ``next_due`` (repeating) or mark it done.

        Returns:
            False if another process claimed it first (its ``due_at`` moved or it is done).
        """
        with self.db.connection() as conn:
            cur = conn.execute(
                "UPDATE reminders SET last_fired_at = %s, due_at = coalesce(%s, due_at),"
                " done_at = CASE WHEN %s::timestamptz IS NULL THEN %s ELSE NULL END"
                " WHERE id = %s AND due_at = %s AND done_at IS NULL",
                (fired_at, next_due, next_due, fired_at, reminder.id, reminder.due_at),
            )
            return cur.rowcount == 1

    def cancel(self, user_id: int | None, reminder_id: uuid.UUID, at: datetime) -> bool:
        """Cancel one of the user's pending reminders; False if there is no such pending reminder."""
        with self.db.connection() as conn:
            cur = conn.execute(
                "UPDATE reminders SET done_at = %s WHERE id = %s AND user_id IS NOT DISTINCT FROM %s"
                " AND done_at IS NULL", (at, reminder_id, user_id),
            )
            return cur.rowcount == 1


@dataclass(frozen=True)
class CalendarEvent:
    """A calendar event row (the series when ``rrule`` is set).

    Attributes:
        id: UUID.
        user_id: whose it is.
        title: what it is.
        starts_at: the (first) start, aware.
        ends_at: the (first) end, or None.
        all_day: whether it takes the whole day.
        rrule: RRULE text if it repeats.
        timezone: IANA zone it is expanded in.
        location: where, "" if not said.
    """

    id: uuid.UUID
    user_id: int | None
    title: str
    starts_at: datetime
    ends_at: datetime | None
    all_day: bool
    rrule: str | None
    timezone: str
    location: str


_EVENT_COLS = "id, user_id, title, starts_at, ends_at, all_day, rrule, timezone, location"


class CalendarStore:
    """Calendar events per user.

    Args:
        db: the database.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, user_id: int | None, title: str, starts_at: datetime, *, ends_at: datetime | None = None,
            all_day: bool = False, rrule: str | None = None, timezone: str = "UTC",
            location: str = "") -> CalendarEvent:
        """Store an event (or a series).

        Raises:
            ValidationError: empty/too long title or location; StoreError: ``ends_at`` before ``starts_at``.
        """
        check_text("event title", title, max_chars=MAX_ITEM_TEXT_CHARS, allow_empty=False)
        check_text("event location", location, max_chars=MAX_ITEM_TEXT_CHARS)
        with self.db.connection() as conn:
            row = conn.execute(
                f"INSERT INTO calendar_events (id, user_id, title, starts_at, ends_at, all_day, rrule, timezone,"
                f" location) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_EVENT_COLS}",
                (uuid.uuid4(), user_id, title, starts_at, ends_at, all_day, rrule, timezone, location),
            ).fetchone()
        assert row is not None
        return CalendarEvent(*row)

    def candidates(self, user_id: int | None, end: datetime) -> list[CalendarEvent]:
        """The user's events that may have an occurrence before ``end``: one-offs starting before
        it and every series that started before it (the skill expands and filters them)."""
        with self.db.connection() as conn:
            rows = conn.execute(
                f"SELECT {_EVENT_COLS} FROM calendar_events WHERE user_id IS NOT DISTINCT FROM %s"
                " AND starts_at < %s ORDER BY starts_at", (user_id, end),
            ).fetchall()
        return [CalendarEvent(*r) for r in rows]

    def delete(self, user_id: int | None, event_id: uuid.UUID) -> bool:
        """Delete one of the user's events (the whole series); False if there is none."""
        with self.db.connection() as conn:
            cur = conn.execute("DELETE FROM calendar_events WHERE id = %s AND user_id IS NOT DISTINCT FROM %s",
                               (event_id, user_id))
            return cur.rowcount == 1

"""The room's side of timers and reminders: what falls due, on the room's audio clock.

A :class:`RoomSchedule` belongs to one room. The room calls :meth:`RoomSchedule.start` once
with the audio time it (re)starts at, then :meth:`RoomSchedule.advance` after every chunk;
both return the :class:`ScheduledAnnouncement` s to speak now. Nothing here sleeps or reads the
wall clock for timing decisions of a running timer: timers live on a
:class:`~roomvoice.skills.timer_wheel.TimerWheel` advanced by audio time.

Every ``sync_every_s`` audio seconds (and when asked, e.g. right after a turn) it syncs with
PostgreSQL:

* timers started elsewhere (a tool call in the Assistant) are picked up and put on the wheel
  for their full length from the current audio time (if picked up within
  ``pickup_grace_s`` wall seconds of being set; later than that — the room was down — for what
  is left of their wall-clock time);
* timers reloaded after a restart get ``min(audio time left, wall time left)``: a room fed
  from a file resumes at the same audio position, a live microphone has lost the downtime;
* timers cancelled elsewhere leave the wheel; the wall-clock end is corrected when it drifts
  from the audio clock by more than ``drift_s`` (so "time left" asked over chat is right);
* reminders of this room (and room-less ones, for the household's main room) due by the wall
  clock are claimed (compare-and-set, so one room announces each) and moved to their next
  occurrence or marked done.

Items that fell due more than ``missed_after_s`` before they could be announced (the system
was down) are announced as missed: "While I was off, you had a reminder: …".
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from roomvoice.skills.timer_wheel import TimerWheel
from roomvoice.skills.timers import timer_title
from roomvoice.skills.timewords import next_occurrence, utc_now
from roomvoice.store.schedule import Reminder, ReminderStore, StoredTimer, TimerStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledAnnouncement:
    """Something the room should say now.

    Attributes:
        room: the room.
        text: what to say ("Your pizza timer is done.").
        kind: ``"timer"`` or ``"reminder"``.
        item_id: the timer's or reminder's id.
        audio_time_s: the room's audio time when it fell due (s).
        missed: it fell due while the system was down.
    """

    room: str
    text: str
    kind: str
    item_id: uuid.UUID
    audio_time_s: float
    missed: bool = False


class RoomSchedule:
    """Timers and reminders of one room, driven by its audio time.

    Args:
        room: the room's name.
        timers: the timers table.
        reminders: the reminders table (None: this room announces no reminders).
        wall_clock: aware "now" (UTC); injected in tests. Used for reminders, for reloading after
            a restart and for the wall-clock end stored with each timer.
        sync_every_s: audio seconds between database syncs.
        roomless_reminders: also announce reminders that name no room (the main room).
        missed_after_s: lateness (wall seconds) from which an item counts as missed.
        pickup_grace_s: wall seconds after being set within which a new timer still gets its
            full length on the audio clock.
        drift_s: wall-clock end corrections smaller than this are not written.
        min_sync_wall_s: wall seconds at least between two scheduled syncs (a file-fed room
            runs many audio seconds per wall second; this bounds the database queries).
        monotonic: wall seconds for that bound; injected in tests.
    """

    def __init__(self, room: str, timers: TimerStore, reminders: ReminderStore | None = None, *,
                 wall_clock: Callable[[], datetime] = utc_now, sync_every_s: float = 1.0,
                 roomless_reminders: bool = False, missed_after_s: float = 60.0, pickup_grace_s: float = 120.0,
                 drift_s: float = 1.0, min_sync_wall_s: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.room = room
        self.timers = timers
        self.reminders = reminders
        self.wall_clock = wall_clock
        self.sync_every_s = sync_every_s
        self.roomless_reminders = roomless_reminders
        self.missed_after_s = missed_after_s
        self.pickup_grace_s = pickup_grace_s
        self.drift_s = drift_s
        self.min_sync_wall_s = min_sync_wall_s
        self._monotonic = monotonic
        self._last_sync_wall: float | None = None
        self.wheel: TimerWheel[uuid.UUID] = TimerWheel()
        self._last_sync_s: float | None = None
        self._missed: set[uuid.UUID] = set()

    # ------------------------------------------------------------------ driving
    def start(self, audio_time_s: float) -> list[ScheduledAnnouncement]:
        """(Re)load this room's timers and due reminders from the database at ``audio_time_s``.

        Returns:
            What is due now: timers and reminders that fell due while the room was down
            (``missed``), in due order.
        """
        self.wheel = TimerWheel(audio_time_s)
        self._last_sync_s = None
        self._missed.clear()
        out = self.advance(audio_time_s, sync=True)
        logger.info("%s: schedule started at audio %.2f s: %d timers pending, %d due", self.room, audio_time_s,
                    len(self.wheel), len(out))
        return out

    def advance(self, audio_time_s: float, *, sync: bool = False) -> list[ScheduledAnnouncement]:
        """Move the room's audio clock to ``audio_time_s``; sync with the database when due (or
        ``sync``); return what falls due, timers first.

        Raises:
            StoreUnavailableError: PostgreSQL is unreachable during a sync (the wheel keeps its
                timers; the caller may retry later).
        """
        out: list[ScheduledAnnouncement] = []
        due_by_audio = self._last_sync_s is None or audio_time_s - self._last_sync_s >= self.sync_every_s
        due_by_wall = (self._last_sync_wall is None
                       or self._monotonic() - self._last_sync_wall >= self.min_sync_wall_s)
        if sync or self._last_sync_s is None or (due_by_audio and due_by_wall):
            self._last_sync_s = audio_time_s
            self._last_sync_wall = self._monotonic()
            self._sync_timers(audio_time_s)
            out.extend(self._timers_due(audio_time_s))
            out.extend(self._reminders_due(audio_time_s))
        else:
            out.extend(self._timers_due(audio_time_s))
        return out

    def start_timer(self, duration_s: float, label: str, audio_time_s: float, *,
                    user_id: int | None = None) -> StoredTimer:
        """Start a timer from inside the room: stored and on the wheel at once, due exactly at
        ``audio_time_s + duration_s`` (no validation here; see :class:`~roomvoice.skills.timers.TimerSkill`)."""
        timer = self.timers.add(self.room, label, duration_s, self.wall_clock(), user_id=user_id,
                                started_audio_s=audio_time_s)
        self.wheel.add(timer.id, audio_time_s + duration_s, timer)
        return timer

    def remaining_s(self, timer_id: uuid.UUID) -> float | None:
        """Audio seconds left on a timer of this room's wheel, or None if it is not pending."""
        return self.wheel.remaining_s(timer_id)

    # ------------------------------------------------------------------ timers
    def _sync_timers(self, audio_now: float) -> None:
        wall = self.wall_clock()
        active = {t.id: t for t in self.timers.active(self.room)}
        for due in self.wheel.pending():
            if due.key not in active:  # cancelled (or rung) elsewhere
                self.wheel.cancel(due.key)
                logger.info("%s: timer %s stopped (cancelled elsewhere)", self.room, due.key)
        for t in active.values():
            if t.id in self.wheel:
                left = self.wheel.remaining_s(t.id) or 0.0
                if abs(t.remaining_wall_s(wall) - left) > self.drift_s:
                    self.timers.anchor(t.id, t.started_audio_s if t.started_audio_s is not None else audio_now,
                                       audio_now + left, wall + timedelta(seconds=left))
                continue
            if t.due_audio_s is None and (wall - t.started_at).total_seconds() <= self.pickup_grace_s:
                left = t.duration_s  # set during the last turn: its audio clock starts now
            elif t.due_audio_s is None:
                left = t.remaining_wall_s(wall)
            else:
                left = min(max(0.0, t.due_audio_s - audio_now), t.remaining_wall_s(wall))
            if left <= 0 and (wall - t.ends_at).total_seconds() > self.missed_after_s:
                self._missed.add(t.id)
            started = t.started_audio_s if t.started_audio_s is not None else audio_now - (t.duration_s - left)
            self.timers.anchor(t.id, started, audio_now + left, wall + timedelta(seconds=left))
            self.wheel.add(t.id, audio_now + left, t)

    def _timers_due(self, audio_now: float) -> list[ScheduledAnnouncement]:
        out = []
        for due in self.wheel.advance(audio_now):
            timer: StoredTimer = due.payload
            if not self.timers.mark_fired(timer.id, self.wall_clock()):
                continue  # cancelled in the meantime
            missed = due.key in self._missed
            self._missed.discard(due.key)
            title = timer_title(timer)
            text = f"While I was off, your {title} finished." if missed else f"Your {title} is done."
            logger.info("%s: %s rang at audio %.2f s", self.room, title, audio_now)
            out.append(ScheduledAnnouncement(self.room, text, "timer", timer.id, due.due_s, missed))
        return out

    # ------------------------------------------------------------------ reminders
    def _reminders_due(self, audio_now: float) -> list[ScheduledAnnouncement]:
        if self.reminders is None:
            return []
        wall = self.wall_clock()
        out = []
        for r in self.reminders.due(wall, (self.room,), self.roomless_reminders):
            after = max(wall, r.due_at)
            nxt = next_occurrence(r.rrule, r.due_at, after, r.timezone) if r.rrule else None
            if not self.reminders.claim(r, wall, nxt):
                continue  # another room (or process) took it
            missed = (wall - r.due_at).total_seconds() > self.missed_after_s
            out.append(ScheduledAnnouncement(self.room, reminder_text(r, missed), "reminder", r.id, audio_now, missed))
            logger.info("%s: reminder %s announced%s", self.room, r.id, " (missed)" if missed else "")
        return out


def reminder_text(reminder: Reminder, missed: bool) -> str:
    """``"Reminder: call mum."`` or ``"While I was off, you had a reminder: call mum."``."""
    text = reminder.text.strip().rstrip(".")
    return f"While I was off, you had a reminder: {text}." if missed else f"Reminder: {text}."

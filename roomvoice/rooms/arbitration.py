"""Cross-room wake arbitration: one room answers each wake word (pure logic, no Ray, no clock).

When one person says "hey jarvis" in a house, the microphones of several rooms hear it. Exactly
one room must answer: the one nearest the talker, which is the one that hears the wake word
loudest. Willow's wake-word arbitration does exactly this (the loudest wake within 200 ms wins),
and Home Assistant users ask for the same loudness-based choice for their satellites
(home-assistant/core#157762) instead of "whichever device reported first".

Each room sends a :class:`~roomvoice.events.WakeClaim` per wake; this module collects them in
windows and answers every claim with a :class:`~roomvoice.events.WakeDecision`.
:class:`~roomvoice.actors.arbiter.WakeArbiter` wraps it in a Ray actor.

Windows
    Claims are grouped per ``zone`` (rooms that can hear each other share a zone; rooms of
    different zones never compete). The first claim of a zone opens a window at its *receipt*
    time ``t0``; claims of that zone received while ``now < t0 + window_s`` join it; at
    ``t0 + window_s`` the window closes and every claim in it gets one decision. A claim at or
    after the close opens the next window. Only the arbiter's own clock (receipt time, the
    ``now_s`` passed in) is used, never the rooms' ``audio_time_s``: rooms on other nodes have
    their own, unsynchronised clocks, and a wake heard by two rooms reaches the arbiter within
    network jitter (tens of ms), well inside a 200 ms window.

Winner (:func:`pick_winner`)
    1. A single room in the window: it wins, rule ``"alone"``.
    2. Otherwise the highest ``level_dbfs`` wins, rule ``"level"`` — unless other rooms are within
       ``level_tie_db`` of that top level (levels measured by different microphones and gains are
       only comparable to about a decibel). Then the rooms in that tie band are decided by the
       higher wake ``score``, rule ``"score"``.
    3. Deterministic final tie-breaks, so the result never depends on arrival order: higher
       score, then higher level, then the room name that sorts first.

Duplicates
    A second claim of one room inside one window (two wakes within the room's cooldown, or a
    resent claim) does not compete again: the room's *first* claim competes, and the later one is
    answered with the same ``winner``/``contenders`` but ``won=False`` and rule ``"duplicate"``,
    so a room never starts two turns for one wake; its first claim carries the real outcome.

Late claims
    A claim that reaches the arbiter after its zone's window closed, but within ``late_s`` (1 s) of
    that close, from a room that was not in it, is the same wake heard by a room whose claim was
    delayed (a stalled CPU, a slow node): it loses to that window's winner at once, rule
    ``"late"`` — one answer per wake matters more than the best room. (Measured: under a capture
    stall of 3.6 s on the 2-core box, four rooms' claims of one wake reached the arbiter over
    0.2 s apart and all four answered before this rule.) The winner's own next claim always opens
    a new window.

Leaving
    :meth:`ArbitrationBook.leave` drops a room's claims from open windows (a room that stops or
    restarts mid-window). The others are decided without it; a window left empty is discarded.

Bad input
    :func:`check_claim` refuses NaN/infinite levels and scores, scores outside 0..1, empty room,
    zone or claim id with a :class:`ValueError` naming the field (the Ray method then raises and
    the room's client fails open).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from roomvoice.events import WakeClaim, WakeDecision

RULES = ("alone", "level", "score", "fail-open", "duplicate", "late")
"""Every ``WakeDecision.rule`` (``fail-open`` is decided by the room's client, never here)."""


def check_claim(claim: WakeClaim) -> WakeClaim:
    """Return ``claim`` if it can be arbitrated.

    Raises:
        ValueError: naming the bad field: ``room``/``zone``/``claim_id`` empty or not text,
            ``score`` NaN or outside 0..1, ``level_dbfs`` not a finite number.
    """
    if not isinstance(claim, WakeClaim):
        raise ValueError(f"claim: expected a WakeClaim, got {type(claim).__name__}")
    for name in ("room", "zone", "claim_id"):
        value = getattr(claim, name)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
    for name in ("score", "level_dbfs"):
        value = getattr(claim, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name}: must be a finite number, got {value!r} (room {claim.room!r})")
    if not 0.0 <= claim.score <= 1.0:
        raise ValueError(f"score: must be within 0..1, got {claim.score!r} (room {claim.room!r})")
    return claim


def _rank_key(claim: WakeClaim) -> tuple[float, float, str]:
    """Sort key, best first: louder, then higher score, then room name."""
    return (-claim.level_dbfs, -claim.score, claim.room)


def pick_winner(claims: Sequence[WakeClaim], level_tie_db: float) -> tuple[WakeClaim, str]:
    """The claim that answers among ``claims`` (one per room, same zone) and the rule that chose it.

    Args:
        claims: one claim per room, in any order (the result does not depend on it).
        level_tie_db: levels within this many dB of the loudest are a tie, broken by the score.

    Returns:
        ``(winner, rule)`` with rule ``"alone"``, ``"level"`` or ``"score"`` (see the module doc).

    Raises:
        ValueError: no claims, or two claims of one room.
    """
    if not claims:
        raise ValueError("claims: nothing to decide")
    rooms = [c.room for c in claims]
    if len(set(rooms)) != len(rooms):
        raise ValueError(f"claims: one claim per room expected, got rooms {sorted(rooms)}")
    if len(claims) == 1:
        return claims[0], "alone"
    top = max(c.level_dbfs for c in claims)
    tied = [c for c in claims if top - c.level_dbfs <= level_tie_db]
    if len(tied) == 1:
        return tied[0], "level"
    winner = min(tied, key=lambda c: (-c.score, -c.level_dbfs, c.room))
    return winner, "score"


@dataclass
class _Received:
    claim: WakeClaim
    received_s: float
    """Arbiter clock at receipt (s)."""


@dataclass
class _Window:
    zone: str
    opened_s: float
    """Arbiter clock when its first claim arrived (s)."""
    closes_s: float
    """``opened_s + window_s`` (s)."""
    entries: list[_Received] = field(default_factory=list)
    late_of: tuple[str, tuple[str, ...]] | None = None
    """For a late claim: (winner, contenders) of the window it missed."""


class ArbitrationBook:
    """Open windows per zone and the decisions they give when they close; the clock is passed in.

    Args:
        window_s: seconds from a zone's first claim during which that zone's claims compete (>= 0).
        level_tie_db: levels within this many dB of the loudest are a tie, broken by score (>= 0).
        late_s: seconds after a window's close during which another room's claim of that zone is
            a late copy of the same wake (>= 0; 0 turns the rule off).

    Raises:
        ValueError: a negative or non-finite ``window_s`` / ``level_tie_db``.
    """

    def __init__(self, window_s: float, level_tie_db: float, late_s: float = 1.0) -> None:
        for name, value in (("window_s", window_s), ("level_tie_db", level_tie_db), ("late_s", late_s)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
        self.window_s = float(window_s)
        self.level_tie_db = float(level_tie_db)
        self.late_s = float(late_s)
        self._closed: dict[str, tuple[float, str, tuple[str, ...]]] = {}  # zone -> (closed at, winner, contenders)
        self._windows: list[_Window] = []  # ordered by closes_s (opened with a non-decreasing clock)
        self._pending_ids: set[str] = set()
        self.claims_total = 0
        """Claims accepted."""
        self.windows_total = 0
        """Windows opened."""
        self.decisions_by_rule: Counter[str] = Counter()
        """Decisions given, by rule."""

    # ------------------------------------------------------------------ input
    def submit(self, claim: WakeClaim, now_s: float) -> None:
        """Add ``claim``, received at arbiter time ``now_s`` (s), to its zone's open window or a new one.

        Raises:
            ValueError: a bad claim (see :func:`check_claim`), a non-finite ``now_s``, or a
                ``claim_id`` that is already waiting for a decision.
        """
        check_claim(claim)
        if not math.isfinite(now_s):
            raise ValueError(f"now_s: must be finite, got {now_s!r}")
        if claim.claim_id in self._pending_ids:
            raise ValueError(f"claim_id: {claim.claim_id!r} is already waiting for a decision")
        window = self._open_window(claim.zone, now_s)
        closed = self._closed.get(claim.zone)
        if window is None and closed is not None and now_s < closed[0] + self.late_s \
                and claim.room not in closed[2]:
            window = _Window(claim.zone, now_s, now_s, late_of=(closed[1], closed[2]))  # decided at once
            self._windows.append(window)
            self._windows.sort(key=lambda w: w.closes_s)
        elif window is None:
            window = _Window(claim.zone, now_s, now_s + self.window_s)
            self._windows.append(window)
            self._windows.sort(key=lambda w: w.closes_s)
            self.windows_total += 1
        window.entries.append(_Received(claim, now_s))
        self._pending_ids.add(claim.claim_id)
        self.claims_total += 1

    def leave(self, room: str) -> list[str]:
        """Drop every waiting claim of ``room``; returns their claim ids (they get no decision).

        Windows left without claims are discarded; the others are decided without the room.
        """
        dropped: list[str] = []
        for window in self._windows:
            keep = [e for e in window.entries if e.claim.room != room]
            dropped += [e.claim.claim_id for e in window.entries if e.claim.room == room]
            window.entries = keep
        self._windows = [w for w in self._windows if w.entries]
        self._pending_ids.difference_update(dropped)
        return dropped

    # ----------------------------------------------------------------- output
    def next_deadline(self) -> float | None:
        """Arbiter time (s) at which the earliest open window closes; None when none is open."""
        return self._windows[0].closes_s if self._windows else None

    def due(self, now_s: float) -> list[WakeDecision]:
        """Close every window whose close time is ``<= now_s`` and return one decision per claim.

        Decisions come window by window (earliest first), claims in order of receipt.
        """
        decisions: list[WakeDecision] = []
        while self._windows and self._windows[0].closes_s <= now_s:
            window = self._windows.pop(0)
            decisions += self._decide(window, now_s)
        for d in decisions:
            self._pending_ids.discard(d.claim_id)
            self.decisions_by_rule[d.rule] += 1
        return decisions

    def open_windows(self) -> int:
        """Windows waiting to close."""
        return len(self._windows)

    def waiting(self) -> int:
        """Claims waiting for a decision."""
        return len(self._pending_ids)

    # --------------------------------------------------------------- internal
    def _open_window(self, zone: str, now_s: float) -> _Window | None:
        for window in reversed(self._windows):
            if window.zone == zone and now_s < window.closes_s:
                return window
        return None

    def _decide(self, window: _Window, now_s: float) -> list[WakeDecision]:
        if window.late_of is not None:
            winner_room, contenders = window.late_of
            return [WakeDecision(room=e.claim.room, claim_id=e.claim.claim_id, won=False, winner=winner_room,
                                 zone=window.zone, contenders=contenders,
                                 decided_after_s=max(0.0, now_s - e.received_s), rule="late")
                    for e in window.entries]
        firsts: dict[str, _Received] = {}
        for entry in window.entries:
            firsts.setdefault(entry.claim.room, entry)
        competing = [e.claim for e in firsts.values()]
        winner, rule = pick_winner(competing, self.level_tie_db)
        others = sorted((c for c in competing if c.room != winner.room), key=_rank_key)
        contenders = (winner.room, *(c.room for c in others))
        self._closed[window.zone] = (window.closes_s, winner.room, contenders)
        decisions = []
        for entry in window.entries:
            first = firsts[entry.claim.room] is entry
            decisions.append(WakeDecision(
                room=entry.claim.room,
                claim_id=entry.claim.claim_id,
                won=first and entry.claim.room == winner.room,
                winner=winner.room,
                zone=window.zone,
                contenders=contenders,
                decided_after_s=max(0.0, now_s - entry.received_s),
                rule=rule if first else "duplicate",
            ))
        return decisions

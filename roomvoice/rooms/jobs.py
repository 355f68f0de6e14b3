"""What a room's turn worker runs: :class:`Job` (one unit of work) and :class:`TurnControl`
(its cancellation, from any thread: a barge-in cancels the in-flight Serve calls of the turn)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from roomvoice.events import Stage, Utterance

logger = logging.getLogger(__name__)


class TurnCancelled(Exception):
    """Raised inside a job when its :class:`TurnControl` was cancelled (barge-in)."""


class TurnControl:
    """Cancellation of one job, from any thread.

    ``on_cancel(fn)`` registers a canceller (e.g. a Serve response's ``cancel``); :meth:`cancel`
    sets the flag once and calls every canceller (failures are logged, never raised).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.event = threading.Event()
        self.reason: str | None = None
        self._cancellers: list[Callable[[], Any]] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self.event.is_set()

    def on_cancel(self, fn: Callable[[], Any]) -> None:
        """Call ``fn`` when the job is cancelled (at once if it already is)."""
        with self._lock:
            if not self.event.is_set():
                self._cancellers.append(fn)
                return
        call_quietly(fn)

    def cancel(self, reason: str) -> bool:
        """Cancel the job for ``reason``; False if it already was."""
        with self._lock:
            if self.event.is_set():
                return False
            self.reason = reason
            self.event.set()
            cancellers, self._cancellers = self._cancellers, []
        for fn in cancellers:
            call_quietly(fn)
        return True

    def check(self) -> None:
        """Raise :class:`TurnCancelled` if cancelled."""
        if self.event.is_set():
            raise TurnCancelled(self.reason or "cancelled")


def call_quietly(fn: Callable[[], Any]) -> None:
    """Call ``fn``; a failure is logged as a warning, never raised (cancellers, closers)."""
    try:
        fn()
    except Exception:  # a canceller that fails must not stop the others
        logger.warning("canceller %r failed", fn, exc_info=True)


@dataclass
class Job:
    """One unit of work for the worker.

    Attributes:
        kind: ``"voice"``, ``"text"``, ``"announce"`` or ``"failure"``.
        control: its cancellation.
        future: resolved with the job's result (TurnResult / Announcement / None).
        utterance: voice: the captured speech.
        decision: voice: the arbiter's pending decision (``result(timeout_s)``), None = no arbitration.
        followup: voice: heard without the wake word after a question.
        wake_audio_s: voice: audio time of the wake (or of the follow-up's start).
        started_at: Unix time the turn started (wake / text received).
        detected_at: ``time.monotonic()`` when end of speech was detected (voice) or the text arrived.
        text: text / announce: the text; announce: what to say.
        source: announce: ``"announcement"``, ``"timer"`` or ``"reminder"``.
        stage, error, audio_time_s: failure: where, what, when.
        speculation: voice: the transcript being made in the pause before the end of turn
            (:meth:`~roomvoice.rooms.speculation.Speculator.claim`), or None.
        turn_end: voice: ``"silence"`` (the hangover ran out) or ``"command"`` (a whole home command
            was heard in a pause).
    """

    kind: str
    control: TurnControl
    future: Future = field(default_factory=Future)
    utterance: Utterance | None = None
    decision: Any = None
    followup: bool = False
    wake_audio_s: float = 0.0
    started_at: float = 0.0
    detected_at: float = 0.0
    text: str = ""
    source: str = "announcement"
    stage: Stage = Stage.AUDIO
    error: BaseException | None = None
    audio_time_s: float = 0.0
    speculation: Any = None
    turn_end: str = "silence"

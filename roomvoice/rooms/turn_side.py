"""The turn worker's side of a :class:`~roomvoice.rooms.room.Room`: the state changes a running
turn asks for (under the room's lock), and the jobs that reach the room other than by voice
(typed text, announcements, failures outside a turn), kept apart from the capture loop."""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np

from roomvoice.events import Stage, TurnResult, VoiceState, WakeDecision
from roomvoice.rooms.audio import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk
from roomvoice.rooms.jobs import Job, TurnControl

if TYPE_CHECKING:
    from roomvoice.rooms.endpoint import EndOfSpeechDetector
    from roomvoice.rooms.room_types import PendingDecision, RoomOptions
    from roomvoice.rooms.player import Player
    from roomvoice.rooms.state import VoiceStateMachine
    from roomvoice.rooms.turns import TurnWorker

S = VoiceState
BUSY = frozenset({S.TRANSCRIBING, S.THINKING, S.SPEAKING})
"""States in which a turn is under way and a barge-in can interrupt it."""


class TurnSide:
    """Mixin of :class:`~roomvoice.rooms.room.Room`: what its :class:`~roomvoice.rooms.turns.TurnWorker`
    calls to move the room's state as a turn goes on."""

    cond: threading.Condition
    machine: VoiceStateMachine
    endpoint: EndOfSpeechDetector
    options: RoomOptions
    turns: deque[TurnResult]
    turn_count: int
    _current: TurnControl | None
    _new_results: deque[TurnResult]
    _pending: PendingDecision | None
    _wake_time_s: float
    _wake_wall: float
    _followup: bool
    worker: TurnWorker
    player: Player
    audio_time_s: float

    def emit(self, event: Any) -> None:  # pragma: no cover - Room's
        raise NotImplementedError

    def _room_event(self, kind: str, t: float, **detail: Any) -> None:  # pragma: no cover - Room's
        raise NotImplementedError

    def record(self, result: TurnResult) -> TurnResult:
        """Count and publish a finished turn."""
        with self.cond:
            self.turn_count += 1
            self.turns.append(result)
            self._new_results.append(result)
        self.emit(result)
        return result

    def advance(self, control: TurnControl, step: str, t: float, reason: str = "") -> bool:
        """Move the turn ``control`` forward (``transcribed``, ``speaking``, ``done``) if it is still
        the room's current turn; False if a barge-in took the room elsewhere."""
        with self.cond:
            if self._current is not control or control.cancelled:
                return False
            if step == "transcribed":
                self.machine.transcribed(t)
            elif step == "speaking":
                if self.machine.state is S.THINKING:
                    self.machine.speaking(t)
            elif step == "done":
                self.machine.done(t, reason or "done")
                self._current = None
            return True

    def begin_busy(self, control: TurnControl, kind: str, t: float) -> bool:
        """IDLE → THINKING (typed text) or → SPEAKING (announcement) for ``control``."""
        with self.cond:
            if self.machine.state is not S.IDLE:
                return False
            if kind == "text":
                self.machine.text_received(t)
            else:
                self.machine.announcing(t)
            self._current = control
            return True

    def finish_turn(self, control: TurnControl, t: float, reply: str, reason: str) -> None:
        """The reply ended: IDLE, or LISTENING for a follow-up when it asked a question."""
        with self.cond:
            if self._current is not control:
                return
            self._current = None
            if self.options.followup_s > 0 and reply.rstrip().endswith("?"):
                self.machine.followup(t)
                self._wake_time_s, self._wake_wall, self._followup = t, time.time(), True
                self._pending = None
                self.endpoint.start(t, no_speech_timeout_s=self.options.followup_s)
                self._room_event("followup_started", t, listen_s=self.options.followup_s)
            else:
                self.machine.done(t, reason)

    def lose_wake(self, control: TurnControl, decision: WakeDecision, t: float) -> None:
        """The arbiter's answer came after end of speech and another room won: back to IDLE."""
        with self.cond:
            if self._current is control and self.machine.state in BUSY:
                self.machine.interrupted(t, "wake-lost")
                self._current = None
        self._room_event("wake_lost", t, winner=decision.winner, rule=decision.rule)

    def enter_error(self, control: TurnControl, t: float, code: str) -> None:
        """→ ERROR for ``control``'s failure (when it still owns the room, or the room is free)."""
        with self.cond:
            if self._current is control or self._current is None:
                if self.machine.state is not S.ERROR:
                    if self.machine.state in (S.LISTENING, S.RECORDING):
                        self.endpoint.reset()
                    self.machine.fail(t, code)
                self._current = control

    def recover(self, control: TurnControl, t: float) -> None:
        """Apology spoken: ERROR → IDLE."""
        with self.cond:
            if self._current is control:
                self._current = None
                if self.machine.state is S.ERROR:
                    self.machine.recovered(t)

    # ------------------------------------------------------------------ text and announcements
    def submit_text(self, text: str) -> Future:
        """Typed text, answered and spoken here once the room is IDLE; the future gets the TurnResult."""
        return self.worker.submit(Job("text", TurnControl("text"), text=text.strip(), detected_at=time.monotonic()))

    def submit_announcement(self, text: str, source: str = "announcement") -> Future:
        """Speak ``text`` outside a turn once IDLE (or cutting the reply, by ``announce_policy``);
        the future gets the :class:`~roomvoice.events.Announcement`."""
        if self.options.announce_policy == "interrupt":
            self.interrupt("announcement", self.audio_time_s)
        return self.worker.submit(Job("announce", TurnControl("announce"), text=text, source=source))

    def handle_text(self, text: str, timeout_s: float = 300.0) -> TurnResult:
        """:meth:`submit_text` and wait (pumping the audio clock when nothing else does)."""
        return self._pump_until(self.submit_text(text), timeout_s)

    def announce(self, text: str, source: str = "announcement", timeout_s: float = 300.0):
        """:meth:`submit_announcement` and wait (pumping the audio clock when nothing else does)."""
        return self._pump_until(self.submit_announcement(text, source), timeout_s)

    def _pump_until(self, future: Future, timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < deadline:
            if self.worker.waiting_on_audio or self.player.has_queued:
                self.feed(AudioChunk(np.zeros(CHUNK_SAMPLES, np.int16), SAMPLE_RATE, self.audio_time_s,
                                     captured_at=time.monotonic()))
            else:
                time.sleep(0.01)
        return future.result(timeout=max(0.0, deadline - time.monotonic()))

    def report_error(self, stage: Stage, exc: BaseException) -> TurnResult | None:
        """Report a failure outside a turn (e.g. the source could not be opened): error event, apology, IDLE."""
        future = self.worker.submit(Job("failure", TurnControl("failure"), stage=stage, error=exc,
                                        audio_time_s=self.audio_time_s))
        return self._pump_until(future, 120.0)

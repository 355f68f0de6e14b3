"""The voice state machine of one room, as pure code (no I/O, no clocks, no Ray).

    IDLE ──wake──► LISTENING ──speech──► RECORDING ──end of speech──► TRANSCRIBING
      ▲               │ no speech                                         │ transcript
      │               ▼                                                   ▼
      └────────────── IDLE ◄──reply done── SPEAKING ◄──first sentence── THINKING
    IDLE ──typed text──► THINKING   (a chat message sent into the room)
    IDLE ──announcement──► SPEAKING  (announcements, timers, reminders: never over a reply)
    LISTENING/RECORDING ──wake lost to another room──► IDLE
    TRANSCRIBING/THINKING/SPEAKING ──barge-in (stop phrase)──► IDLE
    TRANSCRIBING/THINKING/SPEAKING ──barge-in (wake word)──► LISTENING  (a new turn at once)
    SPEAKING ──reply ended with a question──► LISTENING  (follow-up without the wake word)
    any state ──failure──► ERROR ──apology spoken──► IDLE

Every transition is stamped with audio time (seconds since the room's stream started)
and reported as a :class:`~roomvoice.events.StateChanged` through ``on_event``. An
impossible transition raises :class:`InvalidTransition` — the machine never silently
ends up in a state the pipeline did not plan for.
"""

from __future__ import annotations

from collections.abc import Callable

from roomvoice.events import StateChanged, VoiceState

S = VoiceState

ALLOWED: dict[VoiceState, frozenset[VoiceState]] = {
    S.IDLE: frozenset({S.LISTENING, S.THINKING, S.SPEAKING, S.ERROR}),
    S.LISTENING: frozenset({S.RECORDING, S.IDLE, S.ERROR}),
    S.RECORDING: frozenset({S.TRANSCRIBING, S.IDLE, S.ERROR}),
    S.TRANSCRIBING: frozenset({S.THINKING, S.IDLE, S.LISTENING, S.ERROR}),
    S.THINKING: frozenset({S.SPEAKING, S.IDLE, S.LISTENING, S.ERROR}),
    S.SPEAKING: frozenset({S.IDLE, S.LISTENING, S.ERROR}),
    S.ERROR: frozenset({S.IDLE}),
}
"""Allowed transitions. IDLE → THINKING is typed text sent into the room; THINKING → IDLE covers a
reply with nothing to say or an interrupted one; IDLE → SPEAKING an announcement; RECORDING → IDLE a
wake lost to another room; → LISTENING from a busy state a wake-word barge-in or a follow-up."""


class InvalidTransition(ValueError):
    """A transition that :data:`ALLOWED` does not permit."""


class VoiceStateMachine:
    """Tracks one room's :class:`VoiceState` and reports every change.

    Args:
        room: room name put into every event.
        on_event: called with each :class:`StateChanged` (synchronously, in order).
    """

    def __init__(self, room: str, on_event: Callable[[StateChanged], None] | None = None) -> None:
        self.room = room
        self._on_event = on_event
        self._state = S.IDLE
        self.history: list[StateChanged] = []

    @property
    def state(self) -> VoiceState:
        """The current state."""
        return self._state

    def transition(self, new: VoiceState, audio_time_s: float, reason: str = "") -> StateChanged:
        """Move to ``new`` at ``audio_time_s`` (seconds) for ``reason``.

        Raises:
            InvalidTransition: if ``new`` is not reachable from the current state.
        """
        if new not in ALLOWED[self._state]:
            raise InvalidTransition(f"{self.room}: {self._state.value} -> {new.value} is not allowed ({reason})")
        event = StateChanged(self.room, self._state, new, float(audio_time_s), reason)
        self._state = new
        self.history.append(event)
        if self._on_event is not None:
            self._on_event(event)
        return event

    # Named steps of a turn, so callers read like the diagram above.
    def wake(self, t: float) -> StateChanged:
        """Wake word heard: IDLE → LISTENING."""
        return self.transition(S.LISTENING, t, "wake")

    def speech_started(self, t: float) -> StateChanged:
        """Speech began: LISTENING → RECORDING."""
        return self.transition(S.RECORDING, t, "speech-started")

    def no_speech(self, t: float) -> StateChanged:
        """Nobody spoke after the wake word: LISTENING → IDLE."""
        return self.transition(S.IDLE, t, "no-speech")

    def end_of_speech(self, t: float) -> StateChanged:
        """Utterance complete: RECORDING → TRANSCRIBING."""
        return self.transition(S.TRANSCRIBING, t, "end-of-speech")

    def text_received(self, t: float) -> StateChanged:
        """Typed text sent into the room (no audio): IDLE → THINKING."""
        return self.transition(S.THINKING, t, "text")

    def transcribed(self, t: float) -> StateChanged:
        """Transcript ready: TRANSCRIBING → THINKING."""
        return self.transition(S.THINKING, t, "transcript")

    def speaking(self, t: float) -> StateChanged:
        """First reply audio ready: THINKING → SPEAKING."""
        return self.transition(S.SPEAKING, t, "first-audio")

    def done(self, t: float, reason: str = "reply-done") -> StateChanged:
        """Reply finished (or nothing to say): SPEAKING/THINKING → IDLE."""
        return self.transition(S.IDLE, t, reason)

    def wake_lost(self, t: float) -> StateChanged:
        """Another room answers this wake: LISTENING/RECORDING → IDLE."""
        return self.transition(S.IDLE, t, "wake-lost")

    def announcing(self, t: float) -> StateChanged:
        """An announcement, timer or reminder starts playing: IDLE → SPEAKING."""
        return self.transition(S.SPEAKING, t, "announcement")

    def interrupted(self, t: float, reason: str, listen: bool = False) -> StateChanged:
        """Barge-in while TRANSCRIBING/THINKING/SPEAKING: → IDLE, or → LISTENING when ``listen``
        (the wake word started a new turn)."""
        return self.transition(S.LISTENING if listen else S.IDLE, t, reason)

    def followup(self, t: float) -> StateChanged:
        """The reply asked a question: SPEAKING/THINKING → LISTENING without the wake word."""
        return self.transition(S.LISTENING, t, "followup")

    def fail(self, t: float, code: str) -> StateChanged | None:
        """Any failure: → ERROR (no-op if already in ERROR)."""
        if self._state is S.ERROR:
            return None
        return self.transition(S.ERROR, t, code)

    def recovered(self, t: float) -> StateChanged:
        """Apology spoken: ERROR → IDLE."""
        return self.transition(S.IDLE, t, "recovered")

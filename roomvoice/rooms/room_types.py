"""What a room is given and how it behaves: its services, where its wake claims go, its options.

Kept apart from :mod:`roomvoice.rooms.room` (the capture loop) so the loop module stays about the loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from roomvoice.events import AssistantRequest, ReplySentence, SpeechAudio, Transcript, Utterance, WakeClaim, WakeDecision
from roomvoice.rooms.bargein import BargeInSettings

ANNOUNCE_POLICIES = ("wait", "interrupt")
"""Values of :attr:`RoomOptions.announce_policy`."""


class VoiceServices(Protocol):
    """What a room needs from the shared services (Serve deployments or local engines)."""

    def transcribe(self, utterance: Utterance) -> Transcript:
        """Speech-to-text of one utterance (16 kHz mono int16)."""

    def reply(self, request: AssistantRequest) -> Iterable[ReplySentence]:
        """The assistant's reply, streamed sentence by sentence (a ``cancel()`` method, if any,
        is called on barge-in)."""

    def synthesize(self, text: str) -> list[SpeechAudio]:
        """Text-to-speech of one sentence."""

    # Optional: ``route(request) -> str`` ("fast_path", "tool" or "llm", nothing executed), used to end
    # a turn early on a whole home command; ``vocabulary() -> str``, words to bias STT towards.


class PendingDecision(Protocol):
    """A wake claim's decision on its way (see :class:`~roomvoice.actors.arbiter.ArbiterClient`)."""

    def done(self) -> bool:
        """True once the decision can be read without waiting."""

    def result(self, timeout_s: float | None = None) -> WakeDecision:
        """The decision; never raises (fails open: the room answers alone)."""


class WakeArbitration(Protocol):
    """Where a room sends its wake claims."""

    def submit(self, claim: WakeClaim) -> PendingDecision:
        """Send ``claim`` without blocking."""


@dataclass(frozen=True)
class RoomOptions:
    """How a room behaves in the house (from its config and the house's).

    Attributes:
        zone: the room's ``audio_zone``: only rooms of one zone compete for a wake.
        realtime_playback: pace replies on the audio clock (the room stays SPEAKING while they
            play, and its playback is the echo reference); False writes replies at once.
        followup_s: after a reply ending with a question, listen this long without the wake word
            (0 = off).
        barge_in: interruption settings.
        announce_policy: ``wait`` (announcements wait for IDLE) or ``interrupt`` (they cut a reply).
        arbiter_timeout_s: wall seconds a claim waits for the arbiter before answering alone.
        aec: echo cancellation with the room's playback as reference.
        playing_wake_threshold: wake threshold while the room plays audio: through WebRTC AEC the
            room's own "hey jarvis" still peaked at 0.49 (42 trials, ``benchmarks/aec_compare.py``)
            against openWakeWord's usual 0.5, while a talker's wake over the reply scores ~0.99.
        command_ends_turn: when the transcript made in a pause (:mod:`roomvoice.rooms.speculation`)
            is a whole home command the fast path answers, end the turn there instead of waiting
            for the rest of the end-of-speech hangover.
        preemptive_reply: when that transcript goes to the LLM's words, ask for the reply at once
            (:mod:`roomvoice.rooms.preempt`) and play it if the turn ends there.
    """

    zone: str = "home"
    realtime_playback: bool = False
    followup_s: float = 0.0
    barge_in: BargeInSettings = field(default_factory=BargeInSettings)
    announce_policy: str = "wait"
    arbiter_timeout_s: float = 1.0
    aec: bool = False
    playing_wake_threshold: float = 0.7
    command_ends_turn: bool = False
    preemptive_reply: bool = True

    def __post_init__(self) -> None:
        if self.announce_policy not in ANNOUNCE_POLICIES:
            raise ValueError(f"announce_policy must be one of {ANNOUNCE_POLICIES}, got {self.announce_policy!r}")
        if self.followup_s < 0 or self.arbiter_timeout_s <= 0:
            raise ValueError("followup_s must be >= 0 and arbiter_timeout_s > 0")


def error_tone(rate: int = 22_050) -> SpeechAudio:
    """A short two-note descending chime (0.4 s, int16), played when even the apology cannot be synthesised."""
    t = np.arange(int(0.2 * rate)) / rate
    env = np.minimum(1.0, 10 * t) * np.exp(-6 * t)
    notes = [np.sin(2 * np.pi * f * t) * env for f in (660.0, 440.0)]
    samples = (np.concatenate(notes) * 0.3 * 32767).astype(np.int16)
    return SpeechAudio(samples, rate, "(error tone)")


class Decided:
    """A decision already read (kept until the turn asks for it)."""

    def __init__(self, decision: WakeDecision) -> None:
        self._decision = decision

    def done(self) -> bool:
        return True

    def result(self, timeout_s: float | None = None) -> WakeDecision:
        return self._decision

"""Barge-in: what counts as "stop" while the room thinks or speaks, and when to pause playback.

While a turn is under way the room keeps listening (after echo cancellation) with a second
:class:`~roomvoice.rooms.endpoint.EndOfSpeechDetector` tuned for short phrases. Speech over
the reply pauses playback at once (``pause_on_speech``), so a stop phrase silences the room
within ~0.3 s of its start; the short phrase is then transcribed and checked by
:func:`match_stop_phrase`. A stop phrase cancels the turn; anything else resumes playback.
This follows pipecat's split of a VAD that interrupts early and a transcript that confirms
(``MinWordsInterruptionStrategy``), with the confirmation restricted to stop phrases so a
television talking over the reply does not end it. The wake word always interrupts and starts
a new turn (handled by the room).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

FILLER_WORDS = frozenset({"please", "jarvis", "hey", "ok", "okay", "oh", "um", "uh", "now", "it", "just", "alright",
                          "right", "so", "well", "thanks", "thank", "you"})
"""Words allowed around a stop phrase ("okay stop please", "jarvis, cancel")."""
FUZZY_MIN = 85.0
"""rapidfuzz ratio (0..100) from which a multi-word phrase counts as matched ("never mind" heard as
"nevermind")."""


@dataclass(frozen=True)
class BargeInSettings:
    """How a room is interrupted (from the ``barge_in`` config).

    Attributes:
        enabled: listen for the wake word and stop phrases while thinking/speaking.
        stop_phrases: phrases that stop the reply.
        pause_on_speech: pause playback when speech starts over it.
        min_speech_s: speech (s) that pauses playback.
        max_phrase_s: longest speech (s) checked as a stop phrase.
        end_silence_s: silence (s) that ends a checked phrase.
    """

    enabled: bool = True
    stop_phrases: tuple[str, ...] = field(default_factory=lambda: ("stop", "cancel", "never mind"))
    pause_on_speech: bool = True
    min_speech_s: float = 0.16
    max_phrase_s: float = 2.0
    end_silence_s: float = 0.32

    def __post_init__(self) -> None:
        if self.min_speech_s < 0 or self.max_phrase_s <= self.min_speech_s or self.end_silence_s <= 0:
            raise ValueError("barge_in: need 0 <= min_speech_s < max_phrase_s and end_silence_s > 0, got "
                             f"{self.min_speech_s} / {self.max_phrase_s} / {self.end_silence_s}")


def normalize(text: str) -> str:
    """Lower case, letters, digits and apostrophes only, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", text.lower())).strip()


def match_stop_phrase(text: str, phrases: Sequence[str]) -> str | None:
    """The stop phrase ``text`` (a short transcript) is, or None.

    The whole transcript must be a stop phrase, possibly repeated and wrapped in
    :data:`FILLER_WORDS` ("stop", "Stop, stop!", "okay cancel please", "nevermind"); a sentence
    that merely contains one ("don't stop the music") is not.
    """
    words = normalize(text).split()
    while words and words[0] in FILLER_WORDS:
        words.pop(0)
    while words and words[-1] in FILLER_WORDS:
        words.pop()
    if not words:
        return None
    said = " ".join(words)
    for phrase in phrases:
        p = normalize(phrase)
        if not p:
            continue
        n = len(p.split())
        if said == p or (len(words) % n == 0 and all(" ".join(words[i:i + n]) == p for i in range(0, len(words), n))):
            return phrase
        if n > 1 and fuzz.ratio(said.replace(" ", ""), p.replace(" ", "")) >= FUZZY_MIN:
            return phrase
    return None

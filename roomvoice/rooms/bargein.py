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

import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from roomvoice.events import Transcript, Utterance
from roomvoice.rooms.audio import AudioChunk
from roomvoice.rooms.endpoint import EndOfSpeechDetector, EndpointKind, EndpointSettings

logger = logging.getLogger(__name__)

FILLER_WORDS = frozenset({"please", "jarvis", "hey", "ok", "okay", "oh", "um", "uh", "now", "it", "just", "alright",
                          "right", "so", "well", "thanks", "thank", "you"})
"""Words allowed around a stop phrase ("okay stop please", "jarvis, cancel")."""
FUZZY_MIN = 85.0
"""rapidfuzz ratio (0..100) from which a multi-word phrase counts as matched ("never mind" heard as
"nevermind")."""
FUZZY_MIN_ONE_WORD = 70.0
"""rapidfuzz ratio from which a one-word transcript matches a one-word stop phrase. Over a playing reply
the echo canceller damps a phrase's first consonant and whisper tiny.en hears "Cancel." as "Ansel." (73)
(``benchmarks/house.py``); most other words stay below ("stuff"/"stop" 44, "pencil"/"cancel" 50). The
price: a lone sound-alike word said over a reply ("shop" 75, "channel" 77) stops it too."""
STOP_VAD_THRESHOLD = 0.4
"""Silero speech probability that counts as speech over a reply: a "Stop." said over the room's own
reply peaked at 0.41 through the echo canceller (the room's usual threshold is 0.5)."""


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
        if n == 1 and len(words) == 1 and fuzz.ratio(said, p) >= FUZZY_MIN_ONE_WORD:
            return phrase
    return None


@dataclass(frozen=True)
class StopVerdict:
    """What :meth:`StopPhraseListener.process` decided about a phrase heard over the reply.

    Attributes:
        kind: ``"pause"`` (speech started: hold playback), ``"resume"`` (not a stop phrase: play on),
            ``"stop"`` (a stop phrase: interrupt the turn).
        onset_s: audio time (s) the phrase's speech started (None when unknown).
        heard: the phrase's transcript (checks only).
        phrase: the stop phrase matched (``"stop"`` only).
        outcome: why it resumed: ``"not-a-stop"``, ``"too_long"``, ``"end_of_speech"`` (a check was
            already running).
    """

    kind: str
    onset_s: float | None = None
    heard: str = ""
    phrase: str | None = None
    outcome: str = ""


class StopPhraseListener:
    """Listens for stop phrases while a room is busy (see the module docs). Not thread-safe: the
    room's capture thread owns it; transcription runs on one helper thread.

    Args:
        settings: the room's barge-in settings.
        vad: the room's VAD (``"silero"`` or ``"energy"``) and its threshold, for the phrase detector.
        transcribe: STT of a short :class:`~roomvoice.events.Utterance`, with a ``prompt`` of words to
            bias towards (the stop phrases: a "stop" whose first consonant the echo canceller damped was
            heard as "up" without it).
        name: for the helper thread's name.
    """

    def __init__(self, settings: BargeInSettings, vad: str, vad_threshold: float,
                 transcribe: Callable[..., Transcript], name: str = "room") -> None:
        self.settings = settings
        self._detector = EndOfSpeechDetector(EndpointSettings(
            vad=vad, silero_threshold=min(vad_threshold, STOP_VAD_THRESHOLD), min_speech_s=settings.min_speech_s,
            end_silence_s=settings.end_silence_s, no_speech_timeout_s=1e9, max_utterance_s=settings.max_phrase_s,
            pre_roll_s=0.4))
        self._transcribe = transcribe
        self._prompt = ". ".join(p.capitalize() for p in settings.stop_phrases) + "."
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"stop-check-{name}")
        self._check: Future | None = None
        self.onset_s: float | None = None
        """Audio time (s) the latest phrase's speech started."""

    @property
    def checking(self) -> bool:
        """True while a phrase is being transcribed."""
        return self._check is not None and not self._check.done()

    def reset(self) -> None:
        """Forget any phrase (a new turn, or the turn ended)."""
        self._detector.reset()
        self._check = None
        self.onset_s = None

    def process(self, clean: AudioChunk, paused: bool) -> StopVerdict | None:
        """Feed one echo-cancelled chunk; ``paused``: playback is held for the current phrase."""
        if self._check is not None and self._check.done():
            return self._verdict()
        if not self._detector.active:
            self._detector.start(clean.start_s)
            if self._check is None and not paused:
                self.onset_s = None
        update = self._detector.process(clean)
        if update.kind is EndpointKind.SPEECH_STARTED:
            self.onset_s = update.speech_start_s
            return StopVerdict("pause", self.onset_s)
        if update.kind is EndpointKind.END_OF_SPEECH and update.utterance is not None and self._check is None:
            self.onset_s = update.speech_start_s
            self._check = self._executor.submit(self._stt, update.utterance)
        elif update.kind in (EndpointKind.TOO_LONG, EndpointKind.END_OF_SPEECH):
            return StopVerdict("resume", update.speech_start_s, outcome=update.kind.value)
        return None

    def _stt(self, utterance: Utterance) -> Transcript:
        try:
            return self._transcribe(utterance, prompt=self._prompt)
        except TypeError:  # services without vocabulary biasing
            return self._transcribe(utterance)

    def _verdict(self) -> StopVerdict:
        future, self._check = self._check, None
        try:
            heard = future.result().text.strip()
        except Exception as exc:  # the check failed: keep talking
            logger.warning("stop-phrase check failed (%s)", exc)
            heard = ""
        phrase = match_stop_phrase(heard, self.settings.stop_phrases)
        if phrase is None:
            return StopVerdict("resume", self.onset_s, heard, outcome="not-a-stop")
        return StopVerdict("stop", self.onset_s, heard, phrase)

    def close(self) -> None:
        """Stop the helper thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)

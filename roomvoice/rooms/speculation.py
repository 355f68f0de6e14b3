"""Transcribe while the user pauses: the transcript is ready when the turn ends, or ends it.

When the end-of-speech detector reports a ``PAUSE`` (``speculative_stt_s`` of silence after
speech, see :mod:`roomvoice.rooms.endpoint`), the room hands the utterance so far to its
:class:`Speculator`, which hears it on its own thread while capture goes on
(:func:`~roomvoice.rooms.vocabulary.hear`: the transcript, and where the assistant would send it,
``"fast_path"``, ``"unsure"``, ``"tool"`` or ``"llm"``; the fast path is only *recognised* there,
nothing is executed). Then:

* the turn ends at the normal hangover and no speech came after the pause: the turn uses this
  transcript (the same audio, up to the pause, already transcribed) instead of a new pass;
* the words are a complete home command the fast path recognises (``command_ends_turn``): the
  room ends the turn at once instead of waiting for the rest of the hangover;
* the words go to the LLM (route ``"llm"``): its reply is asked for at once
  (:class:`~roomvoice.rooms.preempt.PreemptiveReply`, nothing executed) and played if the turn
  ends with no more speech;
* speech resumes: the speculation is dropped (its result is never used, a preemptive reply is
  cancelled) and a later pause starts a new one.

The transcript of the whole utterance is therefore made in passes on the growing buffer, the
last of which covers all of the speech (the audio after it is silence). Only one pass runs at a
time per room; a newer pause replaces a queued one. The idea is pipecat's and LiveKit's
"preemptive" processing at a short pause, restricted here to work without side effects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from roomvoice.events import Transcript, Utterance
from roomvoice.rooms import background
from roomvoice.rooms.preempt import PreemptiveReply
from roomvoice.rooms.vocabulary import Heard

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class Speculation:
    """One transcript made in a pause.

    Attributes:
        utterance: the audio transcribed (16 kHz int16, from the pre-roll to the pause).
        last_speech_end_s: audio time (s) of the end of its last speech chunk: the speculation
            is valid for a turn whose last speech chunk ends at the same time.
        transcript: the STT result (None if it failed).
        route: ``"fast_path"``, ``"unsure"``, ``"tool"``, ``"llm"``, or None when not asked / failed.
        error: what failed (STT or the routing), or None.
        reply: the LLM reply being made for ``route == "llm"``, or None.
    """

    utterance: Utterance
    last_speech_end_s: float | None
    transcript: Transcript | None = None
    route: str | None = None
    error: BaseException | None = None
    reply: PreemptiveReply | None = None

    @property
    def complete_command(self) -> bool:
        """True when the words are a whole request the fast path answers."""
        return self.route == "fast_path" and self.transcript is not None and bool(self.transcript.text.strip())


class _Pass:
    """A speculation being made (or made): a result and an event."""

    def __init__(self, utterance: Utterance, last_speech_end_s: float | None) -> None:
        self.utterance = utterance
        self.last_speech_end_s = last_speech_end_s
        self.done = threading.Event()
        self.result: Speculation | None = None
        self.discarded = False

    def discard(self) -> None:
        """Never used: cancel its preemptive reply (now, or as soon as it would start)."""
        self.discarded = True
        reply = self.result.reply if self.result is not None else None
        if reply is not None:
            reply.cancel()


class Speculator:
    """One room's transcripts made in pauses (see the module docs), on one daemon thread.

    Args:
        name: the room (thread name, logs).
        hear: an utterance → :class:`~roomvoice.rooms.vocabulary.Heard` (transcript and route;
            may raise).
        on_change: called (no arguments) when a pass starts or ends, e.g. to wake a waiting room.
        preempt: text → a :class:`~roomvoice.rooms.preempt.PreemptiveReply` for words that go to
            the LLM; None = no preemptive replies.
    """

    def __init__(self, name: str, hear: Callable[[Utterance], Heard],
                 on_change: Callable[[], None] | None = None,
                 preempt: Callable[[str], PreemptiveReply] | None = None) -> None:
        self.name = name
        self._hear = hear
        self._on_change = on_change
        self._preempt = preempt
        self._lock = threading.Condition()
        self._queued: _Pass | None = None
        self._running: _Pass | None = None
        self._current: _Pass | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ the capture thread's side
    def start(self, utterance: Utterance, last_speech_end_s: float | None) -> None:
        """Transcribe ``utterance`` (the speech so far; the last speech chunk ends at
        ``last_speech_end_s``) as soon as the thread is free; replaces a queued pass."""
        job = _Pass(utterance, last_speech_end_s)
        with self._lock:
            if self._closed:
                return
            if self._current is not None:
                self._current.discard()
            self._queued, self._current = job, job
            if self._thread is None:
                self._thread = background.start(self._loop, f"speculate-{self.name}", self.close)
            self._lock.notify_all()

    def drop(self) -> None:
        """Forget the current speculation (speech resumed, the capture ended or was dropped)."""
        with self._lock:
            if self._current is not None:
                self._current.discard()
            self._queued, self._current = None, None

    def ready(self, last_speech_end_s: float | None, last_sound_end_s: float | None = None) -> Speculation | None:
        """The finished speculation for speech ending at ``last_speech_end_s``, without waiting
        (None if a softer sound, which may be a word, came after the audio it heard)."""
        with self._lock:
            job = self._current
        if not _fits(job, last_speech_end_s, last_sound_end_s) or not job.done.is_set():
            return None
        return job.result

    def claim(self, last_speech_end_s: float | None, last_sound_end_s: float | None = None) -> _Pass | None:
        """Take the current speculation for a turn whose speech ends at ``last_speech_end_s``
        (finished or not; :func:`wait_for` reads it), or None; the speculator forgets it."""
        with self._lock:
            job, self._current = self._current, None
            if job is not None and self._queued is job:
                self._queued = None
                job.discard()
                return None  # not started: a fresh transcription in the turn is as fast
        if job is not None and not _fits(job, last_speech_end_s, last_sound_end_s):
            job.discard()
            return None
        return job

    @property
    def computing(self) -> bool:
        """True while a pass runs or waits to run."""
        with self._lock:
            return self._running is not None or self._queued is not None

    def close(self) -> None:
        """Stop the thread after the running pass."""
        with self._lock:
            self._closed = True
            if self._current is not None:
                self._current.discard()
            self._queued = self._current = None
            self._lock.notify_all()

    # ------------------------------------------------------------------ the thread
    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed and self._queued is None:
                    self._lock.wait(0.5)
                if self._closed:
                    return
                job, self._queued = self._queued, None
                self._running = job
            self._changed()
            try:
                job.result = self._make(job)
            finally:
                with self._lock:
                    self._running = None
                job.done.set()
                self._changed()

    def _make(self, job: _Pass) -> Speculation:
        try:
            heard = self._hear(job.utterance)
        except Exception as exc:  # the turn's own transcription runs instead
            logger.info("%s: transcription in a pause failed (%s); the turn transcribes again", self.name, exc)
            return Speculation(job.utterance, job.last_speech_end_s, None, None, exc)
        logger.debug("%s: pause transcript %r (%s) in %.3f s", self.name, heard.transcript.text, heard.route,
                     heard.transcript.stt_s)
        reply = None
        if heard.route == "llm" and self._preempt is not None and not job.discarded:
            try:
                reply = self._preempt(heard.transcript.text.strip())
            except Exception as exc:  # the turn asks for its reply as usual
                logger.info("%s: no preemptive reply (%s)", self.name, exc)
            if reply is not None and job.discarded:
                reply.cancel()
        return Speculation(job.utterance, job.last_speech_end_s, heard.transcript, heard.route, reply=reply)

    def _changed(self) -> None:
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception:  # an observer must not stop the thread
                logger.debug("%s: speculation observer failed", self.name, exc_info=True)


def _fits(job: _Pass | None, last_speech_end_s: float | None, last_sound_end_s: float | None) -> bool:
    """The pass heard all the speech: no speech chunk, nor a softer sound, after its audio."""
    if job is None or job.last_speech_end_s != last_speech_end_s:
        return False
    return last_sound_end_s is None or last_sound_end_s <= job.utterance.end_s + 1e-6


def wait_for(job: _Pass | None, timeout_s: float) -> Speculation | None:
    """The result of a claimed pass, waiting up to ``timeout_s`` wall seconds; None if there is
    none, it did not finish in time, or its transcription failed."""
    if job is None or not job.done.wait(timeout_s):
        return None
    result = job.result
    return result if result is not None and result.transcript is not None else None

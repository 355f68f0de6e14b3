"""A room's reply playback, paced on the room's audio clock.

The turn's worker :meth:`Player.enqueue` s reply audio sentence by sentence; the capture loop
calls :meth:`Player.tick` once per captured 80 ms chunk, which hands the next 80 ms of reply
audio to the :class:`~roomvoice.rooms.sinks.AudioSink` and returns it, at 16 kHz, as the
echo reference for the next captured chunk. Capture and playback thus share one clock, as the
ADC and DAC of one sound card do: a real-time room plays at wall-clock pace, a file-fed test
room at the pace its audio is read.

A :meth:`pause` (speech heard over the reply) holds playback where it is; :meth:`stop`
(barge-in) drops everything queued. Either takes effect at the next tick, so playback stops at
most one chunk (80 ms) after the call. The player counts what was played of each sentence, so an
interrupted turn records the text actually spoken.

A player built with ``realtime=False`` (a ``wav``/``null`` sink without ``sink.realtime``)
writes every sentence to the sink at once, as before full duplex: no pacing, no reference.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from roomvoice.events import SpeechAudio
from roomvoice.rooms.audio import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk, to_contract
from roomvoice.rooms.sinks import AudioSink

logger = logging.getLogger(__name__)


@dataclass
class _Segment:
    """One sentence of reply audio: device-rate samples, their 16 kHz copy, and how much was played."""

    audio: SpeechAudio
    ref: np.ndarray
    played: int = 0  # 16 kHz samples played

    def played_words(self) -> str:
        """The share of the sentence's words already played (by audio duration)."""
        words = self.audio.text.split()
        return " ".join(words[: int(round(self.played / max(1, len(self.ref)) * len(words)))])


class Player:
    """Paced playback of one room's replies (see the module docs). Thread-safe.

    Args:
        sink: the room's audio sink.
        realtime: pace playback on the audio clock (True) or write at once (False).
        on_played: receives every played 16 kHz reference chunk (stamped with the audio time at
            which it plays), e.g. a simulated echo path; must not block.
    """

    def __init__(self, sink: AudioSink, realtime: bool,
                 on_played: Callable[[AudioChunk], None] | None = None) -> None:
        self.sink = sink
        self.realtime = bool(realtime)
        self._on_played = on_played
        self._lock = threading.Condition()
        self._queue: deque[_Segment] = deque()
        self._spoken: list[str] = []
        self._open = False
        self._finished = False
        self._paused = False
        self._error: BaseException | None = None
        self.first_audio_at: float | None = None
        """``time.monotonic()`` when the current reply's first audio chunk was handed to the sink."""
        self.stopped_at_s: float | None = None
        """Audio time (s) at which playback of the current reply was stopped or paused last."""

    # ------------------------------------------------------------------ the turn's side
    def begin(self, number: int, announcement: bool = False) -> None:
        """A new reply (``number`` = turn number) or announcement starts; forgets the previous one."""
        with self._lock:
            self._queue.clear()
            self._spoken = []
            self._finished = False
            self._paused = False
            self._error = None
            self.first_audio_at = None
            self.stopped_at_s = None
            self._open = True
        if announcement:
            self.sink.begin_announcement(number)
        else:
            self.sink.begin(number)

    def enqueue(self, audio: SpeechAudio) -> None:
        """Queue one sentence of reply audio (any rate, mono int16).

        Raises:
            AudioError: from the sink (non-real-time), or one the paced sink raised earlier.
        """
        if not self.realtime:
            if self.first_audio_at is None:
                self.first_audio_at = time.monotonic()
            self.sink.write(audio)
            self._spoken.append(audio.text)
            return
        ref = to_contract(np.asarray(audio.samples), audio.rate, what="reply audio") if len(audio.samples) else \
            np.zeros(0, np.int16)
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._open:
                self._queue.append(_Segment(audio, ref))
                self._lock.notify_all()

    def finish(self, cancelled: threading.Event | None = None, poll_s: float = 0.05) -> str | None:
        """No more audio for this reply: wait until it has been played (or ``cancelled`` is set /
        :meth:`stop` is called), then end the sink's reply. Returns the sink's file path.

        Raises:
            AudioError: a sink failure during playback.
        """
        if self.realtime:
            with self._lock:
                self._finished = True
                while self._queue and self._open and self._error is None:
                    if cancelled is not None and cancelled.is_set():
                        break
                    self._lock.wait(poll_s)
                error, self._open = self._error, False
                self._queue.clear()
            if error is not None:
                raise error
        else:
            self._open = False
        return self.sink.end()

    @property
    def has_queued(self) -> bool:
        """True while reply audio waits to be played (and playback is not paused)."""
        with self._lock:
            return bool(self._queue) and not self._paused

    def spoken_text(self) -> str:
        """The reply text played so far: whole sentences, and the played share of the words of a
        sentence cut short (by audio duration)."""
        with self._lock:  # only the head of the queue can be partly played
            parts = [*self._spoken, self._queue[0].played_words() if self._queue else ""]
        return " ".join(p for p in parts if p).strip()

    # ------------------------------------------------------------------ the capture loop's side
    def tick(self, start_s: float) -> AudioChunk | None:
        """Play the next 80 ms (the chunk period starting at audio time ``start_s``).

        Returns the 16 kHz reference of what is played (None when nothing plays). A sink failure
        is kept and raised to the turn by :meth:`enqueue` / :meth:`finish`.
        """
        if not self.realtime:
            return None
        with self._lock:
            if not self._queue or self._paused or not self._open or self._error is not None:
                return None
            ref = np.zeros(CHUNK_SAMPLES, np.int16)
            filled = 0
            writes: list[SpeechAudio] = []
            while filled < CHUNK_SAMPLES and self._queue:
                seg = self._queue[0]
                take = min(CHUNK_SAMPLES - filled, len(seg.ref) - seg.played)
                ref[filled : filled + take] = seg.ref[seg.played : seg.played + take]
                a, b = (int(round(x * seg.audio.rate / SAMPLE_RATE)) for x in (seg.played, seg.played + take))
                if b > a:
                    writes.append(SpeechAudio(np.asarray(seg.audio.samples[a:b]), seg.audio.rate, seg.audio.text))
                seg.played += take
                filled += take
                if seg.played >= len(seg.ref):
                    self._spoken.append(seg.audio.text)
                    self._queue.popleft()
            if not self._queue:
                self._lock.notify_all()
        try:
            for w in writes:
                self.sink.write(w)
        except Exception as exc:  # the turn reports it; capture goes on
            logger.warning("sink failed during playback: %s", exc)
            with self._lock:
                self._error = exc
                self._queue.clear()
                self._lock.notify_all()
            return None
        if self.first_audio_at is None:
            self.first_audio_at = time.monotonic()
        chunk = AudioChunk(ref, SAMPLE_RATE, start_s)
        if self._on_played is not None:
            try:
                self._on_played(chunk)
            except Exception:  # an observer never breaks playback
                logger.exception("playback observer failed")
        return chunk

    def pause(self, at_s: float) -> bool:
        """Hold playback from the next tick (speech over the reply). True if something was playing."""
        with self._lock:
            if self._paused or not self._queue:
                return False
            self._paused = True
            self.stopped_at_s = at_s
            return True

    def resume(self) -> None:
        """Continue a paused reply where it was held."""
        with self._lock:
            self._paused = False
            self._lock.notify_all()

    @property
    def paused(self) -> bool:
        """True while playback is held by :meth:`pause`."""
        return self._paused

    def stop(self, at_s: float) -> bool:
        """Drop what is queued: playback ends at the next tick. True if something was playing."""
        with self._lock:
            was = bool(self._queue) and not self._paused
            if self.stopped_at_s is None or not self._paused:
                self.stopped_at_s = at_s
            if self._queue and (part := self._queue[0].played_words()):
                self._spoken.append(part)  # the words of a sentence cut short count as spoken
            self._queue.clear()
            self._paused = False
            self._open = False
            self._lock.notify_all()
            return was

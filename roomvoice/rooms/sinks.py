"""Audio sinks: where a room's reply audio goes.

A reply arrives sentence by sentence (:class:`~roomvoice.events.SpeechAudio`); a sink
gets ``begin(turn)``, one ``write`` per sentence as soon as it is synthesised, then
``end()``, which returns when playback is finished.
"""

from __future__ import annotations

import logging
import queue
import threading
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from roomvoice.errors import AudioError
from roomvoice.events import SpeechAudio
from roomvoice.rooms.audio import AudioClip, write_wav

logger = logging.getLogger(__name__)


class AudioSink(ABC):
    """Plays or stores reply audio."""

    @abstractmethod
    def begin(self, turn: int) -> None:
        """A new reply starts (``turn`` is the room's 1-based turn number)."""

    @abstractmethod
    def write(self, audio: SpeechAudio) -> None:
        """Queue one sentence of audio; must not wait for playback to finish."""

    @abstractmethod
    def end(self) -> str | None:
        """Finish the reply; blocks until played. Returns a file path if one was written."""

    def begin_announcement(self, number: int) -> None:
        """An announcement (speech outside a turn) starts; ``number`` is the next turn's number.
        By default the same as :meth:`begin`."""
        self.begin(number)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device, if any."""


class NullSink(AudioSink):
    """Discards audio; keeps the total duration for inspection."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def begin(self, turn: int) -> None:
        pass

    def write(self, audio: SpeechAudio) -> None:
        self.seconds += audio.duration_s

    def end(self) -> str | None:
        return None


class WavSink(AudioSink):
    """Writes each reply to ``<directory>/turn-NNN.wav`` (mono int16 at the TTS rate)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._parts: list[np.ndarray] = []
        self._rate: int | None = None
        self._turn = 0
        self._stem = "turn"

    def begin(self, turn: int) -> None:
        self._parts, self._rate, self._turn, self._stem = [], None, turn, "turn"

    def begin_announcement(self, number: int) -> None:
        """Start ``announce-NNN-K.wav`` (K counts announcements before turn NNN), never a turn's file."""
        self.begin(number)
        k = 1
        while (self.directory / f"announce-{number:03d}-{k}.wav").exists():
            k += 1
        self._stem = f"announce-{number:03d}-{k}"

    def write(self, audio: SpeechAudio) -> None:
        if self._rate is not None and audio.rate != self._rate:
            raise AudioError("audio-bad-format", f"reply mixes {self._rate} Hz and {audio.rate} Hz audio")
        self._rate = audio.rate
        self._parts.append(np.asarray(audio.samples, dtype=np.int16))

    def end(self) -> str | None:
        if not self._parts or self._rate is None:
            return None
        path = self.directory / (f"turn-{self._turn:03d}.wav" if self._stem == "turn" else f"{self._stem}.wav")
        write_wav(path, AudioClip(np.concatenate(self._parts), self._rate))
        self._parts = []
        return str(path)


class SpeakerSink(AudioSink):
    """Plays through a pyaudio output device on a background thread (sentence N plays while N+1 is synthesised).

    Raises:
        AudioError: ``audio-no-pyaudio`` without pyaudio, ``audio-no-output-device`` without a speaker.
    """

    def __init__(self, device_index: int | None = None) -> None:
        try:
            import pyaudio
        except ImportError as exc:
            raise AudioError("audio-no-pyaudio", "speaker sink needs pyaudio: pip install 'roomvoice[audio]'") from exc
        self._pyaudio = pyaudio
        self._pa = pyaudio.PyAudio()
        outputs = [
            i for i in range(self._pa.get_device_count())
            if self._pa.get_device_info_by_index(i).get("maxOutputChannels", 0) > 0
        ]
        if not outputs:
            self._pa.terminate()
            raise AudioError("audio-no-output-device", "no audio output device found")
        self.device_index = device_index
        self._queue: queue.Queue[SpeechAudio | None] = queue.Queue()
        self._stream = None
        self._rate: int | None = None
        self._thread = threading.Thread(target=self._play_loop, name="speaker", daemon=True)
        self._thread.start()

    def _play_loop(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    continue
                if self._stream is None or self._rate != item.rate:
                    if self._stream is not None:
                        self._stream.close()
                    self._stream = self._pa.open(format=self._pyaudio.paInt16, channels=1, rate=item.rate,
                                                 output=True, output_device_index=self.device_index)
                    self._rate = item.rate
                self._stream.write(np.asarray(item.samples, dtype=np.int16).tobytes())
            except Exception:  # keep the room alive; the turn reports success of synthesis only
                logger.exception("speaker playback failed")
            finally:
                self._queue.task_done()

    def begin(self, turn: int) -> None:
        pass

    def write(self, audio: SpeechAudio) -> None:
        self._queue.put(audio)

    def end(self) -> str | None:
        self._queue.join()
        return None

    def close(self) -> None:
        self._queue.join()
        if self._stream is not None:
            self._stream.close()
        self._pa.terminate()


def make_sink(cfg, directory: str | Path) -> AudioSink:
    """Build the sink a :class:`~roomvoice.config.SinkConfig` describes; ``directory`` is for WAV files."""
    if cfg.type == "wav":
        return WavSink(directory)
    if cfg.type == "speaker":
        return SpeakerSink(cfg.device_index)
    if cfg.type == "null":
        return NullSink()
    raise ValueError(f"sink.type: unknown sink type {cfg.type!r}")

"""Audio sources: where a room's audio comes from.

Every source yields contract chunks (16 kHz mono int16, 1 280 samples = 80 ms) stamped
with audio time. Conversion from the device/file format happens here, at the edge.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from roomvoice.errors import AudioError
from roomvoice.rooms.audio import (
    CHUNK_SAMPLES,
    CHUNK_SECONDS,
    SAMPLE_RATE,
    AudioChunk,
    iter_chunks,
    read_audio_file,
    silence,
    to_contract,
)

logger = logging.getLogger(__name__)


class AudioSource(ABC):
    """A stream of contract :class:`AudioChunk` objects."""

    @abstractmethod
    def chunks(self, start_s: float = 0.0) -> Iterator[AudioChunk]:
        """Yield chunks; ``start_s`` skips audio before that audio time (resume after restart)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device, if any."""

    @property
    def finite(self) -> bool:
        """True when the source ends by itself (files), False for live devices."""
        return True

    @property
    def paced(self) -> bool:
        """True when chunks arrive at wall-clock pace (a microphone, a real-time file).

        A paced room captures audio while it thinks and speaks (full duplex). An unpaced one
        (a file read as fast as possible) runs on virtual time: its audio waits while the room
        computes and flows while it plays, so tests are fast and repeatable.
        """
        return bool(getattr(self, "realtime", not self.finite))


SILENCE_PREFIX = "silence:"
"""A file source's path ``silence:SECONDS`` is that much silence (scenes built from config)."""


def _silence_seconds(entry: str) -> float:
    """Seconds of a ``silence:SECONDS`` path entry.

    Raises:
        AudioError: ``audio-not-found`` when SECONDS is not a number in 0..600.
    """
    try:
        seconds = float(entry[len(SILENCE_PREFIX):])
    except ValueError:
        seconds = -1.0
    if not 0.0 <= seconds <= 600.0:
        raise AudioError("audio-not-found", f"{entry!r}: expected silence:SECONDS with 0 <= SECONDS <= 600")
    return seconds


class FileSource(AudioSource):
    """Plays audio files in order, as if they were heard by a microphone.

    Args:
        paths: WAV/FLAC/OGG files, any sample rate and channel count (resampled with soxr);
            an entry ``silence:SECONDS`` is that much silence.
        gap_s: seconds of silence between files.
        lead_s: seconds of silence before the first file.
        tail_s: seconds of silence after the last file (lets end of speech fire).
        realtime: sleep so chunks arrive at real-time pace (a wall-clock edge, not logic).
        gain_db: gain applied to the files' samples (dB), clipped at full scale.
        delay_s: extra silence before ``lead_s`` (s): one recording played into two rooms
            reaches them at different times.

    Raises:
        AudioError: at construction, for a missing, unreadable or empty file, naming it.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        *,
        gap_s: float = 1.5,
        lead_s: float = 1.0,
        tail_s: float = 2.0,
        realtime: bool = False,
        gain_db: float = 0.0,
        delay_s: float = 0.0,
    ) -> None:
        if not paths:
            raise AudioError("audio-not-found", "file source has no files")
        parts = [silence(max(0.0, delay_s) + lead_s)]
        gain = 10.0 ** (float(gain_db) / 20.0)
        for i, p in enumerate(paths):
            if i:
                parts.append(silence(gap_s))
            if str(p).startswith(SILENCE_PREFIX):
                parts.append(silence(_silence_seconds(str(p))))
                continue
            samples = read_audio_file(p).samples
            if gain != 1.0:
                samples = np.clip(np.round(samples.astype(np.float64) * gain), -32768, 32767).astype(np.int16)
            parts.append(samples)
        parts.append(silence(tail_s))
        self.samples = np.concatenate(parts)
        self.realtime = realtime
        self.paths = [str(p) for p in paths]

    @property
    def duration_s(self) -> float:
        """Total audio duration in seconds, silences included."""
        return len(self.samples) / SAMPLE_RATE

    def chunks(self, start_s: float = 0.0) -> Iterator[AudioChunk]:
        first = int(max(0.0, start_s) * SAMPLE_RATE) // CHUNK_SAMPLES * CHUNK_SAMPLES
        t0 = time.monotonic()
        for chunk in iter_chunks(self.samples[first:], start_s=first / SAMPLE_RATE):
            if self.realtime:
                ahead = (chunk.end_s - first / SAMPLE_RATE) - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            yield replace(chunk, captured_at=time.monotonic())


class ArraySource(AudioSource):
    """Contract samples already in memory (tests, audio pushed over an API)."""

    def __init__(self, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
        self.samples = to_contract(samples, rate, what="array source")

    def chunks(self, start_s: float = 0.0) -> Iterator[AudioChunk]:
        first = int(max(0.0, start_s) * SAMPLE_RATE) // CHUNK_SAMPLES * CHUNK_SAMPLES
        for chunk in iter_chunks(self.samples[first:], start_s=first / SAMPLE_RATE):
            yield replace(chunk, captured_at=time.monotonic())


class MicrophoneSource(AudioSource):
    """Live capture from a pyaudio input device (the ``[audio]`` extra).

    Args:
        device_index: pyaudio input device index; None = the default input device.
        sample_rate: capture rate in Hz (converted to 16 kHz with a streaming soxr resampler).
        channels: capture channels (mixed down to mono).

    Raises:
        AudioError: ``audio-no-pyaudio`` if pyaudio is not installed,
            ``audio-no-input-device`` if no capture device exists or it cannot be opened.
    """

    def __init__(self, device_index: int | None = None, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> None:
        try:
            import pyaudio
        except ImportError as exc:
            raise AudioError(
                "audio-no-pyaudio",
                "microphone source needs pyaudio: apt-get install portaudio19-dev && pip install 'roomvoice[audio]'",
            ) from exc
        self._pa = pyaudio.PyAudio()
        inputs = [
            i for i in range(self._pa.get_device_count())
            if self._pa.get_device_info_by_index(i).get("maxInputChannels", 0) > 0
        ]
        if not inputs or (device_index is not None and device_index not in inputs):
            self._pa.terminate()
            raise AudioError(
                "audio-no-input-device",
                f"no audio capture device{'' if device_index is None else f' with index {device_index}'} "
                f"(input devices found: {inputs or 'none'})",
            )
        self.rate = int(sample_rate)
        self.channels = int(channels)
        frames = int(round(CHUNK_SECONDS * self.rate))
        try:
            self._stream = self._pa.open(
                format=pyaudio.paInt16, channels=self.channels, rate=self.rate, input=True,
                input_device_index=device_index, frames_per_buffer=frames,
            )
        except OSError as exc:
            self._pa.terminate()
            raise AudioError("audio-no-input-device", f"cannot open capture device {device_index}: {exc}") from exc
        self._frames = frames
        self._closed = threading.Event()

    @property
    def finite(self) -> bool:
        return False

    def chunks(self, start_s: float = 0.0) -> Iterator[AudioChunk]:
        """Capture until closed; the audio clock starts at ``start_s`` (a restarted room keeps its clock)."""
        import soxr

        resampler = soxr.ResampleStream(self.rate, SAMPLE_RATE, 1, dtype="float32") if self.rate != SAMPLE_RATE else None
        pending = np.zeros(0, dtype=np.int16)
        t = max(0.0, float(start_s))
        while not self._closed.is_set():
            raw = self._stream.read(self._frames, exception_on_overflow=False)
            data = np.frombuffer(raw, dtype=np.int16).reshape(-1, self.channels).astype(np.float32).mean(axis=1) / 32768.0
            if resampler is not None:
                data = resampler.resample_chunk(data)
            pending = np.concatenate([pending, np.clip(np.round(data * 32768.0), -32768, 32767).astype(np.int16)])
            while len(pending) >= CHUNK_SAMPLES:
                yield AudioChunk(pending[:CHUNK_SAMPLES].copy(), SAMPLE_RATE, t, captured_at=time.monotonic())
                pending = pending[CHUNK_SAMPLES:]
                t += CHUNK_SECONDS

    def close(self) -> None:
        self._closed.set()
        try:
            self._stream.stop_stream()
            self._stream.close()
        finally:
            self._pa.terminate()


def make_source(cfg) -> AudioSource:
    """Build the source a :class:`~roomvoice.config.SourceConfig` describes.

    Raises:
        AudioError: as the chosen source does; ValueError for an unknown ``type``.
    """
    if cfg.type == "file":
        return FileSource(list(cfg.paths), gap_s=cfg.gap_s, lead_s=cfg.lead_s, tail_s=cfg.tail_s, realtime=cfg.realtime,
                          gain_db=cfg.gain_db, delay_s=cfg.delay_s)
    if cfg.type == "microphone":
        return MicrophoneSource(cfg.device_index, cfg.sample_rate, cfg.channels)
    raise ValueError(f"source.type: unknown source type {cfg.type!r}")

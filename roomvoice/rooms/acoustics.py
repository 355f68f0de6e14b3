"""Simulated acoustics of a house: talkers, rooms, microphones and speaker echo.

For tests, benchmarks and the demo: a shared talker timeline (what people say, when, in
house audio time) heard by several rooms at their own gain and delay, plus each room's own
playback leaking back into its microphone (echo), plus white noise. No hardware, no Ray.

The model, per room (all signals 16 kHz mono; levels in dB relative to the source)::

    mic[t] = 10**(gain_db/20)      * talker[t - delay_s]
           + 10**(echo_gain_db/20) * (h * played)[t - echo_delay_s]
           + noise(noise_dbfs)                                   -> clipped to int16

``talker`` is the house's :class:`TalkerTimeline`; ``played`` is what the room wrote to its
:class:`PlaybackTap`; ``h`` is a unit impulse (a single echo path) or, with
``echo_rt60_s > 0``, a synthetic room impulse response (direct path plus an exponentially
decaying diffuse tail, energy normalised to 1).

Causality. :class:`SimulatedMicrophone` is pull-based: a chunk is computed only when the
consumer asks for the next one, so the echo in it is what the tap held at that moment. The
room loop that makes the echo path causal is::

    for chunk in mic.chunks(start_s):             # chunk covers [t, t + 0.08 s)
        far = tap.read(chunk.start_s, len(chunk.samples))   # AEC reference: played over [t, t+0.08)
        clean = aec.process(chunk, far_chunk)
        ...                                        # decide what to play next
        tap.write(AudioChunk(reply_piece, start_s=chunk.end_s))   # played from t + 0.08 s on

Playback stamped at or after the end of the last chunk taken is heard in the next chunks;
playback stamped earlier is in the tap (the reference reads it) but its echo is missing from
chunks already handed out — as for a real microphone, the past cannot change.

All time is audio time in seconds (``chunk.start_s``); wall-clock pacing (``realtime``) is
an edge option of the microphone only, as in ``FileSource``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from roomvoice.rooms.audio import (
    CHUNK_SAMPLES,
    SAMPLE_RATE,
    AudioChunk,
    check_contract_chunk,
    to_contract,
)
from roomvoice.rooms.sources import AudioSource

DEFAULT_TAP_SECONDS = 30.0
"""Seconds of playback a :class:`PlaybackTap` keeps (older audio reads as zeros)."""


def to_index(seconds: float) -> int:
    """Audio time in seconds -> sample index at 16 kHz (rounded, so 120.08 s is exact)."""
    return int(round(float(seconds) * SAMPLE_RATE))


def _db_to_gain(db: float) -> float:
    """Amplitude factor of a level in dB (``-inf`` -> 0)."""
    return 0.0 if db == -math.inf else float(10.0 ** (db / 20.0))


class PlaybackTap:
    """Thread-safe record of what one room's speaker played, by that room's audio time.

    A ring buffer of the last ``capacity_s`` seconds: the playback thread writes, the
    capture thread reads (the AEC reference and the simulated echo).

    Args:
        capacity_s: seconds of playback kept (memory: 2 bytes per sample, 30 s = 960 kB).

    Raises:
        ValueError: ``capacity_s`` shorter than one chunk.
    """

    def __init__(self, capacity_s: float = DEFAULT_TAP_SECONDS) -> None:
        if to_index(capacity_s) < CHUNK_SAMPLES:
            raise ValueError(f"capacity_s must be at least {CHUNK_SAMPLES / SAMPLE_RATE} s, got {capacity_s}")
        self.capacity_s = float(capacity_s)
        self._buf = np.zeros(to_index(capacity_s), dtype=np.int16)
        self._end = 0  # one past the newest sample index written (absolute, 16 kHz)
        self._lock = threading.Lock()

    @property
    def end_s(self) -> float:
        """Audio time just after the latest played sample written, in seconds (0 if none)."""
        with self._lock:
            return self._end / SAMPLE_RATE

    def write(self, chunk: AudioChunk) -> None:
        """Record played audio.

        Args:
            chunk: contract samples (16 kHz mono ``numpy.int16`` ``(n,)``, any ``n``) stamped
                with the room audio time (``start_s``, seconds) at which they are played.
                Audio already written for the same times is overwritten; times skipped
                between writes read as zeros (nothing played); audio older than
                ``capacity_s`` before the newest sample is dropped.

        Raises:
            AudioError: ``audio-bad-format`` for a chunk outside the contract.
        """
        check_contract_chunk(chunk)
        samples = np.asarray(chunk.samples)
        start = to_index(chunk.start_s)
        if start < 0:
            samples, start = samples[-start:], 0
        if len(samples) == 0:
            return
        cap = len(self._buf)
        with self._lock:
            stop = start + len(samples)
            if stop > self._end:  # time moves on: forget what the ring held for the new span
                self._zero(max(self._end, stop - cap), stop)
                self._end = stop
            oldest = self._end - cap
            if stop <= oldest:
                return
            if start < oldest:
                samples, start = samples[oldest - start :], oldest
            self._put(start, samples)

    def read(self, start_s: float, n_samples: int) -> np.ndarray:
        """What was played over ``[start_s, start_s + n_samples / 16000)``.

        Returns:
            ``numpy.int16`` ``(n_samples,)``; zeros where nothing was played, nothing was
            written yet, before audio time 0, or older than ``capacity_s``.
        """
        return self.read_index(to_index(start_s), n_samples)

    def read_index(self, start: int, n_samples: int) -> np.ndarray:
        """:meth:`read` by sample index at 16 kHz (exact, for the simulation)."""
        n = int(n_samples)
        out = np.zeros(max(n, 0), dtype=np.int16)
        with self._lock:
            lo = max(start, self._end - len(self._buf), 0)
            hi = min(start + n, self._end)
            if hi > lo:
                out[lo - start : hi - start] = self._get(lo, hi)
        return out

    def _zero(self, lo: int, hi: int) -> None:
        """Zero the ring slots of sample indexes ``lo .. hi`` (``hi - lo <= capacity``)."""
        if hi <= lo:
            return
        cap = len(self._buf)
        a, b = lo % cap, (hi - 1) % cap + 1
        if a < b:
            self._buf[a:b] = 0
        else:
            self._buf[a:] = 0
            self._buf[:b] = 0

    def _put(self, start: int, samples: np.ndarray) -> None:
        cap = len(self._buf)
        a = start % cap
        first = min(len(samples), cap - a)
        self._buf[a : a + first] = samples[:first]
        if first < len(samples):
            self._buf[: len(samples) - first] = samples[first:]

    def _get(self, lo: int, hi: int) -> np.ndarray:
        cap = len(self._buf)
        a = lo % cap
        n = hi - lo
        if a + n <= cap:
            return self._buf[a : a + n]
        return np.concatenate([self._buf[a:], self._buf[: n - (cap - a)]])


@dataclass(frozen=True)
class RoomAcoustics:
    """How one room hears the house and itself.

    Attributes:
        name: room name (``"kitchen"``).
        gain_db: level of the talker at this room's microphone relative to the talker
            track, in dB (0 = as recorded; -6 = a room twice as far, roughly).
        delay_s: talker → microphone propagation delay in seconds (~0.003 s per metre).
        echo_gain_db: level of the room's own playback at its microphone, in dB (-6 for a
            smart speaker's mic next to its speaker; ``-inf`` = no echo).
        echo_delay_s: playback → microphone delay in seconds (device buffers + distance).
        echo_rt60_s: reverberation time of the echo path in seconds; 0 = a single echo path
            (pure delay and gain); e.g. 0.3 for a furnished living room. The synthetic
            impulse response is 0.5 * RT60 long (at most 1 s).
        noise_dbfs: RMS level of added white Gaussian noise in dBFS; None = no noise.
        seed: seed of the noise and of the reverberant tail (the noise of a chunk depends
            only on the seed and the chunk's audio time, so a restart hears the same noise).

    Raises:
        ValueError: empty name, negative delays or RT60.
    """

    name: str
    gain_db: float = 0.0
    delay_s: float = 0.0
    echo_gain_db: float = -6.0
    echo_delay_s: float = 0.03
    echo_rt60_s: float = 0.0
    noise_dbfs: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("room acoustics need a name")
        for field in ("delay_s", "echo_delay_s", "echo_rt60_s"):
            if not getattr(self, field) >= 0.0:
                raise ValueError(f"{self.name}: {field} must be >= 0 s, got {getattr(self, field)}")

    def echo_response(self) -> np.ndarray:
        """The echo path's impulse response (float64, sum of squares 1; ``[1.0]`` when dry)."""
        if self.echo_rt60_s <= 0.0:
            return np.ones(1)
        n = max(2, min(to_index(0.5 * self.echo_rt60_s), SAMPLE_RATE))
        k = np.arange(n, dtype=np.float64)
        decay = np.exp(-6.9078 * k / (self.echo_rt60_s * SAMPLE_RATE))  # -60 dB (ln 1000) at RT60
        tail = np.random.default_rng([self.seed, 7]).standard_normal(n) * decay
        gap = to_index(0.002)  # first reflections ~2 ms after the direct path
        tail[: min(gap, n)] = 0.0
        tail_energy = float(np.sum(tail * tail))
        h = np.zeros(n)
        h[0] = 1.0
        if tail_energy > 0:  # direct-to-reverberant ratio 0 dB: half the energy in the tail
            h += tail / math.sqrt(tail_energy)
        return h / math.sqrt(float(np.sum(h * h)))


class TalkerTimeline:
    """What people say in the house, in house audio time (seconds), thread-safe.

    Utterances may overlap (they add) and may be added while microphones run; a chunk
    already handed out does not change.
    """

    def __init__(self) -> None:
        self._utterances: list[tuple[int, np.ndarray]] = []
        self._lock = threading.Lock()

    def add(self, at_s: float, samples: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[float, float]:
        """Place speech on the timeline.

        Args:
            at_s: audio time in seconds of its first sample (>= 0).
            samples: mono PCM ``(n,)``, int16 or float (converted with ``to_contract``).
            rate: its sample rate in Hz (resampled to 16 kHz).

        Returns:
            ``(start_s, end_s)`` of the utterance on the timeline.

        Raises:
            ValueError: negative ``at_s``.
            AudioError: as ``to_contract`` for empty, NaN or badly shaped audio.
        """
        if not float(at_s) >= 0.0:
            raise ValueError(f"utterance time must be >= 0 s, got {at_s}")
        pcm = to_contract(np.asarray(samples), rate, what="utterance")
        start = to_index(at_s)
        with self._lock:
            self._utterances.append((start, pcm.astype(np.float64)))
        return start / SAMPLE_RATE, (start + len(pcm)) / SAMPLE_RATE

    @property
    def spans(self) -> list[tuple[float, float]]:
        """``(start_s, end_s)`` of every utterance, in the order added."""
        with self._lock:
            return [(s / SAMPLE_RATE, (s + len(x)) / SAMPLE_RATE) for s, x in self._utterances]

    def read_index(self, start: int, n: int) -> np.ndarray:
        """Talker samples (float64, int16 scale) for sample indexes ``start .. start + n``."""
        out = np.zeros(n)
        with self._lock:
            utterances = list(self._utterances)
        for s, x in utterances:
            lo, hi = max(start, s), min(start + n, s + len(x))
            if hi > lo:
                out[lo - start : hi - start] += x[lo - s : hi - s]
        return out


def _chunk_has_captured_at() -> bool:
    return any(f.name == "captured_at" for f in dataclasses.fields(AudioChunk))


class SimulatedMicrophone(AudioSource):
    """A room's microphone in a :class:`~roomvoice.rooms.simulated_house.SimulatedHouse`: live-like and pull-based.

    Args:
        room: the room's :class:`RoomAcoustics`.
        talker: the house's :class:`TalkerTimeline`.
        tap: the room's :class:`PlaybackTap` (its echo); None = the room never plays.
        duration_s: audio time in seconds at which the stream ends (``finite`` is then
            True; the last chunk is zero-padded past it); None = it never ends (like a
            real microphone) until :meth:`close`.
        realtime: pace chunks at wall-clock rate: each chunk is computed, then yielded,
            when its end is due (as ``FileSource`` paces files); a slow consumer gets
            the chunks it is late for without waiting.

    Chunks are contract chunks (1 280 ``numpy.int16`` samples, 16 kHz) stamped with audio
    time continuing from ``start_s``: ``chunks(120.0)`` yields 120.0, 120.08, ... If
    :class:`AudioChunk` has a ``captured_at`` field, it is set to ``time.monotonic()`` when
    the chunk is computed.
    """

    def __init__(
        self,
        room: RoomAcoustics,
        talker: TalkerTimeline,
        tap: PlaybackTap | None = None,
        *,
        duration_s: float | None = None,
        realtime: bool = False,
    ) -> None:
        if duration_s is not None and not float(duration_s) > 0.0:
            raise ValueError(f"duration_s must be > 0 s or None, got {duration_s}")
        self.room = room
        self.talker = talker
        self.tap = tap
        self.duration_s = None if duration_s is None else float(duration_s)
        self.realtime = bool(realtime)
        self._gain = _db_to_gain(room.gain_db)
        self._delay = to_index(room.delay_s)
        self._echo_gain = _db_to_gain(room.echo_gain_db)
        self._echo_delay = to_index(room.echo_delay_s)
        self._echo_ir = room.echo_response()
        self._noise_std = None if room.noise_dbfs is None else 32768.0 * _db_to_gain(room.noise_dbfs)
        self._closed = threading.Event()

    @property
    def finite(self) -> bool:
        """True when built with ``duration_s``."""
        return self.duration_s is not None

    def close(self) -> None:
        """End every running :meth:`chunks` stream at its next chunk (wakes a paced wait)."""
        self._closed.set()

    def chunks(self, start_s: float = 0.0) -> Iterator[AudioChunk]:
        """Yield chunks from audio time ``max(0, start_s)`` on, each computed when asked for."""
        stamp = _chunk_has_captured_at()
        first = to_index(max(0.0, float(start_s)))
        end = None if self.duration_s is None else to_index(self.duration_s)
        t0 = time.monotonic()
        index = first
        while not self._closed.is_set() and (end is None or index < end):
            if self.realtime:
                ahead = (index + CHUNK_SAMPLES - first) / SAMPLE_RATE - (time.monotonic() - t0)
                if ahead > 0 and self._closed.wait(ahead):
                    return
            samples = self.render(index, CHUNK_SAMPLES)
            if end is not None and index + CHUNK_SAMPLES > end:
                samples[end - index :] = 0
            if stamp:
                chunk = AudioChunk(samples, SAMPLE_RATE, index / SAMPLE_RATE, captured_at=time.monotonic())
            else:
                chunk = AudioChunk(samples, SAMPLE_RATE, index / SAMPLE_RATE)
            yield chunk
            index += CHUNK_SAMPLES

    def render(self, start: int, n: int) -> np.ndarray:
        """The microphone signal for sample indexes ``start .. start + n`` (16 kHz), now.

        Returns:
            ``numpy.int16`` ``(n,)``: talker + echo (from the tap as it is now) + noise,
            clipped to int16.
        """
        x = self.talker.read_index(start - self._delay, n) * self._gain if self._gain else np.zeros(n)
        if self.tap is not None and self._echo_gain:
            x += self._echo(start - self._echo_delay, n) * self._echo_gain
        if self._noise_std is not None:
            x += np.random.default_rng([self.room.seed, start]).standard_normal(n) * self._noise_std
        return np.clip(np.round(x), -32768, 32767).astype(np.int16)

    def _echo(self, start: int, n: int) -> np.ndarray:
        h = self._echo_ir
        if len(h) == 1:
            return self.tap.read_index(start, n).astype(np.float64) * h[0]
        played = self.tap.read_index(start - (len(h) - 1), n + len(h) - 1).astype(np.float64)
        if not played.any():
            return np.zeros(n)
        size = 1 << (len(played) + len(h) - 1).bit_length()
        full = np.fft.irfft(np.fft.rfft(played, size) * np.fft.rfft(h, size), size)
        return full[len(h) - 1 : len(h) - 1 + n]

"""Acoustic echo cancellation (AEC) of one room, with the room's own playback as reference.

A room that speaks hears itself: its reply leaks from the speaker back into its microphone
and would wake the wake word ("hey jarvis" in a reply), be transcribed as the user, and
drown a user who talks over the reply (barge-in). :class:`EchoCanceller` removes that echo
from each microphone chunk ("near" end) given what the room played over the same audio
time ("far" end, the reference).

Algorithm: WebRTC's AEC3 (the echo canceller of Chrome's audio processing module: a delay
estimator, adaptive linear filters in the frequency domain and a non-linear echo
suppressor), through ``pywebrtc-audio==0.2.0`` (https://github.com/strands-labs/pywebrtc-audio,
Apache-2.0; WebRTC itself is BSD-3-Clause). Its ``EchoCanceller`` runs AEC3 alone: no
noise suppression and no automatic gain control (AGC) — there is no switch because there
is nothing to switch off — but a high-pass filter (DC removal, as in Chrome) is always
applied to the microphone signal before AEC3. The backend cuts every chunk into 10 ms
frames (160 samples at 16 kHz) and, per frame, analyses the far frame then cleans the near
frame; it releases the GIL while it works.

Measured on the 2-core dev box with ``roomvoice.rooms.acoustics`` (the room's piper reply
leaking back at -6 dB, 30 ms later; ``benchmarks/aec_compare.py`` writes the full table):

* echo alone: echo return loss enhancement (ERLE) 62 dB over a 4.8 s reply for a single
  echo path, 44 dB with a reverberant echo path (RT60 0.3 s); about 20 dB over the very
  first 80 ms chunk of a fresh canceller — there is no warm-up to wait for, but the
  canceller must see every chunk, silent or not, so its timeline stays continuous;
* levels (the wake arbiter compares the cleaned level across rooms to pick the nearest
  room): with nothing playing (``far=None``) a talker's level changes by -0.1 dB (the
  high-pass filter); during double talk (a talker at -6 dB while the room plays) the
  talker comes out 2.5-4 dB quieter (AEC3's suppressor ducks the bands where it expects
  echo), so a room that is playing is at a small disadvantage in that comparison;
* wake word (``hey_jarvis``, threshold 0.5): the room's own playback of piper saying "hey
  jarvis" wakes the raw microphone in 42 of 42 trials and never through AEC3 (peak scores:
  median 0.11, highest 0.49-0.50 over 42 trials, 3 at or above 0.4 — near misses, most
  likely from AEC3's suppressor modulating the -60 dBFS noise floor with the echo's
  pattern); a talker's "hey jarvis" during the reply (talker at 0/-6/-12 dB, 7 placements,
  dry and reverberant) is detected in 33 of 42 trials through AEC3 against 17 of 42 on
  the raw microphone;
* cost: 0.46 ms (wall) per 80 ms chunk at 16 kHz.

Delay: AEC3 estimates the echo delay itself (``stream_delay_ms=0``) up to about 500 ms
between the reference and its echo in the microphone (measured: 62-67 dB ERLE at 0.2-0.5 s,
nothing at 0.6 s); longer delays (large device buffers) need ``stream_delay_ms`` set to
about the extra delay (0.6 s with a 600 ms hint: 62 dB). The reference given to
:meth:`EchoCanceller.process` must not lag the echo: pass what the speaker played over the
same audio time as the near chunk (``PlaybackTap.read(near.start_s, len(near.samples))``),
never later audio.

Thread safety: the backend is not thread-safe. One room's capture thread owns its
canceller and calls :meth:`EchoCanceller.process` chunk after chunk; calls are also
serialised with a lock, so a :meth:`EchoCanceller.reset` from another thread cannot corrupt
the backend's state, but interleaving chunks from two streams in one canceller is wrong.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

import numpy as np

from roomvoice.errors import AudioError
from roomvoice.rooms.audio import CHANNELS, SAMPLE_RATE, AudioChunk

logger = logging.getLogger(__name__)

SUPPORTED_RATES = (16_000, 32_000, 48_000)
"""Sample rates (Hz) the AEC3 backend runs at; the contract uses 16 000."""
FRAME_SECONDS = 0.010
"""AEC3 processes 10 ms frames; chunk lengths must be whole frames (1 280 samples = 8)."""


class EchoCanceller:
    """Removes a room's own playback from its microphone, chunk by chunk.

    Args:
        sample_rate: rate in Hz of both near and far chunks (16 000 in the contract;
            32 000 and 48 000 also work).
        stream_delay_ms: delay hint in milliseconds between the reference (far) and its
            echo in the near signal beyond what AEC3 finds itself; 0 (default) lets AEC3's
            delay estimator find it (works up to ~500 ms). Also settable later through the
            :attr:`stream_delay_ms` property.

    Not thread-safe by design: one room's capture thread owns it (see the module docstring).

    Raises:
        AudioError: ``audio-bad-rate`` for a rate the backend does not support,
            ``aec-backend-missing`` if ``pywebrtc-audio`` is not installed.
        ValueError: negative ``stream_delay_ms``.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, stream_delay_ms: int = 0) -> None:
        if int(sample_rate) not in SUPPORTED_RATES:
            raise AudioError(
                "audio-bad-rate",
                f"echo canceller: sample rate {sample_rate} Hz is not supported (one of {SUPPORTED_RATES})",
            )
        if int(stream_delay_ms) < 0:
            raise ValueError(f"stream_delay_ms must be >= 0 ms, got {stream_delay_ms}")
        try:
            import pywebrtc_audio
        except ImportError as exc:
            raise AudioError(
                "aec-backend-missing", "echo cancellation needs pywebrtc-audio: pip install pywebrtc-audio==0.2.0"
            ) from exc
        self.sample_rate = int(sample_rate)
        self._frame = int(round(FRAME_SECONDS * self.sample_rate))
        self._backend = pywebrtc_audio.EchoCanceller(
            sample_rate=self.sample_rate, num_channels=CHANNELS, stream_delay_ms=int(stream_delay_ms)
        )
        self._lock = threading.Lock()
        self._zeros = np.zeros(0, dtype=np.int16)
        self._processed = 0
        logger.debug("echo canceller: AEC3 at %d Hz, stream delay %d ms", self.sample_rate, stream_delay_ms)

    @property
    def stream_delay_ms(self) -> int:
        """Delay hint in milliseconds passed to AEC3 (0 = let AEC3 estimate it)."""
        return int(self._backend.stream_delay_ms)

    @stream_delay_ms.setter
    def stream_delay_ms(self, value: int) -> None:
        if int(value) < 0:
            raise ValueError(f"stream_delay_ms must be >= 0 ms, got {value}")
        with self._lock:
            self._backend.stream_delay_ms = int(value)

    @property
    def processed_s(self) -> float:
        """Audio seconds processed since construction or the last :meth:`reset`."""
        return self._processed / float(self.sample_rate)

    def process(self, near: AudioChunk, far: AudioChunk | None) -> AudioChunk:
        """Clean one microphone chunk.

        Args:
            near: what the microphone captured: mono ``numpy.int16`` samples ``(n,)`` at
                :attr:`sample_rate` Hz, ``n`` a whole number of 10 ms frames (1 280 for a
                contract chunk).
            far: what the room's speaker played over the same audio time (same rate and
                length, int16), or ``None`` when nothing was played (zeros are fed, so the
                filter keeps a continuous timeline).

        Returns:
            A copy of ``near`` (same ``start_s``, rate, channels and every other field) whose
            samples are the cleaned ``numpy.int16`` ``(n,)``.

        Raises:
            AudioError: ``aec-rate-mismatch`` when ``near.rate`` or ``far.rate`` differs from
                :attr:`sample_rate` (the message names both rates); ``audio-bad-format`` for
                a dtype other than int16, a shape other than ``(n,)``, more than one channel,
                no samples, a length that is not whole 10 ms frames, or far and near of
                different lengths.
        """
        near_samples = self._check(near, "near (microphone)")
        if far is None:
            if len(self._zeros) != len(near_samples):
                self._zeros = np.zeros(len(near_samples), dtype=np.int16)
            far_samples = self._zeros
        else:
            if int(far.rate) != int(near.rate):
                raise AudioError(
                    "aec-rate-mismatch",
                    f"far (playback reference) chunk is {far.rate} Hz but the near (microphone) chunk is "
                    f"{near.rate} Hz; resample the playback to {self.sample_rate} Hz before using it as reference",
                )
            far_samples = self._check(far, "far (playback reference)")
            if len(far_samples) != len(near_samples):
                raise AudioError(
                    "audio-bad-format",
                    f"echo canceller: far chunk has {len(far_samples)} samples, near chunk {len(near_samples)}; "
                    "they must cover the same audio time",
                )
        with self._lock:
            cleaned = self._backend.process(near_samples, far_samples)
            self._processed += len(near_samples)
        return dataclasses.replace(near, samples=np.asarray(cleaned, dtype=np.int16))

    def reset(self) -> None:
        """Forget the adapted filters and delay estimate (a new device, a long pause).

        After a reset AEC3 reconverges on the next played audio (about 20 dB echo reduction
        over the first 80 ms chunk, 60 dB within a second, as measured). Not needed between
        turns.
        """
        with self._lock:
            self._backend.reset()
            self._processed = 0

    def _check(self, chunk: AudioChunk, what: str) -> np.ndarray:
        if int(chunk.rate) != self.sample_rate:
            raise AudioError(
                "aec-rate-mismatch",
                f"{what} chunk is {chunk.rate} Hz but the echo canceller runs at {self.sample_rate} Hz",
            )
        samples = np.asarray(chunk.samples)
        problems = []
        if samples.dtype != np.int16:
            problems.append(f"dtype {samples.dtype} (expected int16)")
        if samples.ndim != 1:
            problems.append(f"shape {samples.shape} (expected (n,))")
        if int(chunk.channels) != CHANNELS:
            problems.append(f"{chunk.channels} channels (expected {CHANNELS})")
        if samples.ndim == 1 and len(samples) == 0:
            problems.append("no samples")
        elif samples.ndim == 1 and len(samples) % self._frame:
            problems.append(f"{len(samples)} samples (expected a multiple of {self._frame}, whole 10 ms frames)")
        if problems:
            raise AudioError("audio-bad-format", f"echo canceller: {what} chunk has " + ", ".join(problems))
        return np.ascontiguousarray(samples)

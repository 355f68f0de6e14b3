"""Audio formats and explicit conversion at the edges.

The contract inside roomvoice (ARCHITECTURE.md): 16 000 Hz, mono, signed 16-bit PCM
(``numpy.int16``), streamed in 80 ms chunks of 1 280 samples — openWakeWord's frame.
Everything that enters (microphone, file, TTS output) is converted here, once, and
checked: NaN/inf samples, empty audio and wrong formats raise :class:`AudioError`.

Resampling uses ``soxr`` (libsoxr, "HQ" quality); file decoding uses ``soundfile``
(libsndfile: WAV, FLAC, OGG...).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roomvoice.errors import AudioError

SAMPLE_RATE = 16_000
"""Contract sample rate in Hz."""
SAMPLE_WIDTH = 2
"""Contract sample width in bytes (int16)."""
CHANNELS = 1
"""Contract channel count (mono)."""
CHUNK_SAMPLES = 1_280
"""Samples per contract chunk: 80 ms at 16 kHz (openWakeWord's frame)."""
CHUNK_SECONDS = CHUNK_SAMPLES / SAMPLE_RATE
"""Duration of one contract chunk in seconds (0.08)."""
INT16_FULL_SCALE = 32_767


@dataclass(frozen=True)
class AudioFormat:
    """Format of a PCM stream (after wyoming's ``AudioFormat``).

    Attributes:
        rate: sample rate in Hz.
        width: bytes per sample (2 for int16).
        channels: number of interleaved channels.
    """

    rate: int
    width: int = SAMPLE_WIDTH
    channels: int = CHANNELS


CONTRACT_FORMAT = AudioFormat(SAMPLE_RATE, SAMPLE_WIDTH, CHANNELS)


@dataclass(frozen=True, eq=False)
class AudioClip:
    """A whole piece of mono int16 audio with its sample rate.

    Attributes:
        samples: ``numpy.int16`` array of shape ``(n,)``.
        rate: sample rate in Hz (16 000 inside the system; 22 050 from the piper joe voice).
    """

    samples: np.ndarray
    rate: int

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return len(self.samples) / float(self.rate)

    @property
    def format(self) -> AudioFormat:
        """The clip's :class:`AudioFormat` (always mono int16)."""
        return AudioFormat(self.rate, SAMPLE_WIDTH, CHANNELS)


@dataclass(frozen=True, eq=False)
class AudioChunk:
    """One chunk of a stream, stamped with audio time.

    Attributes:
        samples: ``numpy.int16`` array of shape ``(n,)``; ``n`` is 1 280 for contract chunks.
        rate: sample rate in Hz.
        start_s: audio time of the first sample, in seconds since the stream started.
        channels: channel count of ``samples`` (1 inside the system).
        captured_at: wall clock (``time.monotonic()`` seconds) when the source delivered the
            chunk; None when unknown. Latency figures the user feels start here.
    """

    samples: np.ndarray
    rate: int = SAMPLE_RATE
    start_s: float = 0.0
    channels: int = CHANNELS
    captured_at: float | None = None

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return len(self.samples) / float(self.rate)

    @property
    def end_s(self) -> float:
        """Audio time just after the last sample, in seconds."""
        return self.start_s + self.duration_s


def to_contract(samples: np.ndarray, rate: int, *, what: str = "audio") -> np.ndarray:
    """Convert any PCM array to the contract: 16 kHz mono int16.

    Args:
        samples: shape ``(n,)`` (mono) or ``(n, channels)``; dtype int16, int32 or float
            (floats are taken as full scale ±1.0).
        rate: sample rate of ``samples`` in Hz (8 000 … 192 000).
        what: name used in error messages (a file name, "microphone"...).

    Returns:
        ``numpy.int16`` array of shape ``(m,)`` at 16 000 Hz.

    Raises:
        AudioError: ``audio-empty`` for no samples, ``audio-invalid`` for NaN/inf or a bad
            shape, ``audio-bad-format`` for an unsupported dtype, ``audio-bad-rate`` for an
            implausible sample rate.
    """
    import soxr

    arr = np.asarray(samples)
    if arr.ndim not in (1, 2):
        raise AudioError("audio-invalid", f"{what}: expected shape (n,) or (n, channels), got {arr.shape}")
    if arr.shape[0] == 0 or arr.size == 0:
        raise AudioError("audio-empty", f"{what}: contains no samples")
    if not 8_000 <= int(rate) <= 192_000:
        raise AudioError("audio-bad-rate", f"{what}: sample rate {rate} Hz is outside 8000..192000 Hz")
    data = pcm_to_float32(arr, what=what)
    if data.ndim == 2:
        data = data.mean(axis=1)
    data = np.ascontiguousarray(data, dtype=np.float32)
    if int(rate) != SAMPLE_RATE:
        data = soxr.resample(data, int(rate), SAMPLE_RATE, quality="HQ")
    return float_to_int16(data)


def pcm_to_float32(arr: np.ndarray, *, what: str = "audio") -> np.ndarray:
    """PCM samples as ``numpy.float32`` at full scale ±1.0 (same shape).

    int16 is divided by 32 768, int32 by 2**31; floats are taken as they are.

    Raises:
        AudioError: ``audio-invalid`` for NaN/infinite float samples, ``audio-bad-format``
            for any other dtype.
    """
    if arr.dtype == np.int16:
        return arr.astype(np.float32) / 32768.0
    if arr.dtype == np.int32:
        return (arr.astype(np.float64) / 2_147_483_648.0).astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        data = arr.astype(np.float32)
        if not np.all(np.isfinite(data)):
            bad = int(np.count_nonzero(~np.isfinite(data)))
            raise AudioError("audio-invalid", f"{what}: {bad} samples are NaN or infinite")
        return data
    raise AudioError("audio-bad-format", f"{what}: unsupported sample dtype {arr.dtype}")


def float_to_int16(data: np.ndarray) -> np.ndarray:
    """Scale float samples (full scale ±1.0) to int16, clipping at full scale."""
    return np.clip(np.round(data * 32768.0), -32768, INT16_FULL_SCALE).astype(np.int16)


def check_contract_chunk(chunk: AudioChunk) -> None:
    """Check that a chunk already is in the contract format.

    Raises:
        AudioError: ``audio-bad-format`` naming the rate/channels/dtype that is wrong.
    """
    problems = []
    if chunk.rate != SAMPLE_RATE:
        problems.append(f"sample rate {chunk.rate} Hz (expected {SAMPLE_RATE})")
    if chunk.channels != CHANNELS:
        problems.append(f"{chunk.channels} channels (expected {CHANNELS})")
    samples = np.asarray(chunk.samples)
    if samples.dtype != np.int16:
        problems.append(f"dtype {samples.dtype} (expected int16)")
    if samples.ndim != 1:
        problems.append(f"shape {samples.shape} (expected (n,))")
    if problems:
        raise AudioError("audio-bad-format", "chunk has " + ", ".join(problems))


def clipped_fraction(samples: np.ndarray) -> float:
    """Fraction (0..1) of int16 samples at or beyond ±32 767 — a measure of clipping."""
    if len(samples) == 0:
        return 0.0
    return float(np.count_nonzero(np.abs(samples.astype(np.int32)) >= INT16_FULL_SCALE)) / len(samples)


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of int16 samples in dBFS (0 dBFS = full-scale square wave); -120 for silence."""
    if len(samples) == 0:
        return -120.0
    x = samples.astype(np.float64) / 32768.0
    rms = float(np.sqrt(np.mean(x * x)))
    return 20.0 * np.log10(rms) if rms > 1e-6 else -120.0


def iter_chunks(samples: np.ndarray, *, start_s: float = 0.0) -> Iterator[AudioChunk]:
    """Split contract samples into 80 ms chunks; the last one is zero-padded.

    Args:
        samples: ``numpy.int16`` array ``(n,)`` at 16 kHz.
        start_s: audio time of ``samples[0]`` in seconds.

    Yields:
        :class:`AudioChunk` of exactly 1 280 samples each.
    """
    n = len(samples)
    for i in range(0, n, CHUNK_SAMPLES):
        piece = samples[i : i + CHUNK_SAMPLES]
        if len(piece) < CHUNK_SAMPLES:
            piece = np.concatenate([piece, np.zeros(CHUNK_SAMPLES - len(piece), dtype=np.int16)])
        yield AudioChunk(piece, SAMPLE_RATE, start_s + i / SAMPLE_RATE)


def read_audio_file(path: str | Path) -> AudioClip:
    """Read a WAV/FLAC/OGG file and convert it to the contract (16 kHz mono int16).

    Raises:
        AudioError: ``audio-not-found`` if missing, ``audio-unreadable`` if it is not a
            decodable audio file, ``audio-empty`` if it has no samples.
    """
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise AudioError("audio-not-found", f"{p}: no such file")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises its own error types
        raise AudioError("audio-unreadable", f"{p}: not a readable audio file ({exc})") from exc
    return AudioClip(to_contract(data, rate, what=str(p)), SAMPLE_RATE)


def write_wav(path: str | Path, clip: AudioClip) -> Path:
    """Write a mono int16 clip as a PCM WAV file; returns the path."""
    import soundfile as sf

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(p), np.asarray(clip.samples, dtype=np.int16), clip.rate, subtype="PCM_16")
    return p


def silence(seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return ``seconds`` of int16 digital silence at ``rate`` Hz."""
    return np.zeros(int(round(seconds * rate)), dtype=np.int16)

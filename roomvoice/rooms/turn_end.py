"""Semantic end of turn: Smart Turn v3.2 (https://github.com/pipecat-ai/smart-turn, BSD-2-Clause).

:class:`~roomvoice.rooms.endpoint.EndOfSpeechDetector` asks :class:`SmartTurn` once per short
pause whether the words so far make a finished turn ("what time is it" → complete, "set a timer
for" → incomplete), so a complete command ends after ~0.2 s of silence instead of the full VAD
hangover.

The model is the ONNX file shipped in the ``pipecat-ai==1.14.0`` wheel
(``pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx``, 8.7 MB), installed with
``pip install --no-deps`` (see the Makefile). pipecat itself is never imported (its package
imports pull dependencies we do not install): the files are located with
:func:`importlib.util.find_spec`, which does not run the package, and the numpy log-mel features
(``_whisper_features.py``, Apache-2.0-derived, header kept in that file) are loaded from their
file path; they import only numpy.

Preprocessing, as pipecat's ``LocalSmartTurnAnalyzerV3``: int16 → float32 / 32768, keep the
last 8 s (zero-padded at the front), Whisper log-mel ``[1, 80, 800]`` with waveform
normalisation, ``session.run`` on ``input_features``; the output (named ``logits``) is already
a probability, ``> 0.5`` = turn complete. 27–45 ms per call on one thread.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from pathlib import Path
from types import ModuleType

import numpy as np

from roomvoice.errors import AudioError

logger = logging.getLogger(__name__)

TURN_MODELS = ("none", "smart_turn")
"""Valid values of :attr:`~roomvoice.rooms.endpoint.EndpointSettings.turn_model`."""
MODEL_SAMPLES = 8 * 16_000
"""Smart Turn looks at the last 8 s of 16 kHz audio."""
_SMART_TURN_DIR = ("audio", "turn", "smart_turn")
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
FEATURES_FILE = "_whisper_features.py"
_INSTALL_HINT = "install it with: .venv/bin/pip install --no-deps pipecat-ai==1.14.0 (the Makefile does)"


def smart_turn_dir() -> Path:
    """Folder ``pipecat/audio/turn/smart_turn`` of the installed pipecat-ai (not imported).

    Raises:
        AudioError: ``turn-model-missing`` if pipecat-ai is not installed.
    """
    spec = importlib.util.find_spec("pipecat")  # top-level: locates, does not execute pipecat
    if spec is None or not spec.submodule_search_locations:
        raise AudioError("turn-model-missing", f"pipecat-ai (Smart Turn v3.2) not installed: {_INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0]).joinpath(*_SMART_TURN_DIR)


def smart_turn_model_path() -> Path:
    """Path of ``smart-turn-v3.2-cpu.onnx`` in the installed pipecat-ai.

    Raises:
        AudioError: ``turn-model-missing`` if pipecat-ai or the file is missing.
    """
    path = smart_turn_dir() / "data" / MODEL_FILE
    if not path.is_file():
        raise AudioError("turn-model-missing", f"{path} not found: {_INSTALL_HINT}")
    return path


@functools.lru_cache(maxsize=1)
def _features_module() -> ModuleType:
    """pipecat's numpy Whisper log-mel module, loaded from its file path (imports only numpy)."""
    path = smart_turn_dir() / FEATURES_FILE
    if not path.is_file():
        raise AudioError("turn-model-missing", f"{path} not found: {_INSTALL_HINT}")
    spec = importlib.util.spec_from_file_location("roomvoice_smart_turn_features", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def log_mel(samples: np.ndarray) -> np.ndarray:
    """Smart Turn input ``[1, 80, 800]`` float32 from 16 kHz int16 ``samples``: the last 8 s,
    zero-padded at the front."""
    audio = np.asarray(samples, dtype=np.float32) / 32768.0
    if len(audio) > MODEL_SAMPLES:
        audio = audio[-MODEL_SAMPLES:]
    elif len(audio) < MODEL_SAMPLES:
        audio = np.pad(audio, (MODEL_SAMPLES - len(audio), 0))
    features = _features_module().compute_whisper_log_mel_features(audio, do_normalize=True)
    return features[None, :, :].astype(np.float32, copy=False)


@functools.lru_cache(maxsize=4)
def _session(path: str):
    """One shared onnxruntime session per model file, one thread (as pipecat's default)."""
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 4
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(key: str, message: str, *args: object) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen in this process."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args)


class SmartTurn:
    """Smart Turn v3.2 on onnxruntime; the session is created on first use (or :meth:`load`).

    Args:
        model_path: an ONNX file to use instead of the one in pipecat-ai (tests, custom models).

    Raises (from :meth:`load` / :meth:`probability`):
        AudioError: ``turn-model-missing`` if the model or feature code is not installed,
            ``turn-model-failed`` if onnxruntime cannot load it or inference fails.
    """

    def __init__(self, model_path: str | Path | None = None) -> None:
        self.model_path = None if model_path is None else Path(model_path)
        self._session = None

    def load(self) -> None:
        """Create the session now (idempotent)."""
        if self._session is not None:
            return
        path = self.model_path if self.model_path is not None else smart_turn_model_path()
        if not path.is_file():
            raise AudioError("turn-model-missing", f"Smart Turn model {path} not found")
        _features_module()
        try:
            self._session = _session(str(path))
        except Exception as exc:  # onnxruntime raises its own types
            raise AudioError("turn-model-failed", f"could not load Smart Turn model {path}: {exc}") from exc

    def probability(self, samples: np.ndarray) -> float:
        """Probability (0..1) that the turn in ``samples`` (16 kHz mono int16, the utterance so
        far, trailing pause included) is complete."""
        self.load()
        try:
            out = self._session.run(None, {"input_features": log_mel(samples)})
        except Exception as exc:  # onnxruntime raises its own types
            raise AudioError("turn-model-failed", f"Smart Turn inference failed: {exc}") from exc
        return float(np.asarray(out[0]).reshape(-1)[0])


class TurnEndModel:
    """What the end-of-speech detector holds: a :class:`SmartTurn` that, if it cannot load or
    run, is switched off with one warning per process, so the detector falls back to the VAD
    hangover.

    Args:
        model: the model (default: the Smart Turn v3.2 of pipecat-ai).
        threshold: probability above which the turn is complete.
    """

    def __init__(self, model: SmartTurn | None = None, threshold: float = 0.5) -> None:
        self.model = model if model is not None else SmartTurn()
        self.threshold = threshold
        self.available = True
        self.last_probability: float | None = None

    def _disable(self, exc: AudioError) -> None:
        self.available = False
        warn_once(f"{exc.code}:{self.model.model_path}",
                  "semantic end of turn off, using the VAD hangover only (%s)", exc)

    def load(self) -> bool:
        """Load the model now; False (and logged once) if it cannot be used."""
        if not self.available:
            return False
        try:
            self.model.load()
        except AudioError as exc:
            self._disable(exc)
        return self.available

    def complete(self, samples: np.ndarray) -> bool:
        """True if the model says the turn in ``samples`` is complete; False when it is
        incomplete or the model is unavailable."""
        if not self.available:
            return False
        try:
            self.last_probability = self.model.probability(samples)
        except AudioError as exc:
            self._disable(exc)
            return False
        return self.last_probability > self.threshold

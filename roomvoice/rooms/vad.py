"""The two speech classifiers of the end-of-speech detector: an adaptive energy floor and Silero VAD.

See :mod:`roomvoice.rooms.endpoint` for how they are used and how they were measured.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import numpy as np

from roomvoice.errors import AudioError

VAD_KINDS = ("energy", "silero")
"""Valid values of :attr:`~roomvoice.rooms.endpoint.EndpointSettings.vad`."""
SILERO_WINDOW = 512
"""Samples per Silero VAD window at 16 kHz (32 ms)."""
SILERO_CONTEXT = 64
"""Samples of the previous window prepended to each window (silero-vad >= 5)."""


class NoiseFloor:
    """Asymmetric exponential moving average of chunk levels in dBFS.

    Args:
        rise_s: time constant (s) when the level is above the floor (slow).
        fall_s: time constant (s) when the level is below the floor (fast).
        min_dbfs: the floor never goes below this.
    """

    def __init__(self, rise_s: float, fall_s: float, min_dbfs: float) -> None:
        self.rise_s = rise_s
        self.fall_s = fall_s
        self.min_dbfs = min_dbfs
        self.level_dbfs: float | None = None
        """The floor in dBFS; ``None`` until the first update (which seeds it)."""

    def update(self, level_dbfs: float, duration_s: float) -> float:
        """Move the floor towards ``level_dbfs`` for ``duration_s`` seconds; returns the floor."""
        level = max(level_dbfs, self.min_dbfs)
        if self.level_dbfs is None:
            self.level_dbfs = level
        else:
            tau = self.rise_s if level > self.level_dbfs else self.fall_s
            alpha = 1.0 - math.exp(-duration_s / tau)
            self.level_dbfs += alpha * (level - self.level_dbfs)
        return self.level_dbfs


def silero_model_path() -> Path:
    """Path of ``silero_vad_v6.onnx`` inside the installed faster-whisper.

    Raises:
        AudioError: ``vad-model-missing`` if faster-whisper or the file is missing.
    """
    spec = importlib.util.find_spec("faster_whisper")
    path = Path(spec.origin).parent / "assets" / "silero_vad_v6.onnx" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise AudioError("vad-model-missing", "silero_vad_v6.onnx not found: install faster-whisper==1.2.1")
    return path


@functools.lru_cache(maxsize=1)
def _silero_session():
    """One shared onnxruntime session (1 thread), as faster-whisper configures it."""
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 4
    return onnxruntime.InferenceSession(str(silero_model_path()), providers=["CPUExecutionProvider"], sess_options=opts)


class SileroStream:
    """Silero VAD v6 run window by window over a stream of 16 kHz samples.

    Keeps the LSTM state (``h``, ``c``: float32 ``(1, 1, 128)``), the last 64 samples as
    context, and samples that do not yet fill a 512-sample window.

    Raises:
        AudioError: ``vad-model-missing`` / ``vad-failed`` if the model is missing or fails.
    """

    def __init__(self) -> None:
        try:
            self._session = _silero_session()
        except AudioError:
            raise
        except Exception as exc:  # onnxruntime raises its own types
            raise AudioError("vad-failed", f"could not load Silero VAD: {exc}") from exc
        self.reset()

    def reset(self) -> None:
        """Forget state, context and buffered samples (a new stream)."""
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(SILERO_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def __call__(self, samples: np.ndarray) -> float | None:
        """Feed int16 samples; return the highest speech probability (0..1) of the windows
        completed by them, or ``None`` if they completed no window."""
        audio = np.concatenate([self._pending, samples.astype(np.float32) / 32768.0])
        n = len(audio) // SILERO_WINDOW
        self._pending = audio[n * SILERO_WINDOW :]
        if n == 0:
            return None
        windows = audio[: n * SILERO_WINDOW].reshape(n, SILERO_WINDOW)
        context = np.vstack([self._context[None, :], windows[:-1, -SILERO_CONTEXT:]])
        self._context = windows[-1, -SILERO_CONTEXT:].copy()
        batch = np.ascontiguousarray(np.concatenate([context, windows], axis=1))
        try:  # the first axis is time: the LSTM runs over it, so one call == n calls
            probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        except Exception as exc:  # onnxruntime raises its own types
            raise AudioError("vad-failed", f"Silero VAD failed: {exc}") from exc
        return float(np.max(probs))

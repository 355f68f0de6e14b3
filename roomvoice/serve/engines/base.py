"""Small engine interfaces and the input checks every implementation runs at its boundary.

Three interfaces, after Ray ``serve.llm``'s engine base class and faster-whisper/piper's
generator APIs:

- :class:`SpeechToTextEngine` — a batch of 16 kHz mono int16 utterances in, one
  :class:`~roomvoice.events.Transcript` per utterance out.
- :class:`TextToSpeechEngine` — text in, one :class:`~roomvoice.events.SpeechAudio` per
  sentence out (a generator, so the first sentence can play while the rest is made).
- :class:`LLMEngine` — OpenAI-style :class:`~roomvoice.events.ChatMessage` list in, text
  deltas out (a generator; closing it stops generation); and, separately,
  :meth:`LLMEngine.complete_json`: one reply constrained to a JSON Schema (tool calls).

Engines are plain Python, single-threaded and blocking; Serve deployments run them in a
worker thread. The ``check_*`` functions turn bad input into coded errors
(:mod:`roomvoice.errors`) before a model sees it.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from roomvoice.errors import AudioError, LLMError, SpeechToTextError, TextToSpeechError
from roomvoice.events import ChatMessage, SpeechAudio, Transcript
from roomvoice.rooms.audio import SAMPLE_RATE, pcm_to_float32

MAX_UTTERANCE_S = 120.0
"""Longest utterance accepted by :func:`check_audio`, in seconds (longer is a capture bug)."""
MAX_TTS_CHARS = 5_000
"""Longest text accepted by :func:`check_tts_text`, in characters."""
CHAT_ROLES = ("system", "user", "assistant")
"""Message roles accepted by :func:`check_chat_request`."""
MAX_TEMPERATURE = 2.0
"""Highest sampling temperature accepted."""
MAX_SCHEMA_CHARS = 200_000
"""Largest JSON Schema accepted by :func:`check_json_schema`, in characters of JSON."""


def check_json_schema(schema: Mapping[str, Any]) -> str:
    """Check a JSON Schema for constrained output; returns it as JSON text.

    Raises:
        LLMError: ``llm-bad-schema`` (not a mapping, not JSON-serialisable, too large).
    """
    if not isinstance(schema, Mapping) or not schema:
        raise LLMError("llm-bad-schema", f"the schema must be a non-empty JSON object, got {type(schema).__name__}")
    try:
        text = json.dumps(schema)
    except (TypeError, ValueError) as exc:
        raise LLMError("llm-bad-schema", f"the schema is not JSON: {exc}") from exc
    if len(text) > MAX_SCHEMA_CHARS:
        raise LLMError("llm-bad-schema", f"the schema is {len(text)} characters (limit {MAX_SCHEMA_CHARS})")
    return text


def check_audio(samples: np.ndarray, *, index: int = 0) -> np.ndarray:
    """Check one utterance and return it as float32 full scale ±1.0 (what whisper wants).

    Args:
        samples: shape ``(n,)`` at 16 000 Hz; ``numpy.int16`` (the contract) or a float
            array with full scale ±1.0.
        index: position in the batch, for error messages.

    Returns:
        ``numpy.float32`` array ``(n,)``.

    Raises:
        AudioError: ``audio-bad-format`` (not a 1-D int16/float array), ``audio-empty``
            (no samples), ``audio-invalid`` (NaN or infinite samples), ``audio-too-long``
            (over :data:`MAX_UTTERANCE_S`).
    """
    what = f"utterance {index}"
    arr = np.asarray(samples)
    if arr.ndim != 1:
        raise AudioError("audio-bad-format", f"{what}: expected shape (n,) mono at {SAMPLE_RATE} Hz, got {arr.shape}")
    if arr.size == 0:
        raise AudioError("audio-empty", f"{what}: contains no samples")
    if arr.dtype != np.int16 and not np.issubdtype(arr.dtype, np.floating):
        raise AudioError("audio-bad-format", f"{what}: expected int16 samples at {SAMPLE_RATE} Hz, got {arr.dtype}")
    out = pcm_to_float32(arr, what=what)
    duration_s = arr.size / SAMPLE_RATE
    if duration_s > MAX_UTTERANCE_S:
        raise AudioError("audio-too-long", f"{what}: {duration_s:.1f} s is over the {MAX_UTTERANCE_S:g} s limit")
    return out


def per_item_prompts(prompt: str | Sequence[str | None] | None, n: int) -> list[str | None]:
    """One STT prompt per batch item: ``prompt`` repeated when it is one string (or None), else
    checked to have ``n`` items.

    Raises:
        SpeechToTextError: ``stt-bad-prompt`` (a prompt list of the wrong length, or an item that
            is not a string or None).
    """
    if prompt is None or isinstance(prompt, str):
        return [prompt or None] * n
    items = list(prompt)
    if len(items) != n or not all(p is None or isinstance(p, str) for p in items):
        raise SpeechToTextError("stt-bad-prompt", f"expected one prompt (str or None) per utterance ({n}), "
                                                  f"got {len(items)}")
    return [p or None for p in items]


def check_tts_text(text: str) -> str:
    """Check text to speak; returns it stripped.

    Raises:
        TextToSpeechError: ``tts-bad-text`` (not a string), ``tts-empty-text`` (blank),
            ``tts-text-too-long`` (over :data:`MAX_TTS_CHARS` characters).
    """
    if not isinstance(text, str):
        raise TextToSpeechError("tts-bad-text", f"expected a str, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise TextToSpeechError("tts-empty-text", "there is no text to speak")
    if len(stripped) > MAX_TTS_CHARS:
        raise TextToSpeechError("tts-text-too-long", f"{len(stripped)} characters (limit {MAX_TTS_CHARS})")
    return stripped


def check_chat_request(messages: Sequence[ChatMessage], max_tokens: int, temperature: float) -> list[ChatMessage]:
    """Check an LLM request; returns the messages as a list.

    Args:
        messages: :class:`~roomvoice.events.ChatMessage` objects, oldest first.
        max_tokens: cap on generated tokens, ≥ 1.
        temperature: sampling temperature, 0 … :data:`MAX_TEMPERATURE` (0 = greedy).

    Raises:
        LLMError: ``llm-no-messages`` (empty), ``llm-bad-message`` (not a ChatMessage or
            content not a string), ``llm-bad-role`` (role not in :data:`CHAT_ROLES`),
            ``llm-no-user-message`` (nothing from the user), ``llm-bad-max-tokens``,
            ``llm-bad-temperature``.
    """
    if messages is None or isinstance(messages, (str, bytes)) or len(messages) == 0:
        raise LLMError("llm-no-messages", "the request has no messages")
    out = list(messages)
    for i, msg in enumerate(out):
        if not isinstance(msg, ChatMessage):
            raise LLMError("llm-bad-message", f"message {i}: expected a ChatMessage, got {type(msg).__name__}")
        if msg.role not in CHAT_ROLES:
            raise LLMError("llm-bad-role", f"message {i}: role {msg.role!r} is not one of {CHAT_ROLES}")
        if not isinstance(msg.content, str):
            raise LLMError("llm-bad-message", f"message {i}: content must be a str, got {type(msg.content).__name__}")
    if not any(m.role == "user" and m.content.strip() for m in out):
        raise LLMError("llm-no-user-message", "the request has no non-empty user message")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens < 1:
        raise LLMError("llm-bad-max-tokens", f"max_tokens must be an integer >= 1, got {max_tokens!r}")
    try:
        temp = float(temperature)
    except (TypeError, ValueError) as exc:
        raise LLMError("llm-bad-temperature", f"temperature must be a number, got {temperature!r}") from exc
    if not math.isfinite(temp) or not 0.0 <= temp <= MAX_TEMPERATURE:
        raise LLMError("llm-bad-temperature", f"temperature must be in 0..{MAX_TEMPERATURE:g}, got {temperature!r}")
    return out


class SpeechToTextEngine(ABC):
    """Speech-to-text over a batch of utterances.

    Attributes:
        name: short engine/model name for logs, e.g. ``"faster-whisper:tiny.en"``.
    """

    name: str

    @abstractmethod
    def transcribe(self, batch: Sequence[np.ndarray], *, language: str | None = None,
                   prompt: str | Sequence[str | None] | None = None) -> list[Transcript]:
        """Transcribe utterances.

        Args:
            batch: ``numpy.int16`` arrays of shape ``(n,)``, 16 000 Hz mono (the contract).
            language: ISO 639-1 code to force (``"en"``), or None to use the engine's default
                (or detect, for multilingual models).
            prompt: words to bias recognition towards (engines without biasing ignore it): one
                string for the batch, or one (or None) per item (:func:`per_item_prompts`).

        Returns:
            One :class:`~roomvoice.events.Transcript` per item, in order, with ``audio_s``
            (seconds of audio) and ``stt_s`` (wall seconds for that item) set.

        Raises:
            AudioError: an item is empty, not mono int16, NaN, or too long (see :func:`check_audio`).
            SpeechToTextError: the model failed (``stt-failed``) or cannot do ``language``.
        """


class TextToSpeechEngine(ABC):
    """Text-to-speech, sentence by sentence.

    Attributes:
        name: short engine/voice name for logs, e.g. ``"piper:en_US-joe-medium"``.
        sample_rate: sample rate of the produced audio in Hz.
    """

    name: str
    sample_rate: int

    @abstractmethod
    def synthesize(self, text: str) -> Iterator[SpeechAudio]:
        """Speak ``text``.

        Yields:
            One :class:`~roomvoice.events.SpeechAudio` per sentence: ``numpy.int16`` samples
            ``(n,)`` at :attr:`sample_rate` Hz, the sentence's text, and ``synth_s``.

        Raises:
            TextToSpeechError: empty or too long text (see :func:`check_tts_text`), or the
                voice failed (``tts-failed``).
        """


class LLMEngine(ABC):
    """A chat LLM that streams text deltas.

    Attributes:
        model_name: the model's name for logs and the OpenAI API.
    """

    model_name: str

    @abstractmethod
    def start(self) -> None:
        """Load the model. Idempotent: later calls do nothing.

        Raises:
            LLMError: ``llm-load-failed`` if the model cannot be loaded.
        """

    @abstractmethod
    def stream_chat(
        self, messages: Sequence[ChatMessage], *, max_tokens: int = 128, temperature: float = 0.2
    ) -> Iterator[str]:
        """Generate the assistant's next message as a stream of text deltas.

        Args:
            messages: the conversation, oldest first (see :func:`check_chat_request`).
            max_tokens: cap on generated tokens.
            temperature: sampling temperature (0 = greedy).

        Yields:
            Non-empty text deltas; joined they are the reply. Closing the generator stops
            generation at the next token.

        Raises:
            LLMError: a bad request (codes in :func:`check_chat_request`), ``llm-load-failed``
                if the model cannot be loaded (engines start on first use), ``llm-failed`` if
                generation fails.
        """

    def complete_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any], *,
                      max_tokens: int = 96) -> str:
        """One assistant reply constrained to JSON that follows ``schema`` (greedy; not streamed).

        Used for tool calls; the caller still parses and validates the text (a reply cut off
        at ``max_tokens`` is not valid JSON).

        Args:
            messages: the conversation, oldest first (see :func:`check_chat_request`).
            schema: a JSON Schema (see :func:`check_json_schema`); ``anyOf``/``enum``/``const``
                are how tool and entity choices are restricted.
            max_tokens: cap on generated tokens.

        Returns:
            The generated JSON text.

        Raises:
            LLMError: ``llm-json-unsupported`` (this engine cannot constrain its output; the
                default), ``llm-bad-schema``, the request errors of :func:`check_chat_request`,
                ``llm-busy``, ``llm-failed``.
        """
        raise LLMError("llm-json-unsupported", f"{type(self).__name__} cannot produce schema-constrained JSON")

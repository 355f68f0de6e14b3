"""The LLM as the reply pipeline sees it: one small async port, three adapters.

:class:`LLMPort` is two calls: ``complete_json`` (one constrained reply, for the tool step) and
``stream_chat`` (the reply's words as text deltas); an adapter may also offer ``prefill(messages,
delay_s)``, which the pipeline calls (when present) to warm the next prompt's beginning. Adapters:

- :class:`ServeLLM` — the ``LLM`` Serve deployment through its ``DeploymentHandle``; cancelling
  the caller (a barge-in, a closed HTTP client) cancels the Serve request, so the LLM stops;
- :class:`EngineLLM` — an in-process :class:`~roomvoice.serve.engines.base.LLMEngine`, its
  blocking calls in worker threads;
- :class:`CallableLLM` — two plain functions (tests, scripts).

Timeouts are not the adapters' business: :class:`~roomvoice.assistant.pipeline.ReplyPipeline`
applies one :class:`~roomvoice.assistant.pipeline.TimeoutPolicy` around every call.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from roomvoice.errors import LLMError
from roomvoice.events import ChatMessage
from roomvoice.serve.streaming import iterate_in_thread


class LLMPort(Protocol):
    """What the reply pipeline needs from an LLM."""

    async def complete_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any],
                            max_tokens: int) -> str:
        """One reply constrained to ``schema`` (JSON text). Raises LLMError
        (``llm-json-unsupported`` when the LLM cannot constrain its output)."""
        ...

    def stream_chat(self, messages: Sequence[ChatMessage], max_tokens: int,
                    temperature: float) -> AsyncIterator[str]:
        """The reply's text deltas; closing the iterator stops the generation."""
        ...


class ServeLLM:
    """:class:`LLMPort` over the ``LLM`` deployment's handle (``complete_json``, ``stream_chat``)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def complete_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any],
                            max_tokens: int) -> str:
        response = self.handle.complete_json.remote(list(messages), dict(schema), max_tokens)
        try:
            return await response
        except asyncio.CancelledError:
            response.cancel()  # a barge-in (or the timeout) cancelled this reply: stop the LLM too
            raise

    def prefill(self, messages: Sequence[ChatMessage], delay_s: float = 0.0) -> None:
        """Ask the LLM to evaluate ``messages`` after ``delay_s`` if idle then (fire and forget)."""
        self._warming = self.handle.prefill.remote(list(messages), delay_s)  # kept: a dropped response may be cancelled

    async def stream_chat(self, messages: Sequence[ChatMessage], max_tokens: int,
                          temperature: float) -> AsyncIterator[str]:
        stream = self.handle.options(stream=True).stream_chat.remote(list(messages), max_tokens, temperature)
        try:
            async for delta in stream:
                yield delta
        except (asyncio.CancelledError, GeneratorExit):
            stream.cancel()  # a barge-in (or the timeout) cancelled this reply: stop the LLM too
            raise


class EngineLLM:
    """:class:`LLMPort` over an in-process engine (started on first use), calls in worker threads."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    async def complete_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any],
                            max_tokens: int) -> str:
        def call() -> str:
            self.engine.start()
            return self.engine.complete_json(messages, schema, max_tokens=max_tokens)
        return await asyncio.to_thread(call)

    def prefill(self, messages: Sequence[ChatMessage], delay_s: float = 0.0) -> None:
        """Evaluate ``messages`` on a thread after ``delay_s`` if the engine is idle then. Not a
        daemon thread: the interpreter waits for it at exit rather than tearing llama.cpp down under it."""
        prefill = getattr(self.engine, "prefill", None)
        if prefill is None:
            return
        items = list(messages)

        def later() -> None:
            time.sleep(max(0.0, delay_s))
            prefill(items)

        threading.Thread(target=later, name="llm-prefill").start()

    def stream_chat(self, messages: Sequence[ChatMessage], max_tokens: int,
                    temperature: float) -> AsyncIterator[str]:
        def deltas() -> Iterable[str]:
            self.engine.start()
            return self.engine.stream_chat(messages, max_tokens=max_tokens, temperature=temperature)
        return iterate_in_thread(lambda: iter(deltas()))


class CallableLLM:
    """:class:`LLMPort` over two blocking functions: ``stream_chat(messages)`` → deltas and
    ``complete_json(messages, schema, max_tokens)`` → JSON text (None: no tool step)."""

    def __init__(self, stream_chat: Callable[[Sequence[ChatMessage]], Iterable[str]],
                 complete_json: Callable[[Sequence[ChatMessage], Mapping[str, Any], int], str] | None = None) -> None:
        self._stream_chat, self._complete_json = stream_chat, complete_json

    async def complete_json(self, messages: Sequence[ChatMessage], schema: Mapping[str, Any],
                            max_tokens: int) -> str:
        if self._complete_json is None:
            raise LLMError("llm-json-unsupported", "no constrained completion given")
        return await asyncio.to_thread(self._complete_json, messages, schema, max_tokens)

    def stream_chat(self, messages: Sequence[ChatMessage], max_tokens: int,
                    temperature: float) -> AsyncIterator[str]:
        return iterate_in_thread(lambda: iter(self._stream_chat(messages)))

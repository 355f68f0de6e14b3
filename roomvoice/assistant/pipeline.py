"""The one reply pipeline: fast path → tool step → LLM, for voice, chat and the OpenAI API.

:meth:`ReplyPipeline.run` is the only place that sequences a reply. It yields
:class:`ReplyChunk` objects — the new text and the sentences it completed — and its three
readers only pick what they need:

- voice (the Serve ``Assistant.reply``, in-process :class:`~roomvoice.serve.local.LocalServices`):
  :meth:`ReplyPipeline.sentences` (or :meth:`ReplyPipeline.sentences_sync`), the sentences,
  the conversation remembered by the assistant per ``conversation_id``;
- chat and the OpenAI API (the Serve ``Assistant.chat``, :class:`~roomvoice.serve.backends.LocalChatBackend`):
  :meth:`ReplyPipeline.chat`, the text deltas, the conversation supplied by the client
  (nothing remembered here).

The LLM is an :class:`~roomvoice.assistant.llm.LLMPort` (Serve handle, in-process engine or
plain functions). One :class:`TimeoutPolicy` bounds the LLM's part of every reply.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

from roomvoice.assistant.core import AssistantCore, ReplyAssembler
from roomvoice.assistant.llm import LLMPort
from roomvoice.errors import LLMError, RoomVoiceError, as_roomvoice_error
from roomvoice.events import AssistantRequest, ChatMessage, ReplySentence

logger = logging.getLogger(__name__)

T = TypeVar("T")

NO_CONTROLS = "I couldn't use the home controls for that. "
"""Said before the LLM's words when the tool call's grammar could not be built (``llm-bad-schema``)."""
PREFILL_DELAY_S = 1.0
"""Seconds after a reply before the LLM evaluates the conversation's next prompt beginning: done at
once, it took CPU from the reply's own speech synthesis (home command first audio 0.09 -> 0.24 s)."""


@dataclass(frozen=True)
class TimeoutPolicy:
    """How long the LLM may take for one reply.

    Attributes:
        llm_s: wall seconds for the LLM's whole part of a reply — the tool call and the streamed
            words together, from the first LLM call (the fast path, which never calls the LLM, is
            not counted; Home Assistant has its own timeout). Past it the pending LLM call is
            cancelled and the reply fails with ``llm-timeout`` (a tool call that runs out of time
            does not fall back to words: there is no time left for them). None: no limit.
    """

    llm_s: float | None = 30.0

    @classmethod
    def from_config(cls, llm_cfg: Any) -> TimeoutPolicy:
        """From an :class:`~roomvoice.config.LlmConfig`: ``llm.timeout_s``."""
        return cls(float(llm_cfg.timeout_s))

    def deadline(self) -> float | None:
        """The event loop time at which an LLM part starting now must end (None: never)."""
        return None if self.llm_s is None else asyncio.get_running_loop().time() + self.llm_s

    def error(self, what: str) -> LLMError:
        """The ``llm-timeout`` error for ``what`` did not happen in time."""
        limit = "the time allowed" if self.llm_s is None else f"{self.llm_s:g} s"
        return LLMError("llm-timeout", f"{what} within {limit}")


@dataclass(frozen=True)
class Sampling:
    """Defaults of the LLM's words, when a request does not set them.

    Attributes:
        max_tokens: reply length cap in tokens.
        temperature: sampling temperature (0 = greedy).
    """

    max_tokens: int = 96
    temperature: float = 0.2

    @classmethod
    def from_config(cls, llm_cfg: Any) -> Sampling:
        """From an :class:`~roomvoice.config.LlmConfig`."""
        return cls(int(llm_cfg.max_tokens), float(llm_cfg.temperature))


@dataclass(frozen=True)
class ReplyChunk:
    """One step of a reply as it is made.

    Attributes:
        delta: the new text (a fast path or tool reply comes whole; the LLM's words as they stream).
        sentences: the sentences this step completed (often none while the LLM streams).
    """

    delta: str
    sentences: tuple[ReplySentence, ...] = ()


class ReplyPipeline:
    """Fast path → tool step → LLM, streamed.

    Args:
        core: the steps (checks, fast path, tool prompt and execution, prompts, memory).
        llm: the LLM (see :mod:`roomvoice.assistant.llm`).
        sampling: default ``max_tokens`` and ``temperature`` of the LLM's words.
        timeouts: the one timeout policy (``llm.timeout_s``).
    """

    def __init__(self, core: AssistantCore, llm: LLMPort, *, sampling: Sampling = Sampling(),
                 timeouts: TimeoutPolicy = TimeoutPolicy()) -> None:
        self.core, self.llm, self.sampling, self.timeouts = core, llm, sampling, timeouts

    async def run(self, request: AssistantRequest, *, messages: Sequence[ChatMessage] | None = None,
                  max_tokens: int | None = None, temperature: float | None = None) -> AsyncIterator[ReplyChunk]:
        """The reply to ``request``.

        Args:
            messages: the LLM's messages for a conversation the client supplies (stateless: nothing
                is remembered); None = the assistant's own memory of ``request.conversation_id``
                (the exchange is remembered).
            max_tokens, temperature: for the LLM's words; None = :attr:`sampling`.

        Raises:
            AssistantError: a bad request. LLMError: ``llm-timeout`` (see :class:`TimeoutPolicy`),
                ``llm-empty-reply`` (the LLM said nothing), ``llm-failed``...
        """
        remember = messages is None and not request.preemptive
        deadline = self.timeouts.deadline()
        preface = ""
        if not request.preemptive:  # a preemptive request only ever gets words: nothing is executed
            fast = await asyncio.to_thread(self.core.fast_sentence, request, remember=remember)  # may call HA
            if fast is not None:
                yield ReplyChunk(fast.text, (fast,))
                self.warm(request, remember)
                return
            deadline = self.timeouts.deadline()
            tool, preface = await self._tool_step(request, deadline, remember)
            if tool is not None:
                yield ReplyChunk(tool.text, (tool,))
                self.warm(request, remember)
                return
        llm_messages = self.core.messages_for(request) if messages is None else list(messages)
        assembler = ReplyAssembler()
        if preface:  # the words must say that the home controls could not be used
            yield ReplyChunk(preface, tuple(assembler.push(preface)))
        stream = self.llm.stream_chat(llm_messages, int(max_tokens or self.sampling.max_tokens),
                                      self.sampling.temperature if temperature is None else float(temperature))
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):  # around the wait only, never a yield
                        delta = await anext(stream)
                except StopAsyncIteration:
                    break
                yield ReplyChunk(delta, tuple(assembler.push(delta)))
        except TimeoutError as exc:
            raise self.timeouts.error("no complete reply") from exc
        except (RoomVoiceError, asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            raise as_roomvoice_error(exc, LLMError, "llm-failed") from exc
        finally:
            await stream.aclose()
        tail = tuple(assembler.finish())
        if tail:
            yield ReplyChunk("", tail)
        if not assembler.parts:
            raise LLMError("llm-empty-reply", "the LLM returned no text")
        if remember:
            self.core.remember(request, assembler.text)
        self.warm(request, remember)

    def warm(self, request: AssistantRequest, remembered: bool) -> None:
        """After an exchange was remembered, have the LLM evaluate the conversation's next prompt
        beginning while idle, so the next reply's first token comes sooner (never raises)."""
        prefill = getattr(self.llm, "prefill", None)
        if not remembered or prefill is None:
            return
        try:
            prefill(self.core.history_messages(request.conversation_id), PREFILL_DELAY_S)
        except Exception:  # only a missed speed-up
            logger.debug("prefill request failed", exc_info=True)

    async def _tool_step(self, request: AssistantRequest, deadline: float | None,
                         remember: bool) -> tuple[ReplySentence | None, str]:
        """One constrained LLM tool call for a home request the rules missed.

        Returns:
            (the reply, "") when the tool step answered (a tool ran or was refused, the choice
            made no sense, or no device could be shortlisted; a call the request's words settled,
            ``prompt.call``, runs without asking the LLM); (None, "") to answer in words (no
            tool step, the LLM chose no tool for a question, or the call failed: the words report
            a real failure); (None, :data:`NO_CONTROLS`) when the schema's grammar could not be
            built (``llm-bad-schema``): words, preceded by that sentence.

        Raises:
            LLMError: ``llm-timeout`` when out of time.
        """
        t0 = time.monotonic()
        prompt = await asyncio.to_thread(self.core.tool_prompt, request)
        if prompt is None:
            return None, ""
        if getattr(prompt, "answer", None) is not None:  # nothing to ask the LLM
            return await asyncio.to_thread(self.core.tool_answer, request, prompt, t0, remember=remember), ""
        if getattr(prompt, "call", None) is not None:  # the words settled the call: checked and run as the LLM's
            return await asyncio.to_thread(self.core.tool_sentence, request, prompt.call, t0, remember=remember), ""
        try:
            async with asyncio.timeout_at(deadline):
                raw = await self.llm.complete_json(prompt.messages, prompt.schema, self.core.tool_max_tokens)
        except TimeoutError as exc:
            raise self.timeouts.error("no tool call") from exc
        except Exception as exc:
            err = as_roomvoice_error(exc, LLMError, "llm-failed")
            if err.code == "llm-timeout":  # the LLM's own guard fired: no time left for words
                if err is exc:
                    raise
                raise err from exc
            if err.code == "llm-bad-schema":
                logger.warning("tool schema rejected (%s); answering in words without the home controls", err)
                return None, NO_CONTROLS
            log = logger.debug if err.code == "llm-json-unsupported" else logger.warning
            log("constrained tool call failed (%s); answering in words", err.code)
            return None, ""
        return await asyncio.to_thread(self.core.tool_sentence, request, raw, t0, remember=remember), ""

    # ---- the readers -------------------------------------------------------------------------

    async def sentences(self, request: AssistantRequest) -> AsyncIterator[ReplySentence]:
        """Voice: the reply as :class:`ReplySentence` objects (remembered per conversation)."""
        async with aclosing(self.run(request)) as chunks:  # closing this closes the LLM's stream
            async for chunk in chunks:
                for sentence in chunk.sentences:
                    yield sentence

    def sentences_sync(self, request: AssistantRequest) -> Iterator[ReplySentence]:
        """:meth:`sentences` for a blocking caller (a room thread, a test); closing the iterator
        early cancels the reply (and the LLM's generation)."""
        return iterate_blocking(lambda: self.sentences(request))

    async def chat(self, messages: Sequence[ChatMessage], max_tokens: int | None = None,
                   temperature: float | None = None, user_id: int | None = None,
                   role: str = "member") -> AsyncIterator[str]:
        """Chat and the OpenAI API: the reply to a client-supplied conversation (its last message
        is the user's request) as text deltas, acting for ``user_id`` with ``role``.

        Raises:
            AssistantError: ``assistant-bad-request`` and the checks of :meth:`AssistantCore.check`;
                the errors of :meth:`run`.
        """
        request, llm_messages = self.core.chat_messages(messages, user_id, role)
        chunks = self.run(request, messages=llm_messages, max_tokens=max_tokens, temperature=temperature)
        async with aclosing(chunks):  # closing this closes the LLM's stream
            async for chunk in chunks:
                if chunk.delta:
                    yield chunk.delta


def iterate_blocking(factory: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """Drive the async iterator made by ``factory`` from blocking code, on a private event loop.

    Must not be called from a thread that runs an event loop. Closing the returned iterator
    closes the async one (its ``finally`` blocks run).
    """
    loop = asyncio.new_event_loop()
    context = contextvars.copy_context()  # one context for every step, as one task would have
    source = factory()

    def run(awaitable: Any) -> Any:
        async def await_it() -> Any:
            return await awaitable
        return loop.run_until_complete(loop.create_task(await_it(), context=context))

    try:
        while True:
            try:
                item = run(anext(source))
            except StopAsyncIteration:
                return
            yield item
    finally:
        try:
            run(source.aclose())
        finally:
            if not sys.is_finalizing():  # a reply dropped at exit: no new threads may start then
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

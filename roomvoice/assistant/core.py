"""The assistant's brain, without Ray or I/O: request checks, fast path, tool step halves,
conversation memory and sentence assembly.

:class:`AssistantCore` holds the steps; :class:`~roomvoice.assistant.pipeline.ReplyPipeline`
runs them in order (fast path → tool step → LLM) for voice, chat and the OpenAI API:

1. the rule fast path — time and date, and with skills (:class:`~roomvoice.skills.runtime.SkillSet`)
   Home Assistant's intents: a matched command is executed at once, a clarifying question or
   a refusal is answered without executing anything;
2. with skills, for requests about the home that the rules missed, one constrained LLM tool
   call over a shortlist of candidate devices (:meth:`AssistantCore.tool_prompt` → the LLM's
   ``complete_json`` → :meth:`AssistantCore.tool_sentence`): checked, then run through the tool
   registry; the tool's words are the reply. A command naming no device that can be shortlisted
   is answered without the LLM (:meth:`AssistantCore.tool_answer`); a choice that makes no sense
   gets a plain "I couldn't work out what to do with that";
3. otherwise the LLM's streamed chat reply, split into sentences by :class:`ReplyAssembler`.

Tool calls made or refused ride on the first sentence (``ReplySentence.tool_calls``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from roomvoice.assistant.prompts import client_messages, conversation_messages
from roomvoice.errors import AssistantError
from roomvoice.events import AssistantRequest, ChatMessage, ReplySentence
from roomvoice.skills.clock import answer_time_or_date, local_now
from roomvoice.text import SentenceSplitter

if TYPE_CHECKING:
    from roomvoice.skills.llm_tools import ToolPrompt
    from roomvoice.skills.runtime import SkillReply, SkillSet

logger = logging.getLogger(__name__)

CompleteJson = Callable[[Sequence[ChatMessage], Mapping[str, Any], int], str]
"""``(messages, schema, max_tokens) -> JSON text``: an LLM's constrained completion."""

MAX_REQUEST_CHARS = 4000
"""Longest request text accepted, in characters."""


class ReplyAssembler:
    """Collects streamed text deltas into timed sentences.

    Args:
        clock: monotonic clock in seconds; ``elapsed_s`` is measured from construction.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._t0 = clock()
        self._splitter = SentenceSplitter()
        self._first_token_s: float | None = None
        self._count = 0
        self.parts: list[str] = []

    def _make(self, text: str) -> ReplySentence:
        sentence = ReplySentence(
            text=text.strip(), index=self._count, source="llm",
            first_token_s=self._first_token_s if self._count == 0 else None,
            elapsed_s=self._clock() - self._t0,
        )
        self._count += 1
        self.parts.append(sentence.text)
        return sentence

    def push(self, delta: str) -> list[ReplySentence]:
        """Add one delta; returns the sentences it completed (often none)."""
        if delta and self._first_token_s is None:
            self._first_token_s = self._clock() - self._t0
        return [self._make(s) for s in self._splitter.push(delta) if s.strip()]

    def finish(self) -> list[ReplySentence]:
        """End of stream; returns the trailing sentence, if any."""
        rest = self._splitter.flush()
        return [self._make(rest)] if rest and rest.strip() else []

    @property
    def text(self) -> str:
        """The whole reply so far."""
        return " ".join(self.parts)


class AssistantCore:
    """Fast path, prompt building and conversation memory.

    Args:
        system_prompt: the LLM's instructions.
        history_turns: previous exchanges (user + assistant) sent with each request.
        timezone: IANA zone for the clock fast path; None = the system's local zone.
        now: clock returning the current local datetime (tests inject a fixed one).
        skills: intents, tools and Home Assistant (:func:`roomvoice.skills.setup.build_skills`);
            None = time/date rules only.
        tool_max_tokens: token cap of one constrained tool call.
    """

    def __init__(
        self,
        system_prompt: str,
        history_turns: int = 4,
        timezone: str | None = None,
        now: Callable[[], datetime] | None = None,
        skills: SkillSet | None = None,
        tool_max_tokens: int = 96,
    ) -> None:
        self.system_prompt = system_prompt
        self.history_turns = max(0, int(history_turns))
        self._now = now or (lambda: local_now(timezone))
        self.timezone = timezone
        self._history: dict[str, deque[tuple[str, str]]] = {}
        self._lock = threading.Lock()
        self.skills = skills
        self.tool_max_tokens = int(tool_max_tokens)

    @staticmethod
    def check(request: AssistantRequest) -> str:
        """Validate a request; returns its stripped text.

        Raises:
            AssistantError: ``assistant-empty-request`` or ``assistant-request-too-long``.
        """
        text = (request.text or "").strip()
        if not text:
            raise AssistantError("assistant-empty-request", "the request has no text")
        if len(text) > MAX_REQUEST_CHARS:
            raise AssistantError("assistant-request-too-long",
                                 f"the request has {len(text)} characters (limit {MAX_REQUEST_CHARS})")
        return text

    # ---- 1. fast path ------------------------------------------------------------------------

    def fast_answer(self, request: AssistantRequest) -> str | None:
        """The rule fast path's answer (time, date, a Home Assistant command — executed), or
        None to ask the LLM."""
        reply = self.fast_reply(request)
        return reply.speech if reply is not None else None

    def fast_reply(self, request: AssistantRequest) -> SkillReply | None:
        """The rule fast path's reply with the calls it made, or None to ask the LLM.

        Raises:
            AssistantError: for a bad request (see :meth:`check`).
        """
        text = self.check(request)
        if self.skills is None:
            from roomvoice.skills.runtime import SkillReply

            answer = answer_time_or_date(text, self._now())
            return SkillReply(answer, "fast_path") if answer is not None else None
        with self._acting_for(request, text):
            return self.skills.fast_reply(text, request.room or None)

    def fast_sentence(self, request: AssistantRequest, *, remember: bool = True) -> ReplySentence | None:
        """The fast path's reply as a sentence (with its tool calls; remembered unless
        ``remember`` is false), or None."""
        t0 = time.monotonic()
        reply = self.fast_reply(request)
        if reply is None:
            return None
        if remember:
            self.remember(request, reply.speech)
        return ReplySentence(reply.speech, 0, "fast_path", None, time.monotonic() - t0, reply.tool_calls)

    @contextmanager
    def _acting_for(self, request: AssistantRequest, text: str) -> Iterator[None]:
        """Set the skills' request context (who asks, from which room) while they run."""
        from roomvoice.skills.context import SkillContext
        from roomvoice.skills.personal import CURRENT_CONTEXT

        token = CURRENT_CONTEXT.set(SkillContext(user_id=request.user_id, role=request.role or "member",
                                                 room=request.room, timezone=self.timezone or "UTC",
                                                 request_text=text))
        try:
            yield
        finally:
            CURRENT_CONTEXT.reset(token)

    def route(self, request: AssistantRequest) -> str:
        """Where :class:`~roomvoice.assistant.pipeline.ReplyPipeline` would send ``request``, without
        executing anything: ``"fast_path"`` (the rules answer it: time, date, a recognised Home
        Assistant intent), ``"unsure"`` (the rules would ask which device was meant or refuse an
        unknown name), ``"tool"`` (a home request for the LLM's constrained tool call) or
        ``"llm"``. A room uses it to end a turn at once on a whole home command, and to hear a
        home request again with the home's names as the STT prompt (``unsure``, ``tool``).

        Raises:
            AssistantError: for a bad request (see :meth:`check`).
        """
        text = self.check(request)
        if answer_time_or_date(text, self._now()) is not None:
            return "fast_path"
        if self.skills is None:
            return "llm"
        with self._acting_for(request, text):
            how = self.skills.recognizes(text, request.room or None)
        if how is not None:
            return "fast_path" if how == "sure" else "unsure"
        return "tool" if self.tool_prompt(request) is not None else "llm"

    def vocabulary(self) -> str:
        """Words to bias speech recognition towards: the home's entity names, aliases and areas
        (empty without Home Assistant)."""
        return self.skills.vocabulary() if self.skills is not None else ""

    # ---- 2. tool step (the LLM call between the halves is the pipeline's) ---------------------

    def tool_prompt(self, request: AssistantRequest) -> ToolPrompt | None:
        """The constrained tool call to ask the LLM for (a home request the rules missed), or None."""
        if self.skills is None:
            return None
        return self.skills.tool_prompt(self.check(request), request.room or None)

    def tool_answer(self, request: AssistantRequest, prompt: ToolPrompt, t0: float | None = None, *,
                    remember: bool = True) -> ReplySentence:
        """The tool step's reply when the LLM is not asked (``prompt.answer``, e.g. "I can't tell
        which device you mean"), remembered unless ``remember`` is false; source ``fast_path``
        (no LLM made it)."""
        t0 = time.monotonic() if t0 is None else t0
        text = prompt.answer or ""
        if remember:
            self.remember(request, text)
        return ReplySentence(text, 0, "fast_path", None, time.monotonic() - t0)

    def tool_sentence(self, request: AssistantRequest, raw: str, t0: float | None = None, *,
                      remember: bool = True) -> ReplySentence | None:
        """Run the LLM's constrained tool call ``raw``; the reply sentence (remembered unless
        ``remember`` is false), or None when the LLM chose no tool for a request that is not a
        command (then ask it for words). A choice that makes no sense is answered plainly
        (:data:`~roomvoice.skills.llm_tools.UNCLEAR`)."""
        if self.skills is None:
            return None
        t0 = time.monotonic() if t0 is None else t0
        text = self.check(request)
        with self._acting_for(request, text):
            reply = self.skills.run_llm_call(raw, text, request.room or None)
        if reply is None:
            return None
        if remember:
            self.remember(request, reply.speech)
        return ReplySentence(reply.speech, 0, reply.source, None, time.monotonic() - t0, reply.tool_calls)

    # ---- 3. the LLM's words: prompts and memory ----------------------------------------------

    def messages_for(self, request: AssistantRequest) -> list[ChatMessage]:
        """System prompt, the last ``history_turns`` exchanges, then the request."""
        text = self.check(request)
        with self._lock:
            past = list(self._history.get(request.conversation_id, ()))
        return conversation_messages(self.system_prompt, past, text)

    def history_messages(self, conversation_id: str) -> list[ChatMessage]:
        """The system prompt and the conversation's remembered exchanges: how its next LLM prompt
        begins (what :meth:`~roomvoice.assistant.pipeline.ReplyPipeline` has the LLM prefill)."""
        with self._lock:
            past = list(self._history.get(conversation_id, ()))
        return conversation_messages(self.system_prompt, past, "")[:-1]

    def remember(self, request: AssistantRequest, reply: str) -> None:
        """Store an exchange in the conversation's memory.

        At most ``history_turns`` exchanges are kept; when full, the older half goes at once
        rather than one exchange per turn, so the prompt of the next requests keeps the same
        beginning and llama.cpp reuses its evaluated prefix (a history sliding by one exchange a
        turn re-evaluated all of it every turn: ~0.5 s more time to first token on this box).
        """
        if self.history_turns == 0 or not reply:
            return
        with self._lock:
            memory = self._history.setdefault(request.conversation_id, deque())
            if len(memory) >= self.history_turns:
                for _ in range(max(1, (self.history_turns + 1) // 2)):
                    memory.popleft()
            memory.append((request.text.strip(), reply))

    def chat_messages(self, messages: Sequence[ChatMessage], user_id: int | None = None,
                      role: str = "member") -> tuple[AssistantRequest, list[ChatMessage]]:
        """Prepare an OpenAI-style conversation supplied by a client (stateless chat API).

        ``user_id`` and ``role`` say who asks (the skills act for them: their reminders, tasks...).
        See :func:`~roomvoice.assistant.prompts.client_messages` for the messages' order.

        Returns:
            (the request made of the last user message, the messages to send to the LLM).

        Raises:
            AssistantError: ``assistant-bad-request`` if the last message is not from the user;
                the checks of :meth:`check` on its text.
        """
        if not messages or messages[-1].role != "user":
            raise AssistantError("assistant-bad-request", "the last message must have role 'user'")
        request = AssistantRequest(text=messages[-1].content, user_id=user_id, role=role)
        text = self.check(request)
        return request, client_messages(self.system_prompt, messages, self.history_turns, text)

    def reply(
        self,
        request: AssistantRequest,
        stream_chat: Callable[[Sequence[ChatMessage]], Iterable[str]],
        complete_json: CompleteJson | None = None,
    ) -> Iterator[ReplySentence]:
        """Synchronous streamed reply through the one
        :class:`~roomvoice.assistant.pipeline.ReplyPipeline`, with the LLM as two plain functions
        (``stream_chat(messages)`` → deltas; ``complete_json`` None = no tool step). For tests
        and scripts; no timeout.

        Raises:
            AssistantError: for a bad request. LLMError: ``llm-empty-reply`` if the LLM said nothing.
        """
        from roomvoice.assistant.llm import CallableLLM
        from roomvoice.assistant.pipeline import ReplyPipeline, TimeoutPolicy

        pipeline = ReplyPipeline(self, CallableLLM(stream_chat, complete_json), timeouts=TimeoutPolicy(None))
        return pipeline.sentences_sync(request)

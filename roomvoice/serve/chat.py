"""Stored chat: conversations per user, history kept in PostgreSQL, replies streamed.

:class:`ChatService` is what the console and the conversations API talk to. One call to
:meth:`ChatService.stream`:

1. checks that the conversation is the user's (owner or admin; see
   :func:`roomvoice.store.conversations.can_read`) and that the text is within the limit;
2. reads the last ``history_turns`` exchanges as the LLM's context (full history stays stored);
3. stores the user's message *before* asking the assistant, so a failure loses nothing;
4. streams the reply deltas from the injected :class:`~roomvoice.serve.api.ChatBackend`
   (the same ``Assistant`` the rooms use, or an in-process engine);
5. stores the assistant's reply when the stream ends.

Writes go through :class:`~roomvoice.store.resilient.ResilientStore`: while PostgreSQL is down
they are queued (and journalled) and flushed on reconnect; context then comes from memory.
Conversation ownership is remembered in memory for conversations created or read in this
process, so a user keeps chatting through an outage. Blocking database calls run in a worker
thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from roomvoice.errors import RoomVoiceError
from roomvoice.events import ChatMessage
from roomvoice.store.conversations import Conversation, Message, can_read
from roomvoice.store.errors import AccessError, NotFoundError, StoreUnavailableError, ValidationError
from roomvoice.store.resilient import ResilientStore
from roomvoice.store.users import Role, User

logger = logging.getLogger(__name__)


class ChatBackend(Protocol):
    """Streams an assistant reply for OpenAI-style messages (see :mod:`roomvoice.serve.backends`)."""

    def stream(self, user: Any, messages: Sequence[ChatMessage], max_tokens: int | None,
               temperature: float | None) -> AsyncIterator[str]: ...


class ChatService:
    """Per-user stored conversations with streamed replies.

    Args:
        store: the resilient conversation store (PostgreSQL with an outage queue).
        backend: where replies come from.
        history_turns: previous user/assistant exchanges sent to the LLM as context.
        max_message_chars: longest user message accepted, in characters.
        max_known: conversations whose owner is remembered in memory (oldest dropped).
    """

    def __init__(self, store: ResilientStore, backend: ChatBackend, *, history_turns: int = 4,
                 max_message_chars: int = 4000, max_known: int = 10_000) -> None:
        if history_turns < 0 or max_message_chars < 1:
            raise ValueError(f"history_turns must be >= 0 and max_message_chars >= 1: {history_turns}, "
                             f"{max_message_chars}")
        self.store = store
        self.backend = backend
        self.history_turns = history_turns
        self.max_message_chars = max_message_chars
        self._max_known = max_known
        self._known: OrderedDict[uuid.UUID, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    # ---- conversations -----------------------------------------------------------------------

    def _remember(self, conversation: Conversation) -> None:
        with self._lock:
            self._known[conversation.id] = conversation
            self._known.move_to_end(conversation.id)
            while len(self._known) > self._max_known:
                self._known.popitem(last=False)

    def start(self, user: User, title: str = "") -> Conversation:
        """Create a new conversation owned by ``user`` (queued if PostgreSQL is down).

        Raises:
            roomvoice.store.errors.ValidationError: the title is too long or has a NUL.
        """
        conversation = self.store.create_conversation(user_id=user.id, title=title)
        self._remember(conversation)
        logger.info("user %d started conversation %s", user.id, conversation.id)
        return conversation

    def conversation(self, user: User, conversation_id: uuid.UUID) -> Conversation:
        """The conversation, if ``user`` may read it.

        Raises:
            NotFoundError: ``store-not-found`` — no such conversation.
            AccessError: ``store-forbidden`` — it is someone else's.
            StoreUnavailableError: PostgreSQL is down and this process has not seen it.
        """
        try:
            conversation = self.store.conversations.get_conversation(conversation_id)
        except (StoreUnavailableError, NotFoundError):
            with self._lock:  # PostgreSQL is down, or it was created while it was down and is still queued
                conversation = self._known.get(conversation_id)
            if conversation is None:
                raise
        if not can_read(user, conversation) or (conversation.user_id is None and user.role is not Role.ADMIN):
            logger.info("user %d refused conversation %s", user.id, conversation_id)
            raise AccessError("store-forbidden", "this conversation belongs to someone else")
        self._remember(conversation)
        return conversation

    def conversations(self, user: User, limit: int = 100) -> list[Conversation]:
        """``user``'s own conversations, newest first (from memory while PostgreSQL is down)."""
        try:
            stored = self.store.conversations.list_conversations(user, limit=limit)
        except StoreUnavailableError:
            stored = []
        with self._lock:
            mine = [c for c in self._known.values() if c.user_id == user.id]
        seen = {c.id for c in stored}
        merged = stored + [c for c in mine if c.id not in seen]
        merged.sort(key=lambda c: c.created_at, reverse=True)
        return merged[:limit]

    def history(self, user: User, conversation_id: uuid.UUID) -> list[Message]:
        """Every message of the conversation, oldest first (queued ones included).

        Raises:
            NotFoundError, AccessError: as :meth:`conversation`.
        """
        self.conversation(user, conversation_id)
        try:
            stored = self.store.conversations.history(conversation_id, as_user=user)
        except (StoreUnavailableError, NotFoundError):
            stored = []
        queued = self.store.queued_messages(conversation_id)
        if not stored and not queued:
            return self.store.cached_messages(conversation_id)
        seen = {m.client_msg_id for m in stored}
        return stored + [m for m in queued if m.client_msg_id not in seen]

    # ---- replies -----------------------------------------------------------------------------

    def check_text(self, text: str) -> str:
        """The message, stripped, if acceptable.

        Raises:
            ValidationError: ``store-invalid`` (empty, NUL) or ``store-too-long``.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("store-invalid", "the message is empty")
        if "\x00" in text:
            raise ValidationError("store-invalid", "the message contains a NUL character")
        if len(text) > self.max_message_chars:
            raise ValidationError("store-too-long",
                                  f"the message has {len(text)} characters (limit {self.max_message_chars})")
        return text.strip()

    async def open_reply(self, user: User, conversation_id: uuid.UUID, text: str, *,
                         max_tokens: int | None = None, temperature: float | None = None) -> AsyncIterator[str]:
        """Check the request now, then return the reply stream (see :meth:`stream`): an HTTP route
        can answer a refusal with its status before it starts streaming.

        Raises:
            ValidationError: bad text (nothing stored).
            NotFoundError, AccessError: as :meth:`conversation` (nothing stored).
        """
        text = self.check_text(text)
        await asyncio.to_thread(self.conversation, user, conversation_id)
        return self._reply(user, conversation_id, text, max_tokens, temperature)

    async def stream(self, user: User, conversation_id: uuid.UUID, text: str, *, max_tokens: int | None = None,
                     temperature: float | None = None) -> AsyncIterator[str]:
        """Store ``text`` as the user's message, stream the reply as text deltas, store the reply.

        Raises:
            ValidationError: bad text (nothing stored).
            NotFoundError, AccessError: as :meth:`conversation` (nothing stored).
            roomvoice.errors.RoomVoiceError: the assistant failed (``llm-*``); the user's message
                stays stored, no assistant message is written.
        """
        replies = await self.open_reply(user, conversation_id, text, max_tokens=max_tokens, temperature=temperature)
        async for delta in replies:
            yield delta

    async def _reply(self, user: User, conversation_id: uuid.UUID, text: str, max_tokens: int | None,
                     temperature: float | None) -> AsyncIterator[str]:
        """The checked request's reply: context, user message stored, deltas streamed, reply stored."""
        context = await asyncio.to_thread(self.store.last_exchanges, conversation_id, self.history_turns)
        await asyncio.to_thread(self.store.append_message, conversation_id, "user", text)
        messages = [m.as_chat() for m in context] + [ChatMessage("user", text)]
        parts: list[str] = []
        try:
            async for delta in self.backend.stream(user, messages, max_tokens, temperature):
                parts.append(delta)
                yield delta
        except RoomVoiceError:
            logger.warning("reply failed in conversation %s", conversation_id)
            raise
        reply = "".join(parts).strip()
        if reply:
            await asyncio.to_thread(self.store.append_message, conversation_id, "assistant", reply)

    async def reply(self, user: User, conversation_id: uuid.UUID, text: str, **kwargs: Any) -> str:
        """:meth:`stream`, joined: the whole reply text."""
        return "".join([d async for d in self.stream(user, conversation_id, text, **kwargs)]).strip()

"""Conversations and their messages: the full history is kept, the LLM sees the last few exchanges.

A conversation belongs to a user (chat) or to a room (voice; ``user_id`` is ``None``). Ids are
made by the client (``uuid4``) and every message carries a ``client_msg_id``: inserting the
same conversation or message twice (a retry, a journal replay) stores it once
(``ON CONFLICT DO NOTHING``). Messages are ordered by their database id, i.e. by insert order.

Who may read what (:func:`can_read`): the owner and admins read a user's conversation; members
and admins read room conversations; guests read only their own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg

from roomvoice.events import ChatMessage
from roomvoice.store.db import Database
from roomvoice.store.errors import AccessError, NotFoundError, ValidationError
from roomvoice.store.users import Role, User
from roomvoice.store.validation import check_text

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_CHARS = 16_000
"""Longest message accepted, in characters (about 4 000 tokens)."""
MAX_TITLE_CHARS = 200
MAX_ROOM_CHARS = 64
MESSAGE_ROLES = ("system", "user", "assistant", "tool")
_CONTEXT_ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Conversation:
    """A chat (``user_id`` set) or a room's voice conversation (``room`` set).

    Attributes:
        id: client-made UUID.
        user_id: owner, or ``None`` for a room conversation.
        room: room name, or ``None`` for a chat.
        title: free text ("" until named).
        created_at: UTC-aware creation time.
    """

    id: uuid.UUID
    user_id: int | None
    room: str | None
    title: str
    created_at: datetime


@dataclass(frozen=True)
class Message:
    """One message of a conversation.

    Attributes:
        conversation_id: the conversation.
        role: ``"system"``, ``"user"``, ``"assistant"`` or ``"tool"``.
        content: the text, verbatim.
        client_msg_id: idempotency key (UUID), unique across all messages.
        created_at: when the client wrote it (kept through queueing and replay).
        id: database id (insert order), or ``None`` while it waits in the resilient queue.
    """

    conversation_id: uuid.UUID
    role: str
    content: str
    client_msg_id: uuid.UUID
    created_at: datetime
    id: int | None = None

    def as_chat(self) -> ChatMessage:
        """The OpenAI-style message for the LLM."""
        return ChatMessage(role=self.role, content=self.content)


def _conversation(row: tuple[Any, ...]) -> Conversation:
    return Conversation(id=row[0], user_id=row[1], room=row[2], title=row[3], created_at=row[4])


def _message(row: tuple[Any, ...]) -> Message:
    return Message(
        id=int(row[0]), conversation_id=row[1], role=row[2], content=row[3], client_msg_id=row[4], created_at=row[5]
    )


def can_read(user: User, conversation: Conversation) -> bool:
    """Whether ``user`` may read ``conversation`` (see the module docstring)."""
    if user.role is Role.ADMIN or (conversation.user_id is not None and conversation.user_id == user.id):
        return True
    return conversation.user_id is None and user.role is Role.MEMBER


def select_last_exchanges(messages: Sequence[Message], n: int) -> list[Message]:
    """The user/assistant messages from the ``n``-th last user message on, oldest first.

    ``messages`` must be in conversation order. With fewer than ``n`` user messages, every
    user/assistant message is returned; ``n <= 0`` gives ``[]``. Same rule as
    :meth:`ConversationStore.last_exchanges`.
    """
    if n <= 0:
        return []
    chat = [m for m in messages if m.role in _CONTEXT_ROLES]
    user_positions = [i for i, m in enumerate(chat) if m.role == "user"]
    start = user_positions[-n] if len(user_positions) >= n else 0
    return chat[start:]


def new_conversation(
    *, user_id: int | None = None, room: str | None = None, title: str = "", conversation_id: uuid.UUID | None = None
) -> Conversation:
    """Build (not store) a conversation with a fresh UUID and the current UTC time.

    Raises:
        ValidationError: neither ``user_id`` nor ``room``, or a bad room name or title.
    """
    if user_id is None and room is None:
        raise ValidationError("store-invalid", "a conversation needs a user or a room")
    if room is not None:
        check_text("room", room, max_chars=MAX_ROOM_CHARS, allow_empty=False)
    check_text("conversation title", title, max_chars=MAX_TITLE_CHARS)
    return Conversation(
        id=conversation_id or uuid.uuid4(), user_id=user_id, room=room, title=title,
        created_at=datetime.now(timezone.utc),
    )


class ConversationStore:
    """Store and read conversations.

    Args:
        db: the database (migrated).
        max_message_chars: longest message accepted (characters).
    """

    def __init__(self, db: Database, *, max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS) -> None:
        self.db = db
        self.max_message_chars = max_message_chars

    def new_message(
        self,
        conversation_id: uuid.UUID,
        role: str,
        content: str,
        client_msg_id: uuid.UUID | None = None,
        created_at: datetime | None = None,
    ) -> Message:
        """Build (not store) a validated message; a fresh ``client_msg_id`` when none is given.

        Raises:
            ValidationError: unknown role (``store-invalid``), content over ``max_message_chars``
                (``store-too-long``) or containing NUL.
        """
        if role not in MESSAGE_ROLES:
            raise ValidationError("store-invalid", f"unknown message role {role!r}; use one of {MESSAGE_ROLES}")
        check_text("message content", content, max_chars=self.max_message_chars)
        return Message(
            conversation_id=conversation_id, role=role, content=content,
            client_msg_id=client_msg_id or uuid.uuid4(), created_at=created_at or datetime.now(timezone.utc),
        )

    def create_conversation(
        self, *, user_id: int | None = None, room: str | None = None, title: str = "",
        conversation_id: uuid.UUID | None = None,
    ) -> Conversation:
        """Create a conversation for a user (chat) or a room (voice).

        Raises:
            ValidationError: see :func:`new_conversation`.
            NotFoundError: ``user_id`` is not a user.
            StoreUnavailableError: PostgreSQL is unreachable.
        """
        return self.insert_conversation(
            new_conversation(user_id=user_id, room=room, title=title, conversation_id=conversation_id)
        )

    def insert_conversation(self, conversation: Conversation) -> Conversation:
        """Store a built conversation; a second insert of the same id changes nothing.

        Returns:
            the stored row.

        Raises:
            NotFoundError: its ``user_id`` is not a user.
            StoreUnavailableError: PostgreSQL is unreachable.
        """
        c = conversation
        with self.db.connection() as conn:
            try:
                conn.execute(
                    "INSERT INTO conversations (id, user_id, room, title, created_at) VALUES (%s, %s, %s, %s, %s)"
                    " ON CONFLICT (id) DO NOTHING",
                    (c.id, c.user_id, c.room, c.title, c.created_at),
                )
            except psycopg.errors.ForeignKeyViolation as exc:
                raise NotFoundError("store-not-found", f"no user with id {c.user_id}") from exc
            row = conn.execute(
                "SELECT id, user_id, room, title, created_at FROM conversations WHERE id = %s", (c.id,)
            ).fetchone()
        assert row is not None
        return _conversation(row)

    def append_message(
        self,
        conversation_id: uuid.UUID,
        role: str,
        content: str,
        client_msg_id: uuid.UUID | None = None,
        created_at: datetime | None = None,
    ) -> Message:
        """Validate and store a message (idempotent on ``client_msg_id``).

        Raises:
            ValidationError: see :meth:`new_message`; ``store-conflict`` if ``client_msg_id`` is
                already used by a message of another conversation.
            NotFoundError: no such conversation.
            StoreUnavailableError: PostgreSQL is unreachable.
        """
        return self.insert_message(self.new_message(conversation_id, role, content, client_msg_id, created_at))

    def insert_message(self, message: Message) -> Message:
        """Store a built message; inserting the same ``client_msg_id`` again returns the stored one.

        Raises:
            as :meth:`append_message`.
        """
        m = message
        with self.db.connection() as conn:
            try:
                row = conn.execute(
                    "INSERT INTO messages (conversation_id, role, content, client_msg_id, created_at)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (client_msg_id) DO NOTHING"
                    " RETURNING id, conversation_id, role, content, client_msg_id, created_at",
                    (m.conversation_id, m.role, m.content, m.client_msg_id, m.created_at),
                ).fetchone()
            except psycopg.errors.ForeignKeyViolation as exc:
                raise NotFoundError("store-not-found", f"no conversation {m.conversation_id}") from exc
            if row is None:  # already stored: a retry or a replay
                row = conn.execute(
                    "SELECT id, conversation_id, role, content, client_msg_id, created_at FROM messages"
                    " WHERE client_msg_id = %s",
                    (m.client_msg_id,),
                ).fetchone()
                assert row is not None
                if row[1] != m.conversation_id:
                    raise ValidationError(
                        "store-conflict", f"client_msg_id {m.client_msg_id} belongs to another conversation"
                    )
        return _message(row)

    def get_conversation(self, conversation_id: uuid.UUID, *, as_user: User | None = None) -> Conversation:
        """A conversation, checked against ``as_user`` when given.

        Raises:
            NotFoundError: no such conversation.
            AccessError: ``store-forbidden`` — ``as_user`` may not read it.
        """
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT id, user_id, room, title, created_at FROM conversations WHERE id = %s", (conversation_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError("store-not-found", f"no conversation {conversation_id}")
        conversation = _conversation(row)
        if as_user is not None and not can_read(as_user, conversation):
            logger.info("user %d refused conversation %s", as_user.id, conversation_id)
            raise AccessError("store-forbidden", "this conversation belongs to someone else")
        return conversation

    def history(self, conversation_id: uuid.UUID, *, as_user: User, limit: int | None = None) -> list[Message]:
        """Every message of a conversation, oldest first (the last ``limit`` if given).

        Raises:
            NotFoundError: no such conversation.
            AccessError: ``store-forbidden`` — ``as_user`` is neither its owner nor an admin
                (see :func:`can_read`).
        """
        self.get_conversation(conversation_id, as_user=as_user)
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, conversation_id, role, content, client_msg_id, created_at FROM ("
                " SELECT id, conversation_id, role, content, client_msg_id, created_at FROM messages"
                " WHERE conversation_id = %s ORDER BY id DESC LIMIT %s) AS recent ORDER BY id",
                (conversation_id, limit),
            ).fetchall()
        return [_message(r) for r in rows]

    def last_exchanges(self, conversation_id: uuid.UUID, n: int) -> list[Message]:
        """The last ``n`` user/assistant exchanges, oldest first: the LLM's context.

        Starts at the ``n``-th last user message (see :func:`select_last_exchanges`); no access
        check (the caller already holds the conversation).
        """
        if n <= 0:
            return []
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, conversation_id, role, content, client_msg_id, created_at FROM messages"
                " WHERE conversation_id = %(c)s AND role IN ('user', 'assistant') AND id >= coalesce(("
                "  SELECT id FROM messages WHERE conversation_id = %(c)s AND role = 'user'"
                "  ORDER BY id DESC OFFSET %(skip)s LIMIT 1), 0)"
                " ORDER BY id",
                {"c": conversation_id, "skip": n - 1},
            ).fetchall()
        return [_message(r) for r in rows]

    def list_conversations(self, user: User, *, limit: int = 100) -> list[Conversation]:
        """``user``'s own conversations, newest first."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, user_id, room, title, created_at FROM conversations WHERE user_id = %s"
                " ORDER BY created_at DESC, id LIMIT %s",
                (user.id, limit),
            ).fetchall()
        return [_conversation(r) for r in rows]

    def room_conversations(self, room: str, *, limit: int = 20) -> list[Conversation]:
        """A room's voice conversations, newest first."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, user_id, room, title, created_at FROM conversations WHERE room = %s AND user_id IS NULL"
                " ORDER BY created_at DESC, id LIMIT %s",
                (room, limit),
            ).fetchall()
        return [_conversation(r) for r in rows]

"""Chat and voice keep working while PostgreSQL is down: queue writes, read context from memory.

:class:`ResilientStore` sits in front of :class:`~roomvoice.store.conversations.ConversationStore`
and :class:`~roomvoice.store.turns.TurnStore`:

- **Writes** (new conversations, messages, voice turns) go straight to PostgreSQL while it
  answers. When it does not (:class:`~roomvoice.store.errors.StoreUnavailableError`), the write
  joins an in-memory FIFO queue, mirrored to a :class:`~roomvoice.store.journal.WriteJournal`
  if one is configured, and the caller carries on. While anything is queued, new writes queue
  behind it, so each conversation keeps its order.
- **Flushing**: a background thread retries with exponential backoff (``retry_initial_s``
  doubling up to ``retry_max_s``): a direct connection probe, then a fresh pool, then the queue in
  order. Every write is idempotent on its UUID key (``ON CONFLICT DO NOTHING``), so a write that
  reached the database just before the connection broke, or a journal replayed after a crash,
  is stored exactly once.
- **Reads** of a conversation's recent context come from PostgreSQL (plus that conversation's
  queued messages) while it answers, else from an in-memory cache of the last
  ``cache_messages`` messages of recently used conversations.

Writes the database refuses for a reason other than availability (e.g. the conversation was
deleted meanwhile) are logged and set aside (:attr:`ResilientStore.rejected`), not retried.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict, deque
from datetime import datetime

from roomvoice.store.conversations import (
    Conversation,
    ConversationStore,
    Message,
    new_conversation,
    select_last_exchanges,
)
from roomvoice.store.errors import StoreError, StoreUnavailableError
from roomvoice.store.journal import PendingWrite, WriteJournal
from roomvoice.store.turns import StoredTurn, TurnStore

logger = logging.getLogger(__name__)


class ResilientStore:
    """Conversation and turn writes that survive a PostgreSQL outage.

    Args:
        conversations: the conversation repository (its ``db`` is probed and reopened).
        turns: the voice-turn repository (same database).
        journal: where queued writes are mirrored; its pending writes are loaded and queued
            first. ``None`` keeps the queue in memory only.
        cache_messages: messages kept in memory per conversation for outage reads.
        cache_conversations: conversations kept in the cache (least recently used dropped).
        max_pending: queued writes at most; beyond it writes fail with ``store-unavailable``.
        retry_initial_s: first wait before a flush attempt after an outage, seconds.
        retry_max_s: longest wait between attempts, seconds.
        background: run the flusher thread; with ``False`` call :meth:`flush` yourself.
    """

    def __init__(
        self,
        conversations: ConversationStore,
        turns: TurnStore,
        *,
        journal: WriteJournal | None = None,
        cache_messages: int = 64,
        cache_conversations: int = 1000,
        max_pending: int = 100_000,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        background: bool = True,
    ) -> None:
        self.conversations = conversations
        self.turns = turns
        self.db = conversations.db
        self.journal = journal
        self.cache_messages = cache_messages
        self.cache_conversations = cache_conversations
        self.max_pending = max_pending
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.rejected: list[PendingWrite] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._queue: deque[PendingWrite] = deque()
        self._cache: OrderedDict[uuid.UUID, deque[Message]] = OrderedDict()
        self._online = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if journal is not None:
            for item in journal.load():
                self._queue.append(item)
                if isinstance(item, Message):
                    self._cache_add_locked(item)
        if background:
            self._thread = threading.Thread(target=self._run, name="roomvoice-store-flusher", daemon=True)
            self._thread.start()
        if self._queue:
            self._wake.set()

    # ---- state -------------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Whether the last database call worked."""
        return self._online

    @property
    def pending(self) -> int:
        """Writes waiting to be flushed."""
        return len(self._queue)

    def _went_offline(self, exc: StoreUnavailableError) -> None:
        with self._lock:
            was_online, self._online = self._online, False
        if was_online:
            logger.warning("PostgreSQL unreachable, queueing writes and reading from memory: %s", exc.message)
            self._wake.set()

    # ---- cache -------------------------------------------------------------------------------

    def _cache_add_locked(self, message: Message) -> None:
        messages = self._cache.get(message.conversation_id)
        if messages is None:
            messages = self._cache[message.conversation_id] = deque(maxlen=self.cache_messages)
        messages.append(message)
        self._cache.move_to_end(message.conversation_id)
        while len(self._cache) > self.cache_conversations:
            self._cache.popitem(last=False)

    # ---- writes ------------------------------------------------------------------------------

    def _enqueue_locked(self, item: PendingWrite) -> None:
        if len(self._queue) >= self.max_pending:
            raise StoreUnavailableError(
                "store-unavailable", f"PostgreSQL is unreachable and {len(self._queue)} writes are already queued"
            )
        if self.journal is not None:
            self.journal.append(item)
        was_empty = not self._queue
        self._queue.append(item)
        if was_empty:
            self._wake.set()

    def _store(self, item: PendingWrite) -> PendingWrite:
        if isinstance(item, Message):
            return self.conversations.insert_message(item)
        if isinstance(item, Conversation):
            return self.conversations.insert_conversation(item)
        return self.turns.record(item)

    def _write(self, item: PendingWrite) -> PendingWrite:
        """Store now if possible, else queue; returns the stored row or ``item`` itself when queued."""
        with self._lock:
            direct = self._online and not self._queue
            if not direct:
                self._enqueue_locked(item)
                return item
        try:
            return self._store(item)
        except StoreUnavailableError as exc:
            self._went_offline(exc)
        with self._lock:
            self._enqueue_locked(item)
        return item

    def create_conversation(
        self, *, user_id: int | None = None, room: str | None = None, title: str = "",
        conversation_id: uuid.UUID | None = None,
    ) -> Conversation:
        """Create a conversation (queued if PostgreSQL is down).

        Raises:
            ValidationError: see :func:`~roomvoice.store.conversations.new_conversation`.
            NotFoundError: (online) ``user_id`` is not a user.
            StoreUnavailableError: only when the queue is full.
        """
        conversation = new_conversation(user_id=user_id, room=room, title=title, conversation_id=conversation_id)
        stored = self._write(conversation)
        with self._lock:
            self._cache.setdefault(conversation.id, deque(maxlen=self.cache_messages))
        assert isinstance(stored, Conversation)
        return stored

    def append_message(
        self, conversation_id: uuid.UUID, role: str, content: str, *, client_msg_id: uuid.UUID | None = None,
        created_at: datetime | None = None,
    ) -> Message:
        """Append a message (queued if PostgreSQL is down; idempotent on ``client_msg_id``).

        Returns:
            the message; its ``id`` is ``None`` while it is queued.

        Raises:
            ValidationError: bad role, too long, NUL (checked before queueing).
            NotFoundError: (online) no such conversation.
            StoreUnavailableError: only when the queue is full.
        """
        message = self.conversations.new_message(conversation_id, role, content, client_msg_id, created_at)
        stored = self._write(message)
        assert isinstance(stored, Message)
        with self._lock:
            self._cache_add_locked(stored)
        return stored

    def record_turn(self, turn: StoredTurn) -> StoredTurn:
        """Record a voice turn (queued if PostgreSQL is down; idempotent on ``turn_key``).

        Raises:
            NotFoundError: (online) its conversation does not exist.
            StoreUnavailableError: only when the queue is full.
        """
        stored = self._write(turn)
        assert isinstance(stored, StoredTurn)
        return stored

    # ---- reads -------------------------------------------------------------------------------

    def last_exchanges(self, conversation_id: uuid.UUID, n: int) -> list[Message]:
        """The last ``n`` user/assistant exchanges, oldest first (see
        :func:`~roomvoice.store.conversations.select_last_exchanges`), from PostgreSQL plus the
        queue while it answers, else from memory (``[]`` for a conversation not seen since start).
        Never raises ``store-unavailable``.
        """
        if self._online:
            try:
                stored = self.conversations.last_exchanges(conversation_id, n)
            except StoreUnavailableError as exc:
                self._went_offline(exc)
            else:
                with self._lock:
                    queued = [m for m in self._queue if isinstance(m, Message) and m.conversation_id == conversation_id]
                    seen = {m.client_msg_id for m in stored}
                    merged = stored + [m for m in queued if m.client_msg_id not in seen]
                    self._cache[conversation_id] = deque(merged, maxlen=self.cache_messages)
                    self._cache.move_to_end(conversation_id)
                return select_last_exchanges(merged, n)
        with self._lock:
            cached_messages = list(self._cache.get(conversation_id, ()))
        if not cached_messages:
            logger.warning("no context in memory for conversation %s while PostgreSQL is down", conversation_id)
        return select_last_exchanges(cached_messages, n)

    def queued_messages(self, conversation_id: uuid.UUID) -> list[Message]:
        """The conversation's messages still waiting in the queue, in order."""
        with self._lock:
            return [m for m in self._queue if isinstance(m, Message) and m.conversation_id == conversation_id]

    def cached_messages(self, conversation_id: uuid.UUID) -> list[Message]:
        """The conversation's most recent messages held in memory (at most ``cache_messages``)."""
        with self._lock:
            return list(self._cache.get(conversation_id, ()))

    # ---- flushing ----------------------------------------------------------------------------

    def flush(self) -> int:
        """Write the queue to PostgreSQL in order, until it is empty or PostgreSQL fails again.

        After an outage, first probes with a direct connection and reopens the pool (this also
        ends an outage noticed by a read, with nothing queued).

        Returns:
            how many queued writes were stored (or set aside as rejected) by this call.
        """
        with self._flush_lock:
            if not self._online and not self._reconnect():
                return 0
            done = 0
            try:
                while True:
                    with self._lock:
                        if not self._queue:
                            break
                        item = self._queue[0]
                    try:
                        self._store(item)
                    except StoreUnavailableError as exc:
                        self._went_offline(exc)
                        break
                    except StoreError as exc:
                        logger.error("queued %s refused by PostgreSQL, set aside: %s", type(item).__name__, exc)
                        self.rejected.append(item)
                    with self._lock:
                        self._queue.popleft()
                    done += 1
            finally:
                if done and self.journal is not None:
                    with self._lock:
                        self.journal.rewrite(self._queue)
            if done:
                logger.info("flushed %d queued writes, %d left", done, len(self._queue))
            return done

    def _reconnect(self) -> bool:
        """Probe with a direct connection, reopen the pool, mark online. Returns success."""
        if not self.db.ping():
            return False
        try:
            self.db.reset_pool()
        except StoreUnavailableError:
            return False
        with self._lock:
            self._online = True
        logger.info("PostgreSQL is back; %d queued writes to flush", len(self._queue))
        return True

    def _needs_work(self) -> bool:
        return bool(self._queue) or not self._online

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            delay = min(self.retry_initial_s * 2 ** max(failures - 1, 0), self.retry_max_s)
            self._wake.wait(timeout=delay if failures else None)
            self._wake.clear()
            if self._stop.is_set():
                break
            if self._needs_work():
                try:
                    self.flush()
                except Exception:  # never let the flusher die; the next round retries
                    logger.exception("store flusher failed")
            failures = failures + 1 if self._needs_work() else 0

    def close(self, *, flush: bool = True, timeout_s: float = 5.0) -> None:
        """Stop the flusher (after one last flush attempt if ``flush``). Writes still queued stay
        in the journal, if any, for the next start.

        Args:
            flush: try to flush what is queued first.
            timeout_s: how long to wait for the flusher thread, seconds.
        """
        if flush and self._queue:
            self.flush()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._queue:
            logger.warning("closing with %d writes not flushed%s", len(self._queue),
                           "; they stay in the journal" if self.journal else " (no journal: lost)")

    def __enter__(self) -> ResilientStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Voice turns into PostgreSQL: each :class:`~roomvoice.events.TurnResult` as a stored turn.

A room keeps one voice conversation per run (its id survives actor restarts through the room's
``progress.json``); every turn becomes a ``voice_turns`` row with its stage timings, and the
transcript and reply become user/assistant messages of that conversation, so a room's history
reads like a chat. Writes go through :class:`~roomvoice.store.resilient.ResilientStore` (queued
and journalled while PostgreSQL is down) on a single background thread, so the voice loop never
waits on the database.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from roomvoice.events import TurnResult
from roomvoice.store.db import Database
from roomvoice.store.errors import StoreError

logger = logging.getLogger(__name__)


class TurnRecorder:
    """Stores a room's turns in the background.

    Args:
        db: the (migrated) database; its owner closes it after :meth:`close`.
        room: the room's name.
        journal_path: where writes queued during an outage are mirrored.
        conversation_id: the room conversation to continue (after a restart), or None for a new one.

    Raises:
        roomvoice.store.errors.StoreError: the conversation could not be created or queued.
    """

    def __init__(self, db: Database, room: str, journal_path: str | Path,
                 conversation_id: uuid.UUID | None = None) -> None:
        from roomvoice.store.conversations import ConversationStore
        from roomvoice.store.journal import WriteJournal
        from roomvoice.store.resilient import ResilientStore
        from roomvoice.store.turns import TurnStore

        self.room = room
        self.store = ResilientStore(ConversationStore(db), TurnStore(db), journal=WriteJournal(journal_path))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"turns-{room}")
        if conversation_id is None:
            conversation_id = self.store.create_conversation(room=room, title=f"voice in {room}").id
        self.conversation_id = conversation_id

    def record(self, result: TurnResult) -> Future:
        """Queue ``result`` for storage; returns the future of the write (errors are logged)."""
        return self._pool.submit(self._record, result)

    def _record(self, result: TurnResult) -> None:
        from roomvoice.store.turns import StoredTurn

        try:
            if result.transcript.strip():
                self.store.append_message(self.conversation_id, "user", result.transcript)
            if result.reply.strip():
                self.store.append_message(self.conversation_id, "assistant", result.reply)
            self.store.record_turn(StoredTurn.from_result(result, conversation_id=self.conversation_id))
        except StoreError as exc:
            logger.error("%s: turn %d not stored: %s", self.room, result.turn, exc)
        except Exception:
            logger.exception("%s: turn %d not stored", self.room, result.turn)

    def close(self, timeout_s: float = 5.0) -> None:
        """Finish queued writes and flush what PostgreSQL accepts (the database stays open)."""
        self._pool.shutdown(wait=True)
        self.store.close(timeout_s=timeout_s)

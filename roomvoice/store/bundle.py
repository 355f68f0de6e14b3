"""One call to get every store wired to one database: :func:`open_store`."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from roomvoice.store.conversations import DEFAULT_MAX_MESSAGE_CHARS, ConversationStore
from roomvoice.store.credentials import ApiKeyStore, SessionStore
from roomvoice.store.db import Database
from roomvoice.store.journal import WriteJournal
from roomvoice.store.resilient import ResilientStore
from roomvoice.store.server import resolve_database_url
from roomvoice.store.turns import TurnStore
from roomvoice.store.users import DEFAULT_BCRYPT_ROUNDS, UserStore

logger = logging.getLogger(__name__)

JOURNAL_FILENAME = "store-journal.jsonl"
"""Name of the write journal inside the data dir."""


@dataclass(frozen=True)
class Store:
    """The repositories of one database.

    Attributes:
        db: the pool.
        users: users, roles, password logins.
        sessions: login sessions.
        api_keys: API keys.
        conversations: conversations and messages (direct; raises ``store-unavailable``).
        turns: voice turns (direct).
        resilient: conversation/turn writes and context reads that survive an outage.
    """

    db: Database
    users: UserStore
    sessions: SessionStore
    api_keys: ApiKeyStore
    conversations: ConversationStore
    turns: TurnStore
    resilient: ResilientStore

    def close(self) -> None:
        """Flush what can be flushed, stop the flusher, close the pool."""
        self.resilient.close()
        self.db.close()


def open_store(
    data_dir: str | os.PathLike[str],
    *,
    url: str | None = None,
    bcrypt_rounds: int = DEFAULT_BCRYPT_ROUNDS,
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
    journal: bool = True,
    max_pool_size: int = 4,
    connect_timeout_s: float = 5.0,
) -> Store:
    """Connect (``url``, else ``$DATABASE_URL``, else the embedded server in ``data_dir``),
    migrate, and build every repository.

    Args:
        data_dir: roomvoice's data folder (embedded cluster, write journal).
        url: explicit database URL, or ``None``.
        bcrypt_rounds: bcrypt cost for new password hashes.
        max_message_chars: longest chat message accepted.
        journal: mirror queued writes to ``data_dir/store-journal.jsonl``.
        max_pool_size: most pooled connections.
        connect_timeout_s: seconds to wait for PostgreSQL when connecting.

    Raises:
        StoreUnavailableError: PostgreSQL cannot be reached or started.
        StoreError: ``store-migration-failed``.
    """
    db = Database(resolve_database_url(url, data_dir), 1, max_pool_size, connect_timeout_s=connect_timeout_s)
    try:
        db.migrate()
        conversations = ConversationStore(db, max_message_chars=max_message_chars)
        turns = TurnStore(db)
        write_journal = WriteJournal(Path(data_dir) / JOURNAL_FILENAME) if journal else None
        resilient = ResilientStore(conversations, turns, journal=write_journal)
    except BaseException:
        db.close()
        raise
    logger.info("store ready on %s (schema version %d)", db.target, db.schema_version())
    return Store(
        db=db, users=UserStore(db, bcrypt_rounds=bcrypt_rounds), sessions=SessionStore(db), api_keys=ApiKeyStore(db),
        conversations=conversations, turns=turns, resilient=resilient,
    )

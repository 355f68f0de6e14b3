"""PostgreSQL state: embedded server, pool, migrations, repositories, outage resilience.

Start with :func:`open_store` (``roomvoice.store.bundle``), which picks the database
(explicit URL, ``$DATABASE_URL`` or the embedded server in the data dir), migrates it and
returns every repository. Modules:

- ``server``: :class:`EmbeddedPostgres`, :func:`resolve_database_url`
- ``db``: :class:`Database` (pool, error translation, :meth:`Database.migrate`); ``migrations``
- ``users`` / ``credentials``: users, roles, bcrypt logins, sessions, API keys
- ``conversations`` / ``turns``: chat and voice history
- ``resilient`` / ``journal``: queue writes and read context from memory while PostgreSQL is down
- ``access``: :class:`IpAllowList`, :class:`LoginRateLimiter` (pure)
- ``errors``: coded errors (``store-unavailable``, ``auth-bad-password``, ...)
"""

from __future__ import annotations

from roomvoice.store.access import IpAllowList, LoginRateLimiter
from roomvoice.store.bundle import Store, open_store
from roomvoice.store.conversations import Conversation, ConversationStore, Message
from roomvoice.store.credentials import ApiKeyInfo, ApiKeyStore, NewApiKey, NewSession, SessionStore
from roomvoice.store.db import Database
from roomvoice.store.errors import (
    AccessError,
    AuthError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from roomvoice.store.resilient import ResilientStore
from roomvoice.store.server import EmbeddedPostgres, resolve_database_url
from roomvoice.store.turns import StoredTurn, TurnStore
from roomvoice.store.users import Role, User, UserStore

__all__ = [
    "AccessError", "ApiKeyInfo", "ApiKeyStore", "AuthError", "Conversation", "ConversationStore", "Database",
    "EmbeddedPostgres", "IpAllowList", "LoginRateLimiter", "Message", "NewApiKey", "NewSession", "NotFoundError",
    "ResilientStore", "Role", "SessionStore", "Store", "StoreError", "StoreUnavailableError", "StoredTurn",
    "TurnStore", "User", "UserStore", "ValidationError", "open_store", "resolve_database_url",
]

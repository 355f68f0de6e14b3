"""Login sessions and API keys: random secrets of which only a SHA-256 hash is stored.

A session token (``secrets.token_urlsafe(32)``, 256 bits) is handed to the browser once; an
API key looks like ``rv-1a2b3c4d-<43 url-safe characters>`` and is shown to its owner once, at
creation. The database keeps ``sha256(secret)`` (hex) only, so a copy of the database lets no
one log in. The 8-hex-digit prefix of a key is stored in clear to tell keys apart in lists.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from roomvoice.store.db import Database
from roomvoice.store.errors import NotFoundError
from roomvoice.store.users import User, user_from_row
from roomvoice.store.validation import check_text

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "rv"
DEFAULT_SESSION_TTL_S = 7 * 24 * 3600.0
MAX_KEY_NAME_CHARS = 100


def sha256_hex(secret: str) -> str:
    """Hex SHA-256 of a token or key (UTF-8), the only form stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewSession:
    """A session just created.

    Attributes:
        token: the secret to give the client (cookie); not stored, cannot be shown again.
        user: whose session it is.
        expires_at: when it stops working (UTC-aware).
    """

    token: str
    user: User
    expires_at: datetime


@dataclass(frozen=True)
class ApiKeyInfo:
    """An API key without its secret.

    Attributes:
        id: database id.
        user_id: owner.
        name: the owner's label for it ("kitchen tablet").
        prefix: the 8 hex digits after ``rv-`` in the key, to recognise it.
        created_at: creation time.
        revoked_at: when it was revoked, or ``None`` while it works.
    """

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the key still works."""
        return self.revoked_at is None


@dataclass(frozen=True)
class NewApiKey:
    """An API key just created.

    Attributes:
        key: the plaintext key; shown once, only its hash is stored.
        info: the stored part.
    """

    key: str
    info: ApiKeyInfo


def _key_info(row: tuple[Any, ...]) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=int(row[0]), user_id=int(row[1]), name=str(row[2]), prefix=str(row[3]), created_at=row[4], revoked_at=row[5]
    )


class SessionStore:
    """Login sessions.

    Args:
        db: the database (migrated).
        ttl_s: session lifetime in seconds (7 days).
    """

    def __init__(self, db: Database, *, ttl_s: float = DEFAULT_SESSION_TTL_S) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        self.db = db
        self.ttl_s = ttl_s

    def create(self, user: User) -> NewSession:
        """Start a session for ``user`` (after :meth:`UserStore.authenticate`).

        Raises:
            StoreError: ``store-query-failed`` if the user no longer exists.
            StoreUnavailableError: PostgreSQL is unreachable.
        """
        token = secrets.token_urlsafe(32)
        expires_at = datetime.now(timezone.utc) + timedelta(seconds=self.ttl_s)
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (%s, %s, %s)",
                (sha256_hex(token), user.id, expires_at),
            )
        return NewSession(token=token, user=user, expires_at=expires_at)

    def resolve(self, token: str) -> User | None:
        """The user of a live session, or ``None`` for an unknown, revoked or expired token."""
        if not token or not isinstance(token, str):
            return None
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT u.id, u.username, u.role, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id"
                " WHERE s.token_hash = %s AND s.expires_at > now()",
                (sha256_hex(token),),
            ).fetchone()
        return user_from_row(row) if row else None

    def revoke(self, token: str) -> bool:
        """End a session (logout). Returns whether it existed."""
        with self.db.connection() as conn:
            cur = conn.execute("DELETE FROM sessions WHERE token_hash = %s", (sha256_hex(token),))
            return cur.rowcount > 0

    def revoke_all(self, user_id: int) -> int:
        """End every session of a user (after a password change). Returns how many."""
        with self.db.connection() as conn:
            return conn.execute("DELETE FROM sessions WHERE user_id = %s", (user_id,)).rowcount

    def purge_expired(self) -> int:
        """Delete expired sessions. Returns how many."""
        with self.db.connection() as conn:
            return conn.execute("DELETE FROM sessions WHERE expires_at <= now()").rowcount


class ApiKeyStore:
    """API keys for programs (the OpenAI-compatible HTTP API).

    Args:
        db: the database (migrated).
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, user: User, name: str) -> NewApiKey:
        """Make a key for ``user``.

        Args:
            user: the owner; the key acts with the owner's role.
            name: a label, 1..100 characters.

        Returns:
            the plaintext key (show it once) and its stored info.

        Raises:
            ValidationError: bad name.
            StoreUnavailableError: PostgreSQL is unreachable.
        """
        check_text("API key name", name, max_chars=MAX_KEY_NAME_CHARS, allow_empty=False)
        prefix = secrets.token_hex(4)
        key = f"{API_KEY_PREFIX}-{prefix}-{secrets.token_urlsafe(32)}"
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO api_keys (user_id, name, prefix, key_hash) VALUES (%s, %s, %s, %s)"
                " RETURNING id, user_id, name, prefix, created_at, revoked_at",
                (user.id, name, prefix, sha256_hex(key)),
            ).fetchone()
        assert row is not None
        logger.info("created API key %s for user %d", prefix, user.id)
        return NewApiKey(key=key, info=_key_info(row))

    def verify(self, key: str) -> User | None:
        """The owner of an active key, or ``None`` for an unknown, malformed or revoked key."""
        if not key or not isinstance(key, str) or not key.startswith(f"{API_KEY_PREFIX}-") or len(key) > 200:
            return None
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT u.id, u.username, u.role, u.created_at FROM api_keys k JOIN users u ON u.id = k.user_id"
                " WHERE k.key_hash = %s AND k.revoked_at IS NULL",
                (sha256_hex(key),),
            ).fetchone()
        return user_from_row(row) if row else None

    def list(self, user_id: int) -> list[ApiKeyInfo]:
        """A user's keys (revoked ones included), oldest first."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, user_id, name, prefix, created_at, revoked_at FROM api_keys WHERE user_id = %s ORDER BY id",
                (user_id,),
            ).fetchall()
        return [_key_info(r) for r in rows]

    def revoke(self, key_id: int, *, as_user: User) -> ApiKeyInfo:
        """Revoke a key. Its owner or an admin may; revoking twice keeps the first time.

        Raises:
            NotFoundError: ``store-not-found`` — no such key, or it belongs to someone else and
                ``as_user`` is not an admin (not told apart, so ids reveal nothing).
        """
        with self.db.connection() as conn:
            row = conn.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
                " WHERE id = %s AND (user_id = %s OR %s)"
                " RETURNING id, user_id, name, prefix, created_at, revoked_at",
                (key_id, as_user.id, as_user.is_admin),
            ).fetchone()
        if row is None:
            raise NotFoundError("store-not-found", f"no API key with id {key_id}")
        logger.info("revoked API key %s", row[3])
        return _key_info(row)

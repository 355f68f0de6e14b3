"""Users, roles and password logins.

Passwords are hashed with bcrypt (the ``bcrypt`` library; cost 12 by default, about 0.25 s
per hash on one core here) and never stored or logged. Logins go through a
:class:`~roomvoice.store.access.LoginRateLimiter` keyed on (username, client address).
An unknown username and a wrong password give the same ``auth-bad-password`` error and take
the same time (a dummy bcrypt check), so logins cannot be used to list usernames.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bcrypt
import psycopg

from roomvoice.store.access import LoginRateLimiter
from roomvoice.store.db import Database
from roomvoice.store.errors import AuthError, NotFoundError, ValidationError
from roomvoice.store.validation import check_text

logger = logging.getLogger(__name__)

MAX_USERNAME_CHARS = 64
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72
"""bcrypt only reads the first 72 bytes; longer passwords are refused rather than truncated."""
DEFAULT_BCRYPT_ROUNDS = 12


class Role(str, enum.Enum):
    """What a user may do. ``admin`` manages users and reads every conversation; ``member`` uses
    chat and voice and reads room conversations; ``guest`` sees only its own conversations."""

    ADMIN = "admin"
    MEMBER = "member"
    GUEST = "guest"


@dataclass(frozen=True)
class User:
    """A user, without any secret.

    Attributes:
        id: database id.
        username: as created (lookups ignore case).
        role: :class:`Role`.
        created_at: creation time (UTC-aware).
    """

    id: int
    username: str
    role: Role
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        """Whether the role is ``admin``."""
        return self.role is Role.ADMIN


def user_from_row(row: tuple[Any, ...]) -> User:
    """A :class:`User` from a ``SELECT id, username, role, created_at`` row."""
    return User(id=int(row[0]), username=str(row[1]), role=Role(row[2]), created_at=row[3])


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError as exc:
        raise ValidationError("store-invalid", f"unknown role {role!r}; use admin, member or guest") from exc


def _check_password(password: str) -> bytes:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise ValidationError("store-invalid", f"the password must be at least {MIN_PASSWORD_CHARS} characters")
    if "\x00" in password:
        raise ValidationError("store-invalid", "the password contains a NUL character")
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ValidationError(
            "store-too-long", f"the password is {len(raw)} bytes in UTF-8; the limit is {MAX_PASSWORD_BYTES}"
        )
    return raw


class UserStore:
    """Create, find and authenticate users.

    Args:
        db: the database (migrated).
        bcrypt_rounds: bcrypt cost (log2 of iterations, 4..31); 12 in production, 4 in tests.
            Hashes made with another cost are upgraded at the next successful login.
        limiter: the login rate limiter; a default one (5 failures / 5 min) if ``None``.
    """

    def __init__(
        self, db: Database, *, bcrypt_rounds: int = DEFAULT_BCRYPT_ROUNDS, limiter: LoginRateLimiter | None = None
    ) -> None:
        if not 4 <= bcrypt_rounds <= 31:
            raise ValueError(f"bcrypt_rounds must be in 4..31, got {bcrypt_rounds}")
        self.db = db
        self.bcrypt_rounds = bcrypt_rounds
        self.limiter = limiter or LoginRateLimiter()
        self._dummy_hash: bytes | None = None
        self._dummy_lock = threading.Lock()

    def _hash(self, raw: bytes) -> str:
        return bcrypt.hashpw(raw, bcrypt.gensalt(rounds=self.bcrypt_rounds)).decode("ascii")

    def create_user(self, username: str, password: str, role: Role | str = Role.MEMBER) -> User:
        """Create a user.

        Args:
            username: 1..64 characters, unique ignoring case, stored verbatim.
            password: at least 8 characters and at most 72 bytes of UTF-8.
            role: ``admin``, ``member`` (default) or ``guest``.

        Raises:
            ValidationError: ``store-invalid`` / ``store-too-long`` for a bad name, password or role;
                ``store-conflict`` if the username is taken.
            StoreUnavailableError: PostgreSQL is unreachable.
        """
        check_text("username", username, max_chars=MAX_USERNAME_CHARS, allow_empty=False)
        role = _role(role)
        password_hash = self._hash(_check_password(password))
        with self.db.connection() as conn:
            try:
                row = conn.execute(
                    "INSERT INTO users (username, password_hash, role) VALUES (%s, %s, %s)"
                    " RETURNING id, username, role, created_at",
                    (username, password_hash, role.value),
                ).fetchone()
            except psycopg.errors.UniqueViolation as exc:
                raise ValidationError("store-conflict", f"the username {username!r} is taken") from exc
        assert row is not None
        user = user_from_row(row)
        logger.info("created user %d with role %s", user.id, user.role.value)
        return user

    def authenticate(self, username: str, password: str, *, client_ip: str = "") -> User:
        """Check a username and password.

        Args:
            username: case-insensitive.
            password: the plaintext password.
            client_ip: the client's address, for the rate limiter.

        Returns:
            the user.

        Raises:
            AuthError: ``auth-rate-limited`` (checked first, before any hashing) or
                ``auth-bad-password`` (unknown user or wrong password).
            StoreUnavailableError: PostgreSQL is unreachable.
        """
        self.limiter.check(username, client_ip)
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT id, username, role, created_at, password_hash FROM users WHERE lower(username) = lower(%s)", (username,)
            ).fetchone()
        raw = password.encode("utf-8") if isinstance(password, str) else b""
        stored = str(row[4]).encode("ascii") if row else self._dummy()
        ok = 0 < len(raw) <= MAX_PASSWORD_BYTES and bcrypt.checkpw(raw, stored)
        if not ok or row is None:
            self.limiter.record_failure(username, client_ip)
            logger.info("failed login from %s", client_ip or "<unknown address>")
            raise AuthError("auth-bad-password", "unknown username or wrong password")
        self.limiter.record_success(username, client_ip)
        user = user_from_row(row)
        if _rounds_of(stored) != self.bcrypt_rounds:
            self._store_hash(user.id, self._hash(raw))
        return user

    def _dummy(self) -> bytes:
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self._hash(b"roomvoice-no-such-user").encode("ascii")
            return self._dummy_hash

    def _store_hash(self, user_id: int, password_hash: str) -> None:
        with self.db.connection() as conn:
            conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))

    def set_password(self, user_id: int, password: str) -> None:
        """Replace a user's password (sessions stay valid; revoke them separately if needed).

        Raises:
            ValidationError: the password is too short or too long.
            NotFoundError: ``store-not-found``.
        """
        password_hash = self._hash(_check_password(password))
        with self.db.connection() as conn:
            cur = conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))
            if cur.rowcount == 0:
                raise NotFoundError("store-not-found", f"no user with id {user_id}")

    def get_user(self, user_id: int) -> User:
        """The user with this id.

        Raises:
            NotFoundError: ``store-not-found``.
        """
        with self.db.connection() as conn:
            row = conn.execute("SELECT id, username, role, created_at FROM users WHERE id = %s", (user_id,)).fetchone()
        if row is None:
            raise NotFoundError("store-not-found", f"no user with id {user_id}")
        return user_from_row(row)

    def find_user(self, username: str) -> User | None:
        """The user with this name (ignoring case), or ``None``."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT id, username, role, created_at FROM users WHERE lower(username) = lower(%s)", (username,)
            ).fetchone()
        return user_from_row(row) if row else None

    def list_users(self) -> list[User]:
        """All users, oldest first."""
        with self.db.connection() as conn:
            rows = conn.execute("SELECT id, username, role, created_at FROM users ORDER BY id").fetchall()
        return [user_from_row(r) for r in rows]

    def set_role(self, user_id: int, role: Role | str) -> User:
        """Change a user's role.

        Raises:
            ValidationError: unknown role, or ``store-invalid`` when it would demote the last admin.
            NotFoundError: ``store-not-found``.
        """
        role = _role(role)
        with self.db.connection() as conn:
            conn.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")  # serialise last-admin checks
            old = conn.execute("SELECT role FROM users WHERE id = %s", (user_id,)).fetchone()
            if old is None:
                raise NotFoundError("store-not-found", f"no user with id {user_id}")
            row = conn.execute(
                "UPDATE users SET role = %s WHERE id = %s RETURNING id, username, role, created_at", (role.value, user_id)
            ).fetchone()
            if old[0] == Role.ADMIN.value and role is not Role.ADMIN:
                admins = conn.execute("SELECT count(*) FROM users WHERE role = 'admin'").fetchone()
                if admins is not None and admins[0] == 0:
                    raise ValidationError("store-invalid", "this would leave no admin; make someone else admin first")
        logger.info("user %d is now %s", user_id, role.value)
        return user_from_row(row)

    def delete_user(self, user_id: int) -> None:
        """Delete a user with their sessions, API keys and conversations.

        Raises:
            NotFoundError: ``store-not-found``.
        """
        with self.db.connection() as conn:
            cur = conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
            if cur.rowcount == 0:
                raise NotFoundError("store-not-found", f"no user with id {user_id}")


def _rounds_of(password_hash: bytes) -> int:
    """The cost field of a ``$2b$12$...`` bcrypt hash (0 if unreadable)."""
    try:
        return int(password_hash.split(b"$")[2])
    except (IndexError, ValueError):
        return 0

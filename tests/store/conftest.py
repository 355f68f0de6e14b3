"""Fixtures for the store tests: one embedded PostgreSQL per test session, a fresh database per test.

Creating a database and migrating it takes ~0.1 s, so tests never see each other's rows.
bcrypt runs at cost 4 here (12 in production) to keep the suite fast.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from roomvoice.store.access import LoginRateLimiter
from roomvoice.store.conversations import ConversationStore
from roomvoice.store.credentials import ApiKeyStore, SessionStore
from roomvoice.store.db import Database
from roomvoice.store.server import EmbeddedPostgres
from roomvoice.store.turns import TurnStore
from roomvoice.store.users import Role, User, UserStore

TEST_BCRYPT_ROUNDS = 4
PASSWORD = "correct horse battery"


class FakeClock:
    """A monotonic clock moved by hand (seconds)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def embedded_server(prefix: str) -> Iterator[EmbeddedPostgres]:
    """A started embedded server in a fresh folder under the system temp dir, removed afterwards.

    Not under pytest's ``tmp_path``: pytest resets ``/tmp/pytest-of-<user>`` to mode 0700 when
    any pytest session starts, and the server (run as the ``pgserver`` user when we are root)
    must be able to traverse the path to its cluster.
    """
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    data_dir.chmod(0o755)
    server = EmbeddedPostgres(data_dir).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    with embedded_server("roomvoice-test-pg-") as server:
        yield server


def fresh_database_url(server: EmbeddedPostgres) -> str:
    """URL of a new, empty database on ``server``."""
    return server.url(f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture
def db_url(pg_server: EmbeddedPostgres) -> str:
    return fresh_database_url(pg_server)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, connect_timeout_s=2.0, acquire_timeout_s=2.0)
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def users(db: Database, clock: FakeClock) -> UserStore:
    return UserStore(db, bcrypt_rounds=TEST_BCRYPT_ROUNDS, limiter=LoginRateLimiter(clock=clock))


@pytest.fixture
def sessions(db: Database) -> SessionStore:
    return SessionStore(db)


@pytest.fixture
def api_keys(db: Database) -> ApiKeyStore:
    return ApiKeyStore(db)


@pytest.fixture
def conversations(db: Database) -> ConversationStore:
    return ConversationStore(db, max_message_chars=2000)


@pytest.fixture
def turns(db: Database) -> TurnStore:
    return TurnStore(db)


@pytest.fixture
def alice(users: UserStore) -> User:
    return users.create_user("alice", PASSWORD, Role.MEMBER)


@pytest.fixture
def bob(users: UserStore) -> User:
    return users.create_user("bob", PASSWORD, Role.MEMBER)


@pytest.fixture
def admin(users: UserStore) -> User:
    return users.create_user("root", PASSWORD, Role.ADMIN)


@pytest.fixture
def guest(users: UserStore) -> User:
    return users.create_user("visitor", PASSWORD, Role.GUEST)


def table_names(db: Database) -> set[str]:
    """Tables in the public schema."""
    with db.connection() as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows}

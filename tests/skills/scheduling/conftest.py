"""Fixtures for the time-based skills: the store tests' embedded PostgreSQL (one per session),
a fresh migrated database per test, a wall clock moved by hand, and users."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from roomvoice.store.db import Database
from roomvoice.store.users import Role, User, UserStore
from tests.store.conftest import PASSWORD, TEST_BCRYPT_ROUNDS, fresh_database_url, pg_server  # noqa: F401

T0 = datetime(2026, 11, 21, 14, 7, tzinfo=timezone.utc)
"""Saturday 21 November 2026, 15:07 in Paris."""


class WallClock:
    """An aware UTC clock moved by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def db_url(pg_server) -> str:  # noqa: F811
    return fresh_database_url(pg_server)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url, connect_timeout_s=2.0, acquire_timeout_s=2.0)
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
def users(db: Database) -> UserStore:
    return UserStore(db, bcrypt_rounds=TEST_BCRYPT_ROUNDS)


@pytest.fixture
def alice(users: UserStore) -> User:
    return users.create_user("alice", PASSWORD, Role.MEMBER)


@pytest.fixture
def bob(users: UserStore) -> User:
    return users.create_user("bob", PASSWORD, Role.MEMBER)

"""Fixtures for the time-based skills: the store tests' embedded PostgreSQL (one per session),
a fresh migrated database per test, a wall clock moved by hand, and users."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

# the store tests' fixtures: one embedded server per session, a fresh migrated database per test, users
from tests.store.conftest import (  # noqa: F401
    alice,
    bob,
    clock,
    db,
    db_url,
    pg_server,
    users,
)

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
def wall() -> WallClock:
    return WallClock()

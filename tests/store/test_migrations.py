"""Schema migrations on a fresh embedded database: applied once, in order, idempotent."""

from __future__ import annotations

import threading
import time

import pytest

from roomvoice.store.db import Database
from roomvoice.store.errors import StoreError
from roomvoice.store.migrations import MIGRATIONS, Migration
from tests.store.conftest import table_names

EXPECTED_TABLES = {
    "schema_migrations", "users", "sessions", "api_keys", "conversations", "messages", "voice_turns",
    "timers", "reminders", "calendar_events", "tasks",
}


def test_fresh_database_migrates_and_rerun_is_a_noop(db_url: str) -> None:
    with Database(db_url) as db:
        assert db.schema_version() == 0
        t0 = time.perf_counter()
        applied = db.migrate()
        first_s = time.perf_counter() - t0
        assert applied == [m.version for m in MIGRATIONS]
        assert db.schema_version() == MIGRATIONS[-1].version
        assert table_names(db) == EXPECTED_TABLES
        assert db.migrate() == []
        assert db.migrate() == []
        with db.connection() as conn:
            rows = conn.execute("SELECT version, description FROM schema_migrations ORDER BY version").fetchall()
        assert rows == [(m.version, m.description) for m in MIGRATIONS]
        assert first_s < 5.0


def test_concurrent_migrate_applies_each_version_once(db_url: str) -> None:
    with Database(db_url) as db:
        results: list[list[int]] = []
        threads = [threading.Thread(target=lambda: results.append(db.migrate())) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(len(r) for r in results) == [0, 0, len(MIGRATIONS)]
        assert db.schema_version() == MIGRATIONS[-1].version


def test_failed_migration_is_rolled_back_and_named(db_url: str) -> None:
    steps = [
        Migration(1, "good", "CREATE TABLE a (x int)"),
        Migration(2, "bad", "CREATE TABLE b (x int); SELECT no_such_function()"),
    ]
    with Database(db_url) as db:
        with pytest.raises(StoreError) as info:
            db.migrate(steps)
        assert info.value.code == "store-migration-failed"
        assert "migration 2 (bad)" in info.value.message
        assert table_names(db) == {"schema_migrations", "a"}  # b rolled back with its migration
        assert db.schema_version() == 1


def test_migration_versions_must_increase(db_url: str) -> None:
    with Database(db_url) as db, pytest.raises(ValueError, match="increasing"):
        db.migrate([Migration(2, "b", "SELECT 1"), Migration(1, "a", "SELECT 1")])


def test_role_check_constraint_guards_the_table(db: Database) -> None:
    with pytest.raises(StoreError) as info, db.connection() as conn:
        conn.execute("INSERT INTO users (username, password_hash, role) VALUES ('x', 'h', 'superuser')")
    assert info.value.code == "store-query-failed"
    assert "CheckViolation" in info.value.message

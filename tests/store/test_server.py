"""Embedded server handles, database URL resolution and fast, clear connection failures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from roomvoice.store.db import Database, describe_target
from roomvoice.store.errors import StoreUnavailableError
from roomvoice.store.server import EmbeddedPostgres, resolve_database_url


def test_bad_database_url_fails_fast_and_clearly() -> None:
    url = "postgresql://roomvoice:s3cret-pw@127.0.0.1:1/nowhere"
    t0 = time.perf_counter()
    with pytest.raises(StoreUnavailableError) as info:
        Database(url, connect_timeout_s=2.0)
    elapsed = time.perf_counter() - t0
    assert info.value.code == "store-unavailable"
    assert "host=127.0.0.1 port=1 dbname=nowhere user=roomvoice" in info.value.message
    assert "s3cret-pw" not in str(info.value)
    assert elapsed < 5.0


def test_malformed_url_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError) as info:
        Database("this is not a url", connect_timeout_s=1.0)
    assert info.value.code == "store-unavailable"
    assert describe_target("this is not a url") == "<unparsable database URL>"


def test_unknown_database_on_a_running_server(pg_server: EmbeddedPostgres) -> None:
    url = pg_server.url("postgres").replace("/postgres?", "/no_such_db?")
    with pytest.raises(StoreUnavailableError, match="no_such_db"):
        Database(url)


def test_resolve_database_url_prefers_explicit_then_env_then_embedded(
    monkeypatch: pytest.MonkeyPatch, pg_server: EmbeddedPostgres
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://env@db.example/envdb")
    assert resolve_database_url("postgresql://explicit@h/x", pg_server.data_dir) == "postgresql://explicit@h/x"
    assert resolve_database_url(None, pg_server.data_dir) == "postgresql://env@db.example/envdb"
    monkeypatch.delenv("DATABASE_URL")
    url = resolve_database_url(None, pg_server.data_dir)  # the running session server, database "roomvoice"
    assert "roomvoice" in url and str(pg_server.pgdata) in url
    with Database(url) as db:
        assert db.ping()


def test_embedded_server_requires_running(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "never-started")
    assert not server.running
    with pytest.raises(StoreUnavailableError):
        server.url()


def test_open_store_wires_everything(pg_server: EmbeddedPostgres, tmp_path: Path) -> None:
    from roomvoice.store import open_store
    from roomvoice.store.migrations import MIGRATIONS

    from tests.store.conftest import PASSWORD, fresh_database_url

    store = open_store(tmp_path, url=fresh_database_url(pg_server), bcrypt_rounds=4)
    try:
        assert store.db.schema_version() == MIGRATIONS[-1].version
        user = store.users.create_user("dana", PASSWORD)
        conv = store.resilient.create_conversation(user_id=user.id)
        store.resilient.append_message(conv.id, "user", "hi")
        assert [m.content for m in store.conversations.history(conv.id, as_user=user)] == ["hi"]
    finally:
        store.close()
    assert not (tmp_path / "store-journal.jsonl").exists()

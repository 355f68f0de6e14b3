"""Sessions and API keys: random secrets, only SHA-256 hashes stored, revocation."""

from __future__ import annotations

import hashlib

import pytest

from roomvoice.store.credentials import ApiKeyStore, SessionStore
from roomvoice.store.db import Database
from roomvoice.store.errors import NotFoundError
from roomvoice.store.users import User


def all_text_in(db: Database, table: str) -> str:
    with db.connection() as conn:
        if table == "sessions":
            rows = conn.execute("SELECT s::text FROM sessions s").fetchall()
        else:
            rows = conn.execute("SELECT k::text FROM api_keys k").fetchall()
    return "\n".join(r[0] for r in rows)


def test_sessions_create_resolve_revoke(db: Database, sessions: SessionStore, alice: User, bob: User) -> None:
    new = sessions.create(alice)
    other = sessions.create(bob)
    assert len(new.token) >= 40 and new.token != other.token
    dump = all_text_in(db, "sessions")
    assert new.token not in dump and hashlib.sha256(new.token.encode()).hexdigest() in dump
    assert sessions.resolve(new.token) == alice
    assert sessions.resolve(other.token) == bob
    assert sessions.resolve("not-a-token") is None and sessions.resolve("") is None
    assert sessions.revoke(new.token) is True
    assert sessions.revoke(new.token) is False
    assert sessions.resolve(new.token) is None
    assert sessions.resolve(other.token) == bob


def test_expired_session_is_refused_and_purged(db: Database, sessions: SessionStore, alice: User) -> None:
    new = sessions.create(alice)
    with db.connection() as conn:
        conn.execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert sessions.resolve(new.token) is None
    assert sessions.purge_expired() == 1


def test_api_keys_hashed_verify_revoke(
    db: Database, api_keys: ApiKeyStore, alice: User, bob: User, admin: User
) -> None:
    created = api_keys.create(alice, "kitchen tablet")
    assert created.key.startswith(f"rv-{created.info.prefix}-") and len(created.key) > 40
    assert created.info.active and created.info.name == "kitchen tablet"
    dump = all_text_in(db, "api_keys")
    assert created.key not in dump
    assert hashlib.sha256(created.key.encode()).hexdigest() in dump
    assert api_keys.verify(created.key) == alice
    assert api_keys.verify(created.key + "x") is None
    assert api_keys.verify("sk-something-else") is None
    assert api_keys.verify("") is None

    with pytest.raises(NotFoundError):  # bob cannot revoke (or even see) alice's key
        api_keys.revoke(created.info.id, as_user=bob)
    assert api_keys.verify(created.key) == alice
    revoked = api_keys.revoke(created.info.id, as_user=alice)
    assert not revoked.active
    assert api_keys.verify(created.key) is None
    assert [k.active for k in api_keys.list(alice.id)] == [False]

    second = api_keys.create(alice, "laptop")
    assert api_keys.revoke(second.info.id, as_user=admin).revoked_at is not None
    assert api_keys.verify(second.key) is None
